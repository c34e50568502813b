"""Group commit: batches that arrive together share one transaction (and go through the pipeline's steps
together, `pipeline.ingest_group`), and each request is answered only after the transaction holding its
batch has committed.

A 202 therefore always means the items are durably stored, and the cost of a commit (an fsync) is paid
once per group instead of once per request. If a group fails as a whole, each of its batches is tried
again alone, so one bad batch cannot take others down with it.

Where the pipeline runs:

- in a thread of the serving process (`IngestWriter(database, index)`: tests, and any embedding);
- in a process of its own (`process=True`: what `comerix serve` runs). Python runs one thread at a
  time per process, so in one process the requests' parsing and validation and the pipeline take
  turns on one core; with the pipeline in a child process they use both. The serving process sends
  each group's validated batches over a pipe (pickled: about 2 µs an event each way) and gets back
  what was recorded of each batch (`pipeline.Recorded`: duplicates, ignored items, outcomes), from
  which it writes the 202 bodies itself, on its spare core (`_settle_group`). The two overlap: once
  a group has run through the pipeline and its commit begins, the child says so (`_READY`) and the
  serving process sends the next group, which crosses the pipe while that commit runs; the child
  takes it up the moment it has sent what it recorded (so at most two groups are in flight,
  answered in the order they went). Batches that arrive while the child is busy are prepared
  meanwhile (`pipeline.prepare`: goals matched, property paths listed, rows of `events` written), on
  the serving process's spare core, so the child, which sets the pace, does less; and pickled there
  and then, so that when the child says it is committing, the next group is bytes ready to go: the
  group crosses the pipe within the commit, instead of being pickled while the child waited. The
  serving process waits on the child's pipe and on its own queue at once (`select`), so a batch never
  waits for an answer to come first, and a child that dies while idle is replaced at once. The child
  starts with the service and stops with it; if it dies, or is silent for `WRITE_TIMEOUT` while it
  holds a group (then it is killed, which rolls its transaction back), the groups in flight fail (503)
  and a new child takes the next group. On SQLite the child checkpoints the write-ahead log itself,
  after each commit, on a thread of its own
  (`db.engine.Checkpointer`), while it takes the next group through the pipeline: batches neither
  queue behind a checkpoint run inside some commit nor wait for one between groups (docs/decisions.md).

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
import multiprocessing
import os
import pickle
import queue
import select
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Literal

from comerix.db import Database
from comerix.db.availability import StorageHealth, StorageUnavailable, unavailable
from comerix.db.engine import Checkpointer
from comerix.errors import DomainError
from comerix.goals.index import GoalIndex, WorkspaceGoals
from comerix.runtime import tune_garbage_collector
from comerix.telemetry.pipeline import Batch, Recorded, answer, prepare, record_group

log = logging.getLogger(__name__)

MAX_GROUP_ITEMS = 5000
# A group takes well under a second; one that takes this long is presumed stuck (a lock never released,
# a disk that stopped answering): its process is killed, which rolls the transaction back.
WRITE_TIMEOUT = 60.0

# What the writer hands back for one batch: what it recorded (from which the serving process writes the
# 202 body, `pipeline.answer`), or why the batch was refused or failed.
Answer = Recorded | BaseException
# What the writer process says when the group it holds has run through the pipeline and is committing.
_READY: Literal["ready"] = "ready"


@dataclass(frozen=True)
class _Job:
    batch: Batch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bytes]
    pickled: bytes | None = None  # the batch as it crosses to the writer process, once prepared


class IngestWriter:
    def __init__(
        self,
        database: Database,
        index: GoalIndex,
        max_group_items: int = MAX_GROUP_ITEMS,
        *,
        process: bool = False,
    ) -> None:
        self._database = database
        self._index = index
        self._max_group_items = max_group_items
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._child: _Child | None = _Child(database) if process else None
        # With a writer process, the dispatching thread waits on the process's pipe and on this one,
        # which a byte wakes when a batch (or the word to stop) is queued while it waits (`_asleep`).
        self._wakeup: tuple[int, int] | None = None
        self._asleep = False
        self.health = StorageHealth()

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
        """Wake the dispatching thread if it waits, or may be about to (see `_run_child`); a batch that
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
            size += len(job.batch.items)
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
                answers = write_group(self._database, self._index, [job.batch for job in group])
            except Exception as exc:  # never let this thread die: every later request would wait forever
                log.exception("the ingestion writer failed on a group of %d batches", len(group))
                answers = [unavailable(exc) or exc] * len(group)
            self._settle(group, answers)

    def _settle(self, group: list[_Job], answers: list[Answer]) -> None:
        """`_settle_group`, noting in `health` whether the group was stored or failed on storage."""
        failure = next((answer for answer in answers if isinstance(answer, StorageUnavailable)), None)
        if failure is not None:
            self.health.failed(failure)
        elif any(isinstance(answer, Recorded) for answer in answers):
            self.health.succeeded()
        _settle_group(group, answers)

    def _fail(self, in_flight: deque[list[_Job]]) -> None:
        """Answer every group in flight: its writer process died, hung, or failed to take it (and
        was replaced), so nothing of it is known to be stored."""
        failure = StorageUnavailable(
            "the ingestion writer stopped while it held this batch, which is not known to be stored; "
            "send it again with the same event_id values"
        )
        while in_flight:
            group = in_flight.popleft()
            self._settle(group, [failure] * len(group))

    def _run_child(self, child: _Child) -> None:
        """Batches to the writer process, in groups, one or two groups at a time.

        While the process is busy, the batches that come are prepared one by one (`pipeline.prepare`:
        goals matched and property paths listed, against the goals as stored, read once a group), which
        takes that work off the process. As soon as the process says the last group is committing, the
        batches waiting go as one group, with those not prepared yet as they are (a batch never waits
        for its preparation), so the group crosses the pipe while that commit runs and the process
        takes it up the moment it has answered. A batch that comes while the process is free goes at
        once. Answers come back in the order the groups went."""
        assert self._wakeup is not None
        wakeup = self._wakeup[0]
        preparer = _Preparer(self._database, self._index)
        in_flight: deque[list[_Job]] = deque()
        waiting: list[_Job] = []  # for the next group (prepared if they came while the process was busy)
        ready = True  # the process may take another group
        stopping = False
        heard = time.monotonic()  # when the process last said something, or was sent a group
        while in_flight or waiting or not stopping:
            try:
                if ready and not stopping:  # what is still queued goes too, as it is: nothing waits
                    late, stopping = self._take_group(wait=False)
                    waiting += late
                    if stopping:
                        continue  # the loop's condition says whether anything is left to do
                if ready and waiting:
                    group, waiting = _split(waiting, self._max_group_items)
                    in_flight.append(group)
                    ready, heard = False, time.monotonic()
                    preparer.next_group()
                    if not child.send([job.pickled or job.batch for job in group]):
                        self._fail(in_flight)
                        ready = True
                    continue
                # Asleep from before the queue is looked at: a batch queued after that look wakes the
                # thread (`_wake` sees the flag), one queued before it is seen here.
                self._asleep = True
                queued = not stopping and not self._queue.empty()
                deadline = heard + WRITE_TIMEOUT
                wait = 0.0 if queued else max(0.0, deadline - time.monotonic()) if in_flight else None
                spoken = child.fileno()
                try:
                    readable = select.select([spoken, wakeup], [], [], wait)[0]
                finally:
                    self._asleep = False
                if wakeup in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wakeup, 4096)
                if spoken in readable:  # the process spoke, or died
                    heard = time.monotonic()
                    message = child.receive()
                    if message is None:
                        self._fail(in_flight)
                        ready = True
                    elif isinstance(message, str):  # _READY
                        ready = True
                    elif in_flight:
                        self._settle(in_flight[0], message)  # if that raises, the group fails below
                        in_flight.popleft()
                        ready = ready or not in_flight
                    else:
                        raise RuntimeError("the writer process answered a group it was not sent")
                    continue
                if in_flight and time.monotonic() >= deadline:  # however busy the queue
                    child.replace(TimeoutError(f"no answer within {WRITE_TIMEOUT:g} s"))
                    self._fail(in_flight)
                    ready = True
                    continue
                if ready:  # the batches queued go at once, from the top
                    continue
                with contextlib.suppress(queue.Empty):  # the process is busy: prepare the next batch
                    job = self._queue.get_nowait()
                    if job is None:
                        stopping = True
                    else:
                        waiting.append(preparer.prepare(job))
            except Exception as exc:  # never let this thread die: every later request would wait forever
                child.replace(exc)  # so that no answer to a group failed here can come back later
                self._fail(in_flight)
                ready = True


