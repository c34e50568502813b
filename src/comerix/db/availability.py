"""Whether storage can take writes: which database errors say it cannot (a full disk, a lost
connection, a read-only database: `StorageUnavailable`, answered 503 with `Retry-After`), and what
`/healthz` reports (`StorageHealth`).

A storage failure is not the request's fault, so the client is told to try again later rather than
given a 500. Its transaction is rolled back, except that a failure during COMMIT (a connection lost
then) leaves the outcome unknown: the answer says "not stored, or not known to be", and a retry with
the same ids is safe because duplicates are recognised (the Engine API's `event_id`). Errors that a
retry cannot cure (a constraint, a bug in a statement) stay what they are.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, LargeBinary, exc, insert
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base
from comerix.db.engine import Database
from comerix.db.types import new_id
from comerix.errors import Unavailable

log = logging.getLogger(__name__)

# SQLite's primary result codes that mean the storage, not the statement, failed.
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOLFS,
    }
)
# PostgreSQL's SQLSTATEs (classes by prefix) of the same kind: connection exceptions (08), a full disk
# (53100), too many connections (53300), a terminated backend or a server shutting down or starting
# (57P), system errors such as I/O (58), a read-only transaction (25006: a standby after a failover, a
# database set read-only), a lock not available (55P03: contention, as SQLite's BUSY) and a transaction
# the server rolled back to break a deadlock or a serialization conflict (40P01, 40001: contention
# between writers, gone on a retry). Not what one
# batch can cause: a statement timeout (57014), out of memory (53200), a configuration limit (53400),
# an unnamed resource (53000), a protocol violation (08P01: a message the server refuses, such as too
# many parameters). Those fail a group of batches as any statement's error does, so that it is retried
# batch by batch and only the batch that causes it fails.
_POSTGRES_UNAVAILABLE = ("08", "53100", "53300", "57P", "58", "25006", "55P03", "40P01", "40001")
_POSTGRES_CAUSED_BY_A_REQUEST = frozenset({"08P01"})


DATABASE_ERRORS: tuple[type[Exception], ...] = (exc.SQLAlchemyError, sqlite3.Error, psycopg.Error)
"""What a failing database raises: through SQLAlchemy, or from a driver's cursor used directly (bulk
inserts, `db.bulk`)."""


class StorageUnavailable(Unavailable):
    """Storage cannot take this write now: the request was not stored, or (a failure during COMMIT)
    is not known to be."""

    code = "storage_unavailable"
    retry_after = 5

    def __init__(
        self,
        message: str = "storage cannot take writes right now: this request was not stored, or is not "
        "known to be. Try again later with the same ids (an Engine API batch with the same event_id "
        "values: what was stored comes back as a duplicate)",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details)


def is_storage_failure(error: BaseException) -> bool:
    """True when `error` says the database cannot take writes now, rather than that a statement is
    wrong: a retry later may succeed."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original: BaseException | None = error.orig
    else:
        original = error
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE
    if isinstance(original, psycopg.Error):
        if original.sqlstate is None:  # no answer from the server at all (refused, reset, closed)
            return isinstance(original, psycopg.OperationalError | psycopg.InterfaceError)
        sqlstate = original.sqlstate
        return sqlstate.startswith(_POSTGRES_UNAVAILABLE) and sqlstate not in _POSTGRES_CAUSED_BY_A_REQUEST
    return False


def unavailable(error: BaseException) -> StorageUnavailable | None:
    """`error` as a `StorageUnavailable` when it is a storage failure; None otherwise."""
    if isinstance(error, StorageUnavailable):
        return error
    if is_storage_failure(error):
        return StorageUnavailable()
    return None


class StorageProbe(Base):
    """The table `/healthz` writes to (and rolls back) to learn whether storage takes writes. It stays
    empty."""

    __tablename__ = "storage_probes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


# A write of this size needs pages of its own (SQLite's pages are 4 KiB, PostgreSQL's 8 KiB, and
# random bytes do not compress), so a database that cannot grow refuses it.
PROBE_BYTES = 10 * 1024
# SQLite writes its log at commit, which a rolled-back probe never reaches: below this much free space
# on the database's file system, the next groups of events would fail, so the probe does.
MIN_FREE_BYTES = 16 * 1024 * 1024


