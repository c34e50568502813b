"""Storage that cannot take writes, on each backend, made to fail for real: a full SQLite database
(`max_page_count`), a PostgreSQL backend terminated mid-transaction, a database that turned read-only.
Every answer is a 503 `storage_unavailable` with `Retry-After` and `Connection: close`, never a 500;
nothing of a refused batch is stored; `/healthz` says 503 while it lasts; and the service takes writes
again, with no restart, once storage is back."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from comerix.app import create_app
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.db.availability import StorageUnavailable
from comerix.db.migrate import upgrade
from comerix.settings import Settings
from comerix.telemetry.models import Event
from tests.conftest import POSTGRES_URL
from tests.factories import Shop, goal_body
from tests.functional.test_writer_process import assert_unavailable, writes_blocked
from tests.pages import csrf_of, sign_in


def open_shop(db: Database, settings: Settings, clock: FixedClock) -> Iterator[Shop]:
    with TestClient(create_app(settings, clock=clock, database=db), raise_server_exceptions=False) as client:
        yield Shop(client, db, clock)


@pytest.fixture
def shop(db: Database, settings: Settings, clock: FixedClock) -> Iterator[Shop]:
    yield from open_shop(db, settings, clock)


def stored_events(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def big_batch(tag: str) -> dict[str, Any]:
    """Far more than the free room in any page of a fresh database."""
    note = "x" * 1000
    return {
        "events": [
            {"name": "page_view", "event_id": f"{tag}-{n}", "properties": {"note": note}} for n in range(300)
        ]
    }


# --- a full disk (SQLite) ------------------------------------------------------------------------------


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[Database]:
    """A database of its own, compacted, so that it has no free page left to fill."""
    database = Database(make_url(f"sqlite:///{tmp_path / 'full.db'}"))
    upgrade(database.engine)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("VACUUM")
    yield database
    database.dispose()


@contextlib.contextmanager
def disk_full(db: Database) -> Iterator[None]:
    """Every connection of the service may not grow the database file by a page: SQLite answers
    writes that need one SQLITE_FULL, "database or disk is full", as on a full disk."""

    def limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA max_page_count=1")  # raised to the current size

    event.listen(db.engine, "connect", limit)
    db.engine.dispose()
    try:
        yield
    finally:
        event.remove(db.engine, "connect", limit)
        db.engine.dispose()


def test_a_full_sqlite_disk_answers_503_stores_nothing_and_recovers(
    fresh_sqlite: Database, settings: Settings, clock: FixedClock
) -> None:
    for shop in open_shop(fresh_sqlite, settings, clock):
        headers = {"Authorization": f"Bearer {shop.public}"}
        with disk_full(fresh_sqlite):
            refused = shop.client.post("/events", json=big_batch("a"), headers=headers)
            assert_unavailable(refused)
            assert stored_events(fresh_sqlite) == 0  # nothing of the batch
            health = shop.client.get("/healthz")
            assert_unavailable(health)
        assert shop.client.get("/healthz").status_code == 200  # no restart: storage is back
        accepted = shop.send("/events", big_batch("a"))  # the client's retry, same event_ids
        assert accepted["accepted"] == 300
        assert stored_events(fresh_sqlite) == 300


def test_healthz_probes_a_full_disk_before_any_batch_fails(
    fresh_sqlite: Database, settings: Settings, clock: FixedClock
) -> None:
    for shop in open_shop(fresh_sqlite, settings, clock):
        with disk_full(fresh_sqlite):
            assert_unavailable(shop.client.get("/healthz"))  # its first check probes
        assert shop.client.get("/healthz").status_code == 200  # a failing probe is made again


@contextlib.contextmanager
def probes_blocked(db: Database) -> Iterator[None]:
    """Another client holds the lock the health probe's INSERT needs, until the block ends: SQLite's one
    write lock (as the writer holds it through a long group), or PostgreSQL's lock on the probe table."""
    if db.backend == "sqlite":
        other = sqlite3.connect(str(db.url.database), isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    with db.engine.connect() as connection, connection.begin() as transaction:
        connection.exec_driver_sql("LOCK TABLE storage_probes IN EXCLUSIVE MODE")
        yield
        transaction.rollback()


@pytest.mark.parametrize("failing", [False, True], ids=["healthy", "failing"])
def test_healthz_answers_at_once_from_its_last_state_while_the_database_is_busy(
    shop: Shop, db: Database, failing: bool
) -> None:
    """A probe that cannot get the write lock at once learns nothing: /healthz answers what it knew,
    quickly. A load balancer must not drop a node that is merely busy (SQLite's BUSY after its 10 s
    wait for the writer's lock was a 503), nor wait for it."""
    health = shop.client.app.state.writer.health  # type: ignore[attr-defined]
    if failing:
        health.failed(StorageUnavailable())
    answers: list[Response] = []
    with probes_blocked(db):
        asking = threading.Thread(target=lambda: answers.append(shop.client.get("/healthz")))
        asking.start()
        # Half of SQLite's 10 s wait for the lock: a probe that waited for it answers after the
        # block ends. No tighter bound: a shared machine can take seconds to schedule the thread.
        asking.join(timeout=5)
        answered_while_busy = bool(answers)
    asking.join(timeout=30)
    assert answered_while_busy
    (answer,) = answers
    if failing:
        assert_unavailable(answer)
    else:
        assert answer.status_code == 200, answer.text
    assert shop.client.get("/healthz").status_code == 200  # the lock gone, a probe tells


# --- a terminated connection (PostgreSQL) --------------------------------------------------------------


def test_a_writer_connection_terminated_mid_batch_answers_503_and_the_next_batch_is_stored(
    shop: Shop, db: Database
) -> None:
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL's backends can be terminated; a SQLite connection is in process")
    headers = {"Authorization": f"Bearer {shop.public}"}
    answers: list[Response] = []
    with writes_blocked(db), db.engine.connect() as admin:
        posting = threading.Thread(
            target=lambda: answers.append(
                shop.client.post("/events", json={"name": "cut", "event_id": "e-1"}, headers=headers)
            )
        )
        posting.start()
        waiting = text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + 10
        while not (pids := admin.execute(waiting).scalars().all()) and time.monotonic() < deadline:
            admin.rollback()  # a transaction sees one snapshot of the statistics
            time.sleep(0.05)
        assert len(pids) == 1, "the writer never waited for the lock"
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        admin.rollback()
        posting.join(timeout=10)
    (cut,) = answers
    assert_unavailable(cut)
    assert stored_events(db) == 0
    retried = shop.send("/events", {"name": "cut", "event_id": "e-1"})  # a new connection takes it
    assert retried["results"][0]["status"] == "accepted"
    assert shop.client.get("/healthz").status_code == 200


# --- a database that turned read-only (both) -----------------------------------------------------------


@contextlib.contextmanager
def read_only(db: Database) -> Iterator[None]:
    """New connections may read but not write, as on a file system remounted read-only after errors
    (SQLite's SQLITE_READONLY) or a standby after a failover (PostgreSQL's 25006)."""
    if db.backend == "sqlite":

        def refuse_writes(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only=1")

        event.listen(db.engine, "connect", refuse_writes)
        db.engine.dispose()
        try:
            yield
        finally:
            event.remove(db.engine, "connect", refuse_writes)
            db.engine.dispose()
        return
    name = db.url.database
    server = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        db.engine.dispose()
        yield
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        server.dispose()
        db.engine.dispose()


def test_read_only_storage_is_a_503_everywhere_and_passes(shop: Shop, db: Database) -> None:
    member = shop.admin
    with read_only(db):
        event = {"name": "x", "event_id": "e-1"}
        assert_unavailable(
            shop.client.post("/events", json=event, headers={"Authorization": f"Bearer {shop.public}"})
        )
        assert_unavailable(shop.client.post("/api/v1/goals", json=goal_body(), headers=member.headers))
        assert_unavailable(shop.client.get("/healthz"))
        assert shop.client.get("/api/v1/goals", headers=member.headers).status_code == 200  # reads go on
    assert shop.client.get("/healthz").status_code == 200
    assert shop.send("/events", {"name": "x", "event_id": "e-1"})["accepted"] == 1
    assert shop.client.post("/api/v1/goals", json=goal_body(), headers=member.headers).status_code == 201
    assert stored_events(db) == 1


def test_read_only_storage_is_a_503_page_on_the_admin_pages(
    db: Database, settings: Settings, clock: FixedClock
) -> None:
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as pages:
        shop = Shop(pages, db, clock)
        assert sign_in(pages, shop.admin.user.email).status_code == 303
        token = csrf_of(pages.get("/admin/insights/goals/new").text)
        fields = {"code": "sale", "name": "Sale", "kind": "conversion", "trigger_event": "purchase"}
        with read_only(db):
            page = pages.post(
                "/admin/insights/goals/new", data={"csrf_token": token, **fields}, follow_redirects=False
            )
        assert page.status_code == 503, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert int(page.headers["retry-after"]) > 0
        assert page.headers["connection"] == "close"


# --- a database that cannot be reached (both) ----------------------------------------------------------


@contextlib.contextmanager
def unreachable(db: Database) -> Iterator[None]:
    """New connections fail, as when the database's file cannot be opened (SQLite's CANTOPEN) or its
    server refuses connections (PostgreSQL: no answer, so no SQLSTATE)."""

    def refuse(_dbapi_connection: Any, _record: Any) -> None:
        if db.backend == "sqlite":
            error = sqlite3.OperationalError("unable to open database file")
            error.sqlite_errorcode = sqlite3.SQLITE_CANTOPEN  # type: ignore[attr-defined]
            raise error
        raise psycopg.OperationalError("connection refused")

    event.listen(db.engine, "connect", refuse)
    db.engine.dispose()
    try:
        yield
    finally:
        event.remove(db.engine, "connect", refuse)
        db.engine.dispose()


def test_the_odata_feed_answers_unreachable_storage_in_its_own_error_shape(shop: Shop, db: Database) -> None:
    with unreachable(db):
        answer = shop.client.get("/odata/v4/$metadata", headers=shop.admin.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["odata-version"] == "4.0"
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers["connection"] == "close"
    error = answer.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "details" not in error  # OData's shape: code, message, target
    assert shop.client.get("/odata/v4/$metadata", headers=shop.admin.headers).status_code == 200