def _wakeup_pipe() -> tuple[int, int]:
    """A pipe whose two ends never block (reading and writing return at once, or raise)."""
    ends = os.pipe()
    for end in ends:
        os.set_blocking(end, False)
    return ends


def _split(jobs: list[_Job], max_items: int) -> tuple[list[_Job], list[_Job]]:
    """The first jobs, up to `max_items` items (at least one job), and the rest."""
    size = 0
    for count, job in enumerate(jobs):
        size += len(job.batch.items)
        if size > max_items and count > 0:
            return jobs[:count], jobs[count:]
    return jobs, []


class _Preparer:
    """The serving process's part of the pipeline: each batch prepared (`pipeline.prepare`) against its
    workspace's goals as stored, whose revision is read again for a group once `REREAD_SECONDS` have
    passed since the last reading (at peak a group goes every few hundredths of a second, and each
    reading is a transaction of its own). Goals changed meanwhile cost no correctness: the writer
    process matches again each batch prepared against another revision than its transaction reads.
    Should preparing fail, the batch goes as it is, and the writer process does all of its steps."""

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

    def prepare(self, job: _Job) -> _Job:
        workspace_id = job.batch.workspace_id
        try:
            if workspace_id not in self._goals:
                with self._database.transaction() as session:
                    self._goals[workspace_id] = self._index.current(session, workspace_id)
            goals = self._goals[workspace_id]
            if goals is None:
                return job
            batch = prepare(job.batch, goals, self._database.backend)
            # pickled now, while the writer process is busy, rather than when the group goes
            return replace(job, batch=batch, pickled=_to_wire(batch))
        except Exception:
            log.exception("preparing a batch failed; the writer process does all of its steps")
            return job


