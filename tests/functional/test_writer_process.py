"""The Engine API with the pipeline in a writer process of its own, as `comerix serve` runs it, on each
backend: answers, refusals and duplicates cross the process boundary intact, a writer process that dies
is replaced, and a writer (thread or process) that fails unexpectedly answers 500 and goes on."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from comerix.app import create_app
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.settings import Settings
from tests.factories import Shop


@pytest.fixture
def shop(db: Database, settings: Settings, clock: FixedClock) -> Iterator[Shop]:
    app = create_app(settings, clock=clock, database=db, writer_process=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Shop(client, db, clock)


def test_outcomes_duplicates_and_refusals_come_back_from_the_writer_process(shop: Shop) -> None:
    shop.goal(
        code="purchase",
        name="Purchase",
        kind="conversion",
        trigger_event="purchase",
        value_mode="from_property",
        value_property="total",
        currency="EUR",
    )
    chat = {"conversation_id": "chat-1", "contact_id": "ann", "flow_id": "sales"}
    shop.send("/events", {"name": "conversation_started", "timestamp": shop.at(1), **chat})
    sale = {"event": "purchase", "event_id": "o-1", "contact_id": "ann", "properties": {"total": "12.50"}}
    answer = shop.send("/conversions", {**sale, "timestamp": shop.at(1, 2)})

    (outcome,) = answer["results"][0]["outcomes"]
    assert (outcome["value"], outcome["currency"], outcome["attribution"]) == ("12.50", "EUR", "window")
    assert (outcome["conversation_id"], outcome["flow_id"]) == ("chat-1", "sales")
    assert outcome["occurred_at"].endswith("Z")
    again = shop.send("/conversions", {**sale, "timestamp": shop.at(1, 2)})
    assert (again["accepted"], again["duplicates"], again["results"][0]["status"]) == (0, 1, "duplicate")

    refused = shop.send("/conversions", {"goal": "no_such_goal", "contact_id": "ann"}, expect=422)
    assert refused["error"]["details"] == [
        {"index": 0, "field": "goal", "message": "no goal 'no_such_goal' in this workspace"}
    ]


def test_a_writer_process_that_dies_is_replaced(shop: Shop) -> None:
    shop.send("/events", {"name": "first", "event_id": "e-1"})
    child = shop.client.app.state.writer._child._process  # type: ignore[attr-defined]
    child.kill()
    child.join()

    failed = shop.client.post(
        "/events",
        json={"name": "lost", "event_id": "e-2"},
        headers={"Authorization": f"Bearer {shop.public}"},
    )
    assert failed.status_code == 500  # not known to be stored: the client retries with the same event_id
    retried = shop.send("/events", {"name": "lost", "event_id": "e-2"})
    assert retried["results"][0]["status"] == "accepted"
    names = shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"]
    assert sorted(event["name"] for event in names) == ["first", "lost"]


def test_the_writer_survives_an_unexpected_failure(
    db: Database, settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure outside the pipeline's own handling answers 500 for that group; the writer goes on."""
    from comerix.telemetry import writer

    def broken(*_args: object) -> list[writer.Answer]:
        raise RuntimeError("disk on fire")

    with TestClient(create_app(settings, clock=clock, database=db), raise_server_exceptions=False) as client:
        shop = Shop(client, db, clock)
        monkeypatch.setattr(writer, "write_group", broken)
        failed = client.post(
            "/events", json={"name": "x"}, headers={"Authorization": f"Bearer {shop.public}"}
        )
        assert failed.status_code == 500
        monkeypatch.undo()
        assert shop.send("/events", {"name": "x"})["accepted"] == 1


@contextlib.contextmanager
def writes_blocked(db: Database) -> Iterator[None]:
    """Another client holds the lock every INSERT into `events` needs, until the block ends."""
    if db.backend == "sqlite":
        other = sqlite3.connect(str(db.url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock: SQLite has one per database
        try:
            yield
        finally:
            other.rollback()
            other.close()
        return
    with db.engine.connect() as connection, connection.begin() as transaction:
        connection.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")  # readers pass, writers wait
        yield
        transaction.rollback()


def test_a_writer_process_that_hangs_is_replaced(
    shop: Shop, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group that takes longer than `WRITE_TIMEOUT` is answered 500, its process killed (which rolls
    its transaction back) and a new one started."""
    from comerix.telemetry import writer

    monkeypatch.setattr(writer, "WRITE_TIMEOUT", 1.0)
    headers = {"Authorization": f"Bearer {shop.public}"}
    with writes_blocked(db):
        started = time.monotonic()
        stuck = shop.client.post("/events", json={"name": "stuck", "event_id": "e-1"}, headers=headers)
        assert stuck.status_code == 500  # not known to be stored: the client retries with the same id
        assert time.monotonic() - started < 5  # the timeout, not SQLite's own 10 s wait for the lock
    retried = shop.send("/events", {"name": "stuck", "event_id": "e-1"})
    assert retried["results"][0]["status"] == "accepted"  # the killed transaction stored nothing
    names = shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"]
    assert [event["event_id"] for event in names] == ["e-1"]