# How long a probe waits for a lock: a database busy with the writer's group is not failing, and a
# load balancer's health check must neither wait for it nor drop the node for it.
PROBE_WAIT_MS = 100
# PostgreSQL: how long the probe's INSERT may take in all (a slow disk is busy, not failing).
PROBE_STATEMENT_MS = 1000


class StorageBusy(Exception):
    """The probe could not get the write lock in time: nothing is learnt of storage's health."""


def probe_write(database: Database) -> StorageUnavailable | None:
    """None when storage takes a write now; otherwise why not. The write is rolled back. Raises
    `StorageBusy` when it waited `PROBE_WAIT_MS` for a lock (SQLite's write lock, held by the writer):
    busy is not failing."""
    if database.backend == "sqlite" and database.url.database not in (None, "", ":memory:"):
        folder = Path(str(database.url.database)).parent
        stat = os.statvfs(folder)
        if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
            return StorageUnavailable(f"less than {MIN_FREE_BYTES // 2**20} MiB free on the database's disk")
    try:
        with database.engine.connect() as connection:
            _probe(connection, database.backend)
    except Exception as error:
        if _is_busy(error):
            log.info("storage is busy; its health is as it was: %s", error)
            raise StorageBusy(str(error)) from error
        found = unavailable(error)
        if found is None:
            raise
        log.warning("storage cannot take writes: %s", error)
        return found
    return None


def _probe(connection: Connection, backend: str) -> None:
    """Insert a probe row and roll it back, waiting for locks no longer than `PROBE_WAIT_MS`."""
    if backend != "sqlite":
        with connection.begin() as transaction:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {PROBE_WAIT_MS}")
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {PROBE_STATEMENT_MS}")
            connection.execute(insert(StorageProbe).values(payload=os.urandom(PROBE_BYTES)))
            transaction.rollback()
        return
    # The connection is pooled: its own busy timeout (db.engine's) is put back afterwards.
    raw = connection.connection.dbapi_connection
    assert raw is not None
    previous = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    raw.execute(f"PRAGMA busy_timeout={PROBE_WAIT_MS}")
    try:
        with connection.begin() as transaction:
            connection.execute(insert(StorageProbe).values(payload=os.urandom(PROBE_BYTES)))
            transaction.rollback()
    finally:
        try:
            raw.execute(f"PRAGMA busy_timeout={previous}")
        except sqlite3.Error:
            connection.invalidate()  # never back to the pool with the probe's short timeout


def _is_busy(error: BaseException) -> bool:
    """SQLite's BUSY or LOCKED, PostgreSQL's lock or statement timeout (the probe's own)."""
    original = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    if isinstance(original, psycopg.Error):
        return original.sqlstate in ("55P03", "57014")
    return False


class StorageHealth:
    """What the service knows of its storage's health: the writer's latest group (committed, or failed
    on storage) and a probe write of its own (`probe_write`, rolled back), made at each check while
    storage is failing, and otherwise at most every `PROBE_INTERVAL` seconds (a full disk is seen
    before a batch meets it, and checks cost no write in between). A probe that succeeds clears the
    writer's failure, so an idle service, which no batch tests, comes back as soon as its storage does.

    One probe at a time: a check made while another probes answers the last state at once, rather
    than queue behind it (health checks come in parallel, from several load balancers). A probe that
    finds the database busy (`StorageBusy`) leaves the state as it was."""

    PROBE_INTERVAL = 5.0

    def __init__(self) -> None:
        self._probing = threading.Lock()
        self._failure: StorageUnavailable | None = None
        self._probed_at = -math.inf

    def failed(self, failure: StorageUnavailable) -> None:
        """The writer met a storage failure."""
        self._failure = failure

    def succeeded(self) -> None:
        """The writer committed a group."""
        self._failure = None

    def check(self, database: Database) -> StorageUnavailable | None:
        """None when storage takes writes; otherwise why not (probing first when due)."""
        if not self._due() or not self._probing.acquire(blocking=False):
            return self._failure
        try:
            if self._due():  # another check may have probed since
                self._probed_at = time.monotonic()
                with contextlib.suppress(StorageBusy):
                    self._failure = probe_write(database)
        finally:
            self._probing.release()
        return self._failure

    def _due(self) -> bool:
        return self._failure is not None or time.monotonic() - self._probed_at >= self.PROBE_INTERVAL
