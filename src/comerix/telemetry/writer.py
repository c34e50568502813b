"""Group commit: batches that arrive together share one transaction (and go through the pipeline's stages
together), and each request is answered only once the transaction holding its batch has committed.

So a 202 always means the items are durably stored, and the cost of a commit (an fsync) is paid once
per group rather than once per request. If a group fails as a whole, each of its batches is tried
again alone, so that one bad batch cannot take the others down with it.

The pipeline runs in a thread of the serving process (`IngestWriter(database, index, stages)`: tests,
any embedding), or in a writer process of its own (`process=True`: what `comerix serve` runs), so that
the requests' parsing and validation and the pipeline each have a core: Python runs one thread at a
time per process. Groups of batches then cross a pipe, and what was recorded of each batch comes back
(`pipeline.Recorded`), from which the serving process writes the 202 bodies itself. `dispatch` says
when a group goes: the next one crosses the pipe while the last one commits, and the batches that
come meanwhile are prepared and pickled in the serving process, so that the writer process, which sets
the pace, does less. The serving process waits on the pipe and on its queue at once (`select`), so that
a batch never waits for an answer first, and a writer process that dies is replaced at once; so is one
silent for `WRITE_TIMEOUT` while it holds a group (it is killed, which rolls its transaction back). On
SQLite the writer process checkpoints the write-ahead log after each commit on a thread of its own
(`db.engine.Checkpointer`), while it takes the next group through the pipeline (docs/decisions.md).

When storage cannot take the writes (a full disk, a lost connection, a read-only database:
`db.availability`), or the writer process dies or hangs while it holds a group, each batch of the group
is answered `StorageUnavailable` (503, `Retry-After`): not stored, or (the process died as it
committed) not known to be, so the client sends it again with the same `event_id` values, and what was
stored comes back a duplicate. A group that fails on storage is not tried again batch by batch, as
another failure is: no batch caused it. `health` keeps the latest outcome for `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import select
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess

from comerix.db import Database
from comerix.db.availability import StorageHealth, StorageUnavailable, unavailable
from comerix.goals.index import GoalIndex, WorkspaceGoals
from comerix.telemetry import dispatch
from comerix.telemetry.batches import Batch, prepare
from comerix.telemetry.pipeline import Recorded, Stage, answer
from comerix.telemetry.writer_process import Answer, WriterProcess, write_group

log = logging.getLogger(__name__)

MAX_GROUP_ITEMS = 5000
# A group takes well under a second; one that takes this long is presumed stuck (a lock never released,
# a disk that stopped answering): its process is killed, which rolls the transaction back.
WRITE_TIMEOUT = 60.0


@dataclass(frozen=True)
class _Job:
    batch: Batch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bytes]
    pickled: bytes | None = None  # the batch as it crosses to the writer process, once prepared

    @property
    def size(self) -> int:
        return len(self.batch.items)

    def wire(self) -> bytes:
        return dispatch.to_wire(self.batch) if self.pickled is None else self.pickled


class IngestWriter:
    def __init__(
        self,
        database: Database,
        index: GoalIndex,
        stages: Sequence[Stage],
        max_group_items: int = MAX_GROUP_ITEMS,
        *,
        process: bool = False,
    ) -> None:
        self._database = database
        self._index = index
        self._stages = tuple(stages)
        self._max_group_items = max_group_items
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._child = WriterProcess(database, self._stages) if process else None
        self._preparer = Preparer(database, index)
        # With a writer process, the dispatching thread waits on the process's pipe and on this one,
        # which a byte wakes when a batch (or the word to stop) is queued while it waits (`_asleep`).
        self._wakeup: tuple[int, int] | None = None
        self._asleep = False
        self.health = StorageHealth()

    @property
    def process(self) -> BaseProcess | None:
        """The writer process running now, if the pipeline runs in one."""
        return None if self._child is None else self._child.process

    def start(self) -> None:
        if self._thread is None:
            if self._child is not None:
                self._child.start()
                self._wakeup = _wakeup_pipe()
            self._thread = threading.Thread(target=self._run, name="comerix-ingest-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._wake(always=True)
            self._thread.join()
            self._thread = None
            if self._child is not None:
                self._child.stop()
            if self._wakeup is not None:
                for end in self._wakeup:
                    os.close(end)
                self._wakeup = None

    async def submit(self, batch: Batch) -> bytes:
        """Queue `batch` and wait until it is committed: its answer, serialised. Raises the batch's
        `DomainError`, if any."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._queue.put(_Job(batch, loop, future))
        self._wake()
        return await future

    def _wake(self, *, always: bool = False) -> None:
        """Wake the dispatching thread if it waits, or may be about to (see `_wait`); a batch that
        comes while it is awake costs no system call. Called after the job was queued."""
        if self._wakeup is not None and (self._asleep or always):
            with contextlib.suppress(BlockingIOError):  # full: the thread has plenty of wake-ups to read
                os.write(self._wakeup[1], b"\0")

    def _take_group(self, *, wait: bool) -> tuple[list[_Job], bool]:
        """The jobs queued now, up to `max_group_items` items (waiting for a first one if `wait`), and
        whether a stop was asked for."""
        group: list[_Job] = []
        size = 0
        while size < self._max_group_items:
            try:
                job = self._queue.get(block=wait and not group)
            except queue.Empty:
                break
            if job is None:
                return group, True
            group.append(job)
            size += job.size
        return group, False

    def _run(self) -> None:
        if self._child is not None:
            self._run_child(self._child)
            return
        stopping = False
        while not stopping:
            group, stopping = self._take_group(wait=True)
            if not group:
                continue
            try:
                batches = [job.batch for job in group]
                answers = write_group(self._database, self._index, batches, self._stages)
            except Exception as exc:  # never let this thread die: every later request would wait forever
                log.exception("the ingestion writer failed on a group of %d batches", len(group))
                answers = [unavailable(exc) or exc] * len(group)
            self._settle(group, answers)

    def _settle(self, group: Sequence[_Job], answers: Sequence[Answer]) -> None:
        """`_settle_group`, noting in `health` whether the group was stored or failed on storage."""
        failure = next((answer for answer in answers if isinstance(answer, StorageUnavailable)), None)
        if failure is not None:
            self.health.failed(failure)
        elif any(isinstance(answer, Recorded) for answer in answers):
            self.health.succeeded()
        _settle_group(group, answers)

    def _fail(self, groups: Iterable[Sequence[_Job]]) -> None:
        """Answer each request of `groups`: their writer process died, hung, or failed to take them (and
        was replaced), so nothing of them is known to be stored."""
        failure = StorageUnavailable(
            "the ingestion writer stopped while it held this batch, which is not known to be stored; "
            "send it again with the same event_id values"
        )
        for group in groups:
            self._settle(group, [failure] * len(group))

    # --- with a writer process: the loop around its `Dispatcher` ---------------------------------------

    def _run_child(self, child: WriterProcess) -> None:
        """Tell the dispatcher what happens (the queue, the process, the time), and do what it says."""
        machine: dispatch.Dispatcher[_Job] = dispatch.Dispatcher(self._max_group_items)
        while not machine.finished:
            try:
                self._turn(machine, child)
            except Exception as exc:  # never let this thread die: every later request would wait forever
                log.exception("dispatching to the ingestion writer process failed")
                self._perform(machine, child, machine.lost(f"{type(exc).__name__}: {exc}"))

    def _turn(self, machine: dispatch.Dispatcher[_Job], child: WriterProcess) -> None:
        """A wait for the process, a batch or the time, and what came of it; then a look at the queue.
        After a word from the process, the queue waits for the next turn: a group goes only after a
        look at the pipe made since the last answer, and so not to a process seen dead by then."""
        if child.fileno() in self._wait(machine, child):  # the process spoke, or died
            self._perform(machine, child, self._hear(machine, child))
            return
        self._perform(machine, child, machine.quiet(time.monotonic(), WRITE_TIMEOUT))
        jobs, stop = ([], False) if machine.stopping else self._take_group(wait=False)
        if stop:
            machine.stop()
        self._perform(machine, child, machine.queued(jobs, time.monotonic()))

    def _hear(self, machine: dispatch.Dispatcher[_Job], child: WriterProcess) -> list[dispatch.Action[_Job]]:
        try:
            word = child.receive()
        except (EOFError, OSError) as exc:
            return machine.lost(f"its pipe closed ({type(exc).__name__})")
        return machine.heard(word, time.monotonic())

    def _wait(self, machine: dispatch.Dispatcher[_Job], child: WriterProcess) -> list[int]:
        """Wait for the process to speak, a batch, or the time the dispatcher gives; what is readable."""
        assert self._wakeup is not None
        # Asleep from before the queue is looked at: a batch queued after that look wakes the thread
        # (`_wake` sees the flag), one queued before it is seen here.
        self._asleep = True
        try:
            queued = not machine.stopping and not self._queue.empty()
            wait = 0.0 if queued else machine.wait(time.monotonic(), WRITE_TIMEOUT)
            readable: list[int] = select.select([child.fileno(), self._wakeup[0]], [], [], wait)[0]
        finally:
            self._asleep = False
        if self._wakeup[0] in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wakeup[0], 4096)
        return readable

    def _perform(
        self, machine: dispatch.Dispatcher[_Job], child: WriterProcess, actions: list[dispatch.Action[_Job]]
    ) -> None:
        """Do what the dispatcher says, telling it what came of it (a batch prepared, a process gone)."""
        pending = deque(actions)
        while pending:
            match pending.popleft():
                case dispatch.Send(group=group):
                    self._preparer.next_group()
                    try:
                        child.send(dispatch.Handover(tuple(job.wire() for job in group)))
                    except OSError as exc:  # the process is gone
                        pending.extend(machine.lost(f"it could not be sent a group ({exc})"))
                case dispatch.Settle(group=group, results=results):
                    self._settle_or_fail(group, results)
                case dispatch.Fail(groups=groups):
                    self._fail(groups)
                case dispatch.Replace(why=why):
                    child.replace(why)
                case dispatch.Prepare(job=job):  # pickled now too, while the process is busy
                    batch = self._preparer.prepare(job.batch)
                    machine.prepared(replace(job, batch=batch, pickled=dispatch.to_wire(batch)))

    def _settle_or_fail(self, group: Sequence[_Job], results: Sequence[dispatch.Result]) -> None:
        """`_settle` the group from the process's results; should that fail, the group fails (and the
        loop, which the error reaches, replaces the process)."""
        try:
            self._settle(group, [dispatch.answer_of(result) for result in results])
        except Exception:
            self._fail([group])
            raise


