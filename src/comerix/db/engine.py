"""The engine and session factory for one database, SQLite or PostgreSQL, with the settings each needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker


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
