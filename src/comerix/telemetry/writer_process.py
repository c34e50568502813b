"""The writer process, in which `comerix serve` runs the ingestion pipeline: `WriterProcess` is its
handle in the serving process, `_serve` its main loop, and `write_group` what it (or, without a
process, the writer's thread) does with each group: one transaction, or one per batch if the group
fails as a whole. The words on the pipe between the two are `telemetry.dispatch`'s."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from comerix.db import Database
from comerix.db.availability import unavailable
from comerix.db.engine import Checkpointer
from comerix.goals.index import GoalIndex
from comerix.runtime import tune_garbage_collector
from comerix.telemetry import dispatch
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import Recorded, Stage, record_group

log = logging.getLogger(__name__)

Answer = Recorded | BaseException
"""What the writer hands back for one batch: what it recorded (from which the serving process writes the
202 body, `pipeline.answer`), or why the batch was refused or failed."""


def write_group(
    database: Database,
    index: GoalIndex,
    batches: list[Batch],
    stages: Sequence[Stage],
    committing: Callable[[], None] | None = None,
) -> list[Answer]:
    """Run `batches` through `stages` in one transaction; if that fails as a whole, each alone.
    `committing` is called once the stages' statements have run, just before the commit."""
    try:
        with database.transaction() as session:
            results: list[Answer] = list(record_group(session, batches, index, stages))
            if committing is not None:
                committing()
    except Exception as exc:
        storage = unavailable(exc)
        if storage is not None:
            log.error("storage cannot take a group of %d batches: %s", len(batches), exc)
            return [storage] * len(batches)
        if len(batches) > 1:
            return [answer for batch in batches for answer in write_group(database, index, [batch], stages)]
        log.exception("ingestion failed for a batch of %d items", len(batches[0].items))
        return [exc]
    return results


class WriterProcess:
    """The writer process, seen from the serving process: groups out, its words in (`dispatch`)."""

    def __init__(self, database: Database, stages: Sequence[Stage]) -> None:
        self._url = database.url.render_as_string(hide_password=False)
        self._stages = tuple(stages)
        self.process: BaseProcess | None = None  # the one running now
        self._pipe: Connection | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or sockets copied
        ours, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, self._url, self._stages), name="comerix-ingest-writer", daemon=True
        )
        self.process.start()
        theirs.close()
        self._pipe = ours

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process: when it has written what it holds, or at once (`kill`)."""
        if self._pipe is not None:
            if not kill:
                with contextlib.suppress(OSError):  # the process may be gone already
                    self._pipe.send(dispatch.Stop())
            self._pipe.close()
            self._pipe = None
        if self.process is not None:
            self.process.join(timeout=0 if kill else 30)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
            self.process = None

    def send(self, group: dispatch.Handover) -> None:
        """Hand a group to the process. Raises `OSError` if the process is gone."""
        assert self._pipe is not None
        self._pipe.send(group)

    def fileno(self) -> int:
        """The pipe's end, to wait on (`select`)."""
        assert self._pipe is not None
        return self._pipe.fileno()

    def receive(self) -> dispatch.Committing | dispatch.Answers:
        """The process's next word, once its pipe is readable; `EOFError` or `OSError` when it died. How
        long it may stay silent is the dispatcher's to judge (`WRITE_TIMEOUT`)."""
        assert self._pipe is not None
        word = self._pipe.recv()
        if not isinstance(word, dispatch.Committing | dispatch.Answers):
            raise RuntimeError(f"the writer process said {word!r}")
        return word

    def replace(self, why: str) -> None:
        log.error("the ingestion writer process failed (%s); starting a new one", why)
        self.stop(kill=True)
        self.start()


def _serve(pipe: Connection, url: str, stages: tuple[Stage, ...]) -> None:
    """The writer process: groups in, answers out, until told to stop or the pipe closes.

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
            answers = write_group(
                database, index, batches, stages, committing=lambda: pipe.send(dispatch.Committing())
            )
            if checkpointer is not None:
                checkpointer.request()
            pipe.send(dispatch.Answers(tuple(dispatch.result_of(answer) for answer in answers)))
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        database.dispose()


def _receive(pipe: Connection, inbox: queue.Queue[list[Batch] | None]) -> None:
    """The writer process's reading end: each group's batches into `inbox` as it arrives; None at the
    end (`Stop`, or the pipe closed)."""
    while True:
        try:
            word: dispatch.Handover | dispatch.Stop = pipe.recv()
        except (EOFError, OSError):
            word = dispatch.Stop()
        batches = word.batches() if isinstance(word, dispatch.Handover) else None
        inbox.put(batches)
        if batches is None:
            return