def write_group(
    database: Database,
    index: GoalIndex,
    batches: list[Batch],
    committing: Callable[[], None] | None = None,
) -> list[Answer]:
    """Run `batches` through the pipeline in one transaction; if that fails as a whole, each alone.
    `committing` is called once the pipeline's statements have run, just before the commit."""
    try:
        with database.transaction() as session:
            results: list[Answer] = list(record_group(session, batches, index))
            if committing is not None:
                committing()
    except Exception as exc:
        storage = unavailable(exc)
        if storage is not None:
            log.error("storage cannot take a group of %d batches: %s", len(batches), exc)
            return [storage] * len(batches)
        if len(batches) > 1:
            return [answer for batch in batches for answer in write_group(database, index, [batch])]
        log.exception("ingestion failed for a batch of %d items", len(batches[0].items))
        return [exc]
    return results


def _settle_group(group: list[_Job], answers: list[Answer]) -> None:
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
    if future.cancelled():
        return
    if isinstance(body, BaseException):
        future.set_exception(body)
    else:
        future.set_result(body)


# --- the writer process -------------------------------------------------------------------------------


class WriterProcessFailed(RuntimeError):
    """The writer process failed or died while it held the batch: nothing of it is known to be stored."""


class _Child:
    """The writer process, seen from the serving process: one group at a time over a pipe."""

    def __init__(self, database: Database) -> None:
        self._url = database.url.render_as_string(hide_password=False)
        self._process: Any = None
        self._pipe: Connection | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or sockets copied
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(theirs, self._url), name="comerix-ingest-writer", daemon=True
        )
        self._process.start()
        theirs.close()
        self._pipe = ours

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process: when it has written what it holds, or at once (`kill`)."""
        if self._pipe is not None:
            if not kill:
                with contextlib.suppress(OSError):  # the process may be gone already
                    self._pipe.send(None)
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            self._process.join(timeout=0 if kill else 30)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def send(self, batches: list[Batch | bytes]) -> bool:
        """Hand a group to the process, each batch as it is or pickled already; False if the process is
        gone (a new one is started)."""
        assert self._pipe is not None
        pickled = [b if isinstance(b, bytes) else _to_wire(b) for b in batches]
        try:
            self._pipe.send(pickled)
        except OSError as exc:
            self.replace(exc)
            return False
        return True

    def fileno(self) -> int:
        """The pipe's end, to wait on (`select`)."""
        assert self._pipe is not None
        return self._pipe.fileno()

    def receive(self) -> Literal["ready"] | list[Answer] | None:
        """The process's next word, once its pipe is readable: `_READY` (the group it holds is
        committing), the answers to the oldest group it was sent, or None when it died (a new one is
        started). How long it may stay silent is the dispatcher's to judge (`WRITE_TIMEOUT`)."""
        assert self._pipe is not None
        try:
            message: Any = self._pipe.recv()
        except (EOFError, OSError) as exc:
            self.replace(exc)
            return None
        if message == _READY:
            return _READY
        return [_answer_of(reply) for reply in message]

    def replace(self, why: BaseException) -> None:
        log.error("the ingestion writer process failed (%s); starting a new one", why)
        self.stop(kill=True)
        self.start()


