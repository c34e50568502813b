"""The engine and session factory for one database, SQLite or PostgreSQL, with the settings each needs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def _tune_sqlite(dbapi_connection: Any, _record: Any, *, autocheckpoint: bool = True) -> None:
    # WAL lets readers run beside the writer; FULL makes a commit survive a power cut, not only a crash;
    # foreign keys are off in SQLite unless asked for on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    if not autocheckpoint:  # the owner checkpoints when it suits it (see `Database.checkpoint`)
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Ingestion writes to several indexes with random keys: keep their pages in memory.
    cursor.execute("PRAGMA cache_size=-131072")  # 128 MiB
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def build_engine(url: URL, *, autocheckpoint: bool = True) -> Engine:
    """An engine for `url`; for SQLite, the file's folder is created and the connection tuned.
    `autocheckpoint=False`: SQLite's commits leave the write-ahead log to `Database.checkpoint`."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", partial(_tune_sqlite, autocheckpoint=autocheckpoint))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """One database: its engine and a factory of sessions. The caller that opens a session commits it."""

    def __init__(self, url: URL, *, autocheckpoint: bool = True) -> None:
        self.url = url
        self.engine = build_engine(url, autocheckpoint=autocheckpoint)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    def checkpoint(self) -> int:
        """SQLite: copy the write-ahead log back into the database file, as far as no reader still
        needs it (a PASSIVE checkpoint: it never waits for, nor blocks, readers or writers). The pages
        of log it leaves behind; 0 on PostgreSQL, which has nothing of the kind to do."""
        if self.backend != "sqlite":
            return 0
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            _busy, pages, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        return max(0, int(pages) - int(copied))

    def is_ready(self) -> bool:
        """True when the database answers a query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


class Checkpointer:
    """SQLite: checkpoints on a thread of their own, each one between two commits of the owner.

    `request()` after a commit starts a checkpoint (`Database.checkpoint`, on a pooled connection of
    its own) while the owner goes on preparing its next transaction; the engine's next commit waits
    until that checkpoint is done. The checkpoint's I/O thus overlaps the owner's work in Python (the
    sqlite3 module lets go of the interpreter while SQLite works) but never the commit itself, which
    would otherwise wait on the checkpoint's fsync of the database file.
    A checkpoint that fails is logged, and the next request tries again.
    """

    def __init__(self, database: Database) -> None:
        if database.backend != "sqlite":
            raise ValueError("only SQLite has a write-ahead log to checkpoint")
        self._database = database
        self._condition = threading.Condition()
        self._pending = False  # requested, not begun
        self._running = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="comerix-checkpoint", daemon=True)
        # What the last checkpoint could not copy back (a reader still needed it); None before the first.
        self.pages_left: int | None = None

    def start(self) -> None:
        event.listen(self._database.engine, "commit", self._before_commit)
        self._thread.start()

    def stop(self) -> None:
        """Finish what was requested, and stop."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join()
        event.remove(self._database.engine, "commit", self._before_commit)

    def request(self) -> None:
        """Checkpoint in the background, now or as soon as the one under way is done."""
        with self._condition:
            self._pending = True
            self._condition.notify_all()

    def wait(self) -> None:
        """Until every requested checkpoint is done."""
        with self._condition:
            self._condition.wait_for(lambda: not (self._pending or self._running))

    def _before_commit(self, _connection: Any) -> None:
        self.wait()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._stopping)
                if not self._pending:
                    return
                self._pending, self._running = False, True
            try:
                self.pages_left = self._database.checkpoint()
            except Exception:
                log.exception("checkpointing the write-ahead log failed; trying again after the next commit")
            finally:
                with self._condition:
                    self._running = False
                    self._condition.notify_all()
