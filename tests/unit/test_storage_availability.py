"""Which database errors say storage cannot take writes now (a 503 to try again) and which say a
statement is wrong (a 500): by SQLite's result code and PostgreSQL's SQLSTATE, raw or through SQLAlchemy."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import exc

from comerix.db import availability
from comerix.db.availability import StorageHealth, StorageUnavailable, is_storage_failure, unavailable


def sqlite_error(code: int, kind: type[sqlite3.Error] = sqlite3.OperationalError) -> sqlite3.Error:
    error = kind("refused")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    "error",
    [
        sqlite_error(sqlite3.SQLITE_FULL),  # "database or disk is full"
        sqlite_error(sqlite3.SQLITE_IOERR_WRITE),  # extended codes count by their primary code
        sqlite_error(sqlite3.SQLITE_READONLY),
        sqlite_error(sqlite3.SQLITE_BUSY),
        psycopg.errors.DiskFull(),  # "could not extend file"
        psycopg.errors.AdminShutdown(),  # pg_terminate_backend
        psycopg.errors.ReadOnlySqlTransaction(),  # a standby after a failover
        psycopg.errors.ConnectionFailure(),
        psycopg.errors.SqlclientUnableToEstablishSqlconnection(),  # 08001
        psycopg.errors.TooManyConnections(),  # 53300
        psycopg.errors.CannotConnectNow(),  # 57P03: starting up, or in recovery
        psycopg.errors.CrashShutdown(),  # 57P02
        psycopg.errors.IoError(),  # 58030
        psycopg.errors.LockNotAvailable(),  # 55P03: lock_timeout, contention as SQLite's BUSY
        psycopg.errors.DeadlockDetected(),  # 40P01: writers that met in a circle; one is rolled back
        psycopg.errors.SerializationFailure(),  # 40001
        psycopg.OperationalError("connection refused"),  # no SQLSTATE: the server never answered
        exc.OperationalError("INSERT", {}, psycopg.errors.DiskFull()),
        exc.TimeoutError("QueuePool limit reached"),
    ],
)
def test_storage_failures_are_told_apart(error: BaseException) -> None:
    assert is_storage_failure(error)
    assert isinstance(unavailable(error), StorageUnavailable)


@pytest.mark.parametrize(
    "error",
    [
        sqlite_error(sqlite3.SQLITE_ERROR),  # "no such table", a syntax error
        sqlite_error(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.IntegrityError),
        psycopg.errors.UniqueViolation(),
        psycopg.errors.UndefinedColumn(),
        # What one batch can cause: a group failing so is retried batch by batch, and only the batch
        # that causes it fails (a 503 for the whole group would fail everyone's batches for one).
        psycopg.errors.QueryCanceled(),  # 57014: statement_timeout
        psycopg.errors.OutOfMemory(),  # 53200
        psycopg.errors.ConfigurationLimitExceeded(),  # 53400: max_locks_per_transaction, ...
        psycopg.errors.InsufficientResources(),  # 53000: which resource is not said
        psycopg.errors.ProtocolViolation(),  # 08P01: a message the server refuses (too many parameters)
        exc.OperationalError("INSERT", {}, psycopg.errors.QueryCanceled()),
        exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation()),
        RuntimeError("a bug"),
    ],
)
def test_errors_of_the_statement_are_not_storage_failures(error: BaseException) -> None:
    assert not is_storage_failure(error)
    assert unavailable(error) is None


def test_a_lost_connection_seen_by_sqlalchemy_is_a_storage_failure() -> None:
    lost = exc.DBAPIError("SELECT 1", {}, psycopg.errors.UndefinedColumn(), connection_invalidated=True)
    assert is_storage_failure(lost)


def test_a_check_while_another_probes_answers_the_last_state_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Health checks come in parallel: one probes, the others do not queue behind it."""
    probing, release = threading.Event(), threading.Event()

    def slow_probe(_database: Any) -> None:
        probing.set()
        release.wait(3)

    monkeypatch.setattr(availability, "probe_write", slow_probe)
    health = StorageHealth()
    first = threading.Thread(target=health.check, args=(None,))
    first.start()
    try:
        assert probing.wait(5)
        health.failed(failure := StorageUnavailable())
        started = time.monotonic()
        assert health.check(None) is failure  # type: ignore[arg-type]
        assert time.monotonic() - started < 1
    finally:
        release.set()
        first.join()


def test_a_503_does_not_claim_that_nothing_was_stored() -> None:
    """A failure during COMMIT leaves the outcome unknown: the answer says so, and how to retry."""
    message = StorageUnavailable().message
    assert "not known to be" in message
    assert "event_id" in message
    assert "nothing" not in message