def _wakeup_pipe() -> tuple[int, int]:
    """A pipe whose two ends never block (reading and writing return at once, or raise)."""
    ends = os.pipe()
    for end in ends:
        os.set_blocking(end, False)
    return ends


class Preparer:
    """The serving process's part of the pipeline: each batch prepared (`batches.prepare`) against its
    workspace's goals as stored, whose revision is read again for a group once `REREAD_SECONDS` have
    passed since the last reading (at peak, groups follow each other closely, and each reading is a
    transaction of its own). Goals changed meanwhile cost no correctness: the writer process matches
    again each batch prepared against another revision than its transaction reads. Should preparing
    fail, the batch goes as it is, and the writer process works it all out."""

    REREAD_SECONDS = 0.5

    def __init__(self, database: Database, index: GoalIndex) -> None:
        self._database = database
        self._index = index
        self._goals: dict[uuid.UUID, WorkspaceGoals | None] = {}
        self._read_at = 0.0

    def next_group(self) -> None:
        """Read the goals' revisions again for the batches of the next group, if they are due."""
        if time.monotonic() - self._read_at >= self.REREAD_SECONDS:
            self._goals.clear()
            self._read_at = time.monotonic()

    def prepare(self, batch: Batch) -> Batch:
        """`batch` prepared, or as it is if it cannot be."""
        try:
            if batch.workspace_id not in self._goals:
                with self._database.transaction() as session:
                    self._goals[batch.workspace_id] = self._index.current(session, batch.workspace_id)
            goals = self._goals[batch.workspace_id]
            return batch if goals is None else prepare(batch, goals, self._database.backend)
        except Exception:
            log.exception("preparing a batch failed; the writer process does all of its steps")
            return batch


def _settle_group(group: Sequence[_Job], answers: Sequence[Answer]) -> None:
    """Answer each request of `group`: the 202 body written from what was recorded of its batch (here,
    in the serving process), or the batch's error."""
    if len(answers) != len(group):  # checked first: no request of the group is answered then
        raise RuntimeError(f"{len(answers)} answers to a group of {len(group)} batches")
    for job, recorded in zip(group, answers, strict=True):
        body: bytes | BaseException
        if isinstance(recorded, BaseException):
            body = recorded
        else:
            try:
                body = answer(job.batch, recorded).to_json()
            except Exception as exc:
                log.exception("writing the answer to a batch of %d items failed", len(job.batch.items))
                body = exc
        job.loop.call_soon_threadsafe(_settle, job.future, body)


def _settle(future: asyncio.Future[bytes], body: bytes | BaseException) -> None:
    if future.done():  # cancelled, or (a group whose settling failed half-way) failed already
        return
    if isinstance(body, BaseException):
        future.set_exception(body)
    else:
        future.set_result(body)
