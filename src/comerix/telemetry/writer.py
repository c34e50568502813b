"""Group commit: one writer thread runs the ingestion pipeline; batches that arrive together share one
transaction (and go through the pipeline's steps together, `pipeline.ingest_group`), and each request
is answered only after the transaction holding its batch has committed.

A 202 therefore always means the items are durably stored, and the cost of a commit (an fsync) is paid
once per group instead of once per request. If a group fails as a whole, each of its batches is tried
again alone, so one bad batch cannot take others down with it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.telemetry.pipeline import Batch, ingest_group
from comerix.telemetry.schemas import IngestResult

log = logging.getLogger(__name__)

MAX_GROUP_ITEMS = 5000


@dataclass(frozen=True)
class _Job:
    batch: Batch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[IngestResult]


class IngestWriter:
    def __init__(self, database: Database, index: GoalIndex, max_group_items: int = MAX_GROUP_ITEMS) -> None:
        self._database = database
        self._index = index
        self._max_group_items = max_group_items
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="comerix-ingest-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    async def submit(self, batch: Batch) -> IngestResult:
        """Queue `batch` and wait until it is committed; raises the batch's `DomainError`, if any."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult] = loop.create_future()
        self._queue.put(_Job(batch, loop, future))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group, size = [first], len(first.batch.items)
            while size < self._max_group_items:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                group.append(job)
                size += len(job.batch.items)
            self._write(group)

    def _write(self, group: list[_Job]) -> None:
        outcomes: list[tuple[_Job, IngestResult | BaseException]] = []
        try:
            with self._database.transaction() as session:
                answers = ingest_group(session, [job.batch for job in group], self._index)
            outcomes = list(zip(group, answers, strict=True))
        except Exception as exc:
            if len(group) > 1:
                for job in group:
                    self._write([job])
                return
            log.exception("ingestion failed for a batch of %d items", len(group[0].batch.items))
            outcomes = [(group[0], exc)]
        for job, outcome in outcomes:
            job.loop.call_soon_threadsafe(_settle, job.future, outcome)


def _settle(future: asyncio.Future[IngestResult], outcome: IngestResult | BaseException) -> None:
    if future.cancelled():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