def _reply_of(answer: Answer) -> tuple[Any, ...]:
    """An answer in terms any pickle can carry (a `DomainError` by class, message and details)."""
    if isinstance(answer, Recorded):
        return ("ok", answer)
    if isinstance(answer, DomainError):
        return ("refused", type(answer), answer.message, answer.details)
    return ("failed", f"{type(answer).__name__}: {answer}")


def _answer_of(reply: tuple[Any, ...]) -> Answer:
    kind, *rest = reply
    if kind == "ok":
        recorded: Recorded = rest[0]
        return recorded
    if kind == "refused":
        error_type, message, details = rest
        error: DomainError = error_type(message, details)
        return error
    return WriterProcessFailed(rest[0])


def _serve(pipe: Connection, url: str) -> None:
    """The writer process: groups in, answers out, until told to stop (None) or the pipe closes.

    Ctrl-C and a service manager's SIGTERM reach every process of the group; the writer ignores them
    and stops when the serving process, which drains its queue first, says so (or dies: the pipe
    closes)."""
    import signal

    from sqlalchemy.engine import make_url

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    database = Database(make_url(url), autocheckpoint=False)
    index = GoalIndex()
    tune_garbage_collector()
    # SQLite: after each commit, the log is copied back into the database file on a thread of its own
    # while this one takes the next group through the pipeline; the next commit waits for it.
    checkpointer = Checkpointer(database) if database.backend == "sqlite" else None
    if checkpointer is not None:
        checkpointer.start()
    # The pipe is read on a thread of its own, always: the serving process may send the next group
    # while this one sends the last group's answers, and if neither read, both would wait forever once
    # the two messages outgrew the pipe's buffers.
    inbox: queue.Queue[list[Batch] | None] = queue.Queue()
    threading.Thread(target=_receive, args=(pipe, inbox), name="comerix-ingest-inbox", daemon=True).start()
    try:
        while (batches := inbox.get()) is not None:
            answers = write_group(database, index, batches, committing=lambda: pipe.send(_READY))
            if checkpointer is not None:
                checkpointer.request()
            pipe.send([_reply_of(answer) for answer in answers])
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        database.dispose()


def _to_wire(batch: Batch) -> bytes:
    """A batch as it crosses to the writer process (`_from_wire` reads it there)."""
    return pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)


def _from_wire(data: bytes) -> Batch:
    # pickled by the serving process (`_to_wire`), the only writer to this pipe
    batch: Batch = pickle.loads(data)  # noqa: S301
    return batch


def _receive(pipe: Connection, inbox: queue.Queue[list[Batch] | None]) -> None:
    """The writer process's reading end: each group into `inbox` as it arrives; None at the end."""
    while True:
        try:
            message: list[bytes] | None = pipe.recv()
        except (EOFError, OSError):
            message = None
        batches = None if message is None else [_from_wire(batch) for batch in message]
        inbox.put(batches)
        if batches is None:
            return
