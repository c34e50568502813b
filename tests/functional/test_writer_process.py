"""The Engine API with the pipeline in a writer process of its own, as `comerix serve` runs it, on each
backend: answers, refusals and duplicates cross the process boundary intact, a writer process that dies
or hangs is replaced (the batches it held answered 503, to send again), so is one whose dispatching loop
fails (503 too), and a writer (thread or process) that fails unexpectedly answers 500 and goes on; all
close the connection."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from comerix.app import create_app
from comerix.auth.service import principal_of
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.settings import Settings
from comerix.telemetry import dispatch, writer, writer_process
from comerix.telemetry.batches import NOT_PREPARED, Batch
from comerix.telemetry.dispatch import Answers, Committing, Handover, Result, to_wire
from comerix.telemetry.models import Event
from comerix.telemetry.pipeline import Recorded, answer
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source
from tests.factories import Shop, make_goal, make_user, make_workspace


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


def test_a_writer_process_that_dies_is_replaced(shop: Shop, db: Database) -> None:
    """Dead while idle, it is replaced at once, before the next batch; dead while it holds a batch, that
    batch is answered 503 storage_unavailable, with Retry-After and Connection: close (nothing of it is
    known to be stored), and its retry goes to the successor."""
    headers = {"Authorization": f"Bearer {shop.public}"}
    shop.send("/events", {"name": "first", "event_id": "e-1"})
    idle = shop.client.app.state.writer.process  # type: ignore[attr-defined]
    os.kill(idle.pid, signal.SIGKILL)
    idle.join()
    assert shop.send("/events", {"name": "next", "event_id": "e-2"})["accepted"] == 1

    answers: list[Response] = []
    with writes_blocked(db):
        holding = threading.Thread(
            target=lambda: answers.append(
                shop.client.post("/events", json={"name": "lost", "event_id": "e-3"}, headers=headers)
            )
        )
        holding.start()
        time.sleep(1.0)  # by then the process has the batch, and waits for the lock
        busy = shop.client.app.state.writer.process  # type: ignore[attr-defined]
        os.kill(busy.pid, signal.SIGKILL)
        holding.join(timeout=10)
    (lost,) = answers
    assert_unavailable(lost)  # not known to be stored: the client retries with the same event_id
    retried = shop.send("/events", {"name": "lost", "event_id": "e-3"})
    assert retried["results"][0]["status"] == "accepted"
    names = shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"]
    assert sorted(event["name"] for event in names) == ["first", "lost", "next"]


def test_the_writer_survives_an_unexpected_failure(
    db: Database, settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure outside the pipeline's own handling answers 500 for that group; the writer goes on."""
    from comerix.telemetry import writer

    def broken(*_args: object) -> list[writer_process.Answer]:
        raise RuntimeError("disk on fire")

    with TestClient(create_app(settings, clock=clock, database=db), raise_server_exceptions=False) as client:
        shop = Shop(client, db, clock)
        monkeypatch.setattr(writer, "write_group", broken)
        failed = client.post(
            "/events", json={"name": "x"}, headers={"Authorization": f"Bearer {shop.public}"}
        )
        assert failed.status_code == 500
        assert failed.headers["connection"] == "close"  # the client opens a new connection, not a dead one
        monkeypatch.undo()
        assert shop.send("/events", {"name": "x"})["accepted"] == 1


def assert_unavailable(response: Response) -> None:
    """A 503 in the one error shape that says when to try again and ends the connection."""
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["connection"] == "close"


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
    """A group that takes longer than `WRITE_TIMEOUT` is answered 503, its process killed (which rolls
    its transaction back) and a new one started."""
    from comerix.telemetry import writer

    monkeypatch.setattr(writer, "WRITE_TIMEOUT", 1.0)
    headers = {"Authorization": f"Bearer {shop.public}"}
    with writes_blocked(db):
        started = time.monotonic()
        stuck = shop.client.post("/events", json={"name": "stuck", "event_id": "e-1"}, headers=headers)
        assert_unavailable(stuck)  # not known to be stored: the client retries with the same id
        assert time.monotonic() - started < 5  # the timeout, not SQLite's own 10 s wait for the lock
    # The successor may take longer than a second to start on a busy machine: the retry gets the usual time.
    monkeypatch.setattr(writer, "WRITE_TIMEOUT", 60.0)
    retried = shop.send("/events", {"name": "stuck", "event_id": "e-1"})
    assert retried["results"][0]["status"] == "accepted"  # the killed transaction stored nothing
    names = shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"]
    assert [event["event_id"] for event in names] == ["e-1"]


def next_word(child: writer_process.WriterProcess) -> Committing | Answers:
    """What the process says next, as the dispatcher reads it: once its pipe is readable (30 s at most)."""
    assert select.select([child.fileno()], [], [], 30)[0], "the writer process said nothing for 30 s"
    return child.receive()


def on_the_wire(batches: list[Batch]) -> Handover:
    return Handover(tuple(to_wire(batch) for batch in batches))


def goals_achieved(batch: Batch, result: Result) -> list[str]:
    """The codes of the goals the batch's items achieved, by the 202 answer written from `result`."""
    assert isinstance(result, Recorded), result
    return [outcome.goal for item in answer(batch, result).results for outcome in item.outcomes]


def test_large_groups_cross_the_pipe_both_ways_at_once(db: Database, clock: FixedClock) -> None:
    """The serving process sends the next group as soon as the last one is committing, while the writer
    process sends that group's answers. With both messages far larger than the pipe's buffers, neither
    side may wait for the other to read first."""
    now = clock.now()
    with db.transaction() as session:
        workspace = make_workspace(session, now)
        actor = principal_of(make_user(session, workspace, now))
        make_goal(session, actor, now, code="sale", trigger_event="purchase", currency="EUR")

    def group(tag: str) -> list[Batch]:  # 30 batches of 100 sales: each answer carries 100 outcomes
        note = "x" * 1000
        return [
            Batch(
                workspace.id,
                [
                    Item(
                        index=i,
                        source=Source.SERVER,
                        name="purchase",
                        timestamp=now - timedelta(minutes=1),
                        event_id=f"{tag}-{b}-{i}",
                        conversation_id=None,
                        contact_id="ann",
                        flow_id=None,
                        properties={"note": note},
                    )
                    for i in range(100)
                ],
                now,
            )
            for b in range(30)
        ]

    first_group, second_group = group("a"), group("b")
    child = writer_process.WriterProcess(db, STAGES)
    child.start()
    try:
        child.send(on_the_wire(first_group))
        assert next_word(child) == Committing()
        sending = threading.Thread(target=child.send, args=(on_the_wire(second_group),), daemon=True)
        sending.start()
        sending.join(timeout=30)
        assert not sending.is_alive(), "the next group could not be sent while the last one's answers were"
        first = next_word(child)
        assert isinstance(first, Answers)
        assert len(first.results) == 30
        for batch, result in zip(first_group, first.results, strict=True):
            assert goals_achieved(batch, result) == ["sale"] * 100
        assert next_word(child) == Committing()
        second = next_word(child)
        assert isinstance(second, Answers)
        assert all(isinstance(result, Recorded) for result in second.results)
    finally:
        child.stop(kill=True)  # at once: a pipe stuck both ways would never take the word to stop
    with db.transaction() as session:
        assert session.query(Event).filter_by(workspace_id=workspace.id).count() == 6000


def test_batches_pickled_as_they_are_prepared_reach_the_writer_process_intact(
    db: Database, clock: FixedClock
) -> None:
    """The serving process prepares a batch (`Preparer`) and pickles it at once, while the writer process
    is busy; the process records it as it was prepared, in a group with a batch that was not."""
    now = clock.now()
    with db.transaction() as session:
        workspace = make_workspace(session, now)
        actor = principal_of(make_user(session, workspace, now))
        make_goal(session, actor, now, code="sale", trigger_event="purchase", currency="EUR")

    def sale(event_id: str) -> Batch:
        item = Item(0, Source.SERVER, "purchase", now, event_id, None, "ann", None, {"grand_total": 5})
        return Batch(workspace.id, [item], now)

    prepared, plain = writer.Preparer(db, GoalIndex()).prepare(sale("prepared")), sale("plain")
    assert prepared.prepared is not NOT_PREPARED
    pickled = to_wire(prepared)
    assert pickle.loads(pickled) == prepared  # noqa: S301 - pickled just above

    child = writer_process.WriterProcess(db, STAGES)
    child.start()
    try:
        child.send(Handover((pickled, to_wire(plain))))
        assert next_word(child) == Committing()
        answers = next_word(child)
    finally:
        child.stop()
    assert isinstance(answers, Answers)
    assert [goals_achieved(*sent) for sent in zip([prepared, plain], answers.results, strict=True)] == [
        ["sale"],
        ["sale"],
    ]
    with db.transaction() as session:
        stored = session.query(Event.event_id).filter_by(workspace_id=workspace.id).all()
    assert sorted(event_id for (event_id,) in stored) == ["plain", "prepared"]


def test_a_failure_in_the_dispatching_loop_fails_its_group_and_replaces_the_process(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error in the serving process's loop (here, as it reads the answers to a group) answers
    503 for the group (it was stored, but the serving process cannot tell), replaces the writer process,
    so that no answer meant for a failed group can come later, and the loop goes on."""
    ingest = shop.client.app.state.writer  # type: ignore[attr-defined]
    first = ingest.process

    def unreadable(_result: Result) -> Any:
        raise RuntimeError("an answer nobody can read")

    monkeypatch.setattr(dispatch, "answer_of", unreadable)
    headers = {"Authorization": f"Bearer {shop.public}"}
    assert_unavailable(shop.client.post("/events", json={"name": "x", "event_id": "e-1"}, headers=headers))
    monkeypatch.undo()
    retried = shop.send("/events", {"name": "x", "event_id": "e-1"})
    assert retried["results"][0]["status"] == "duplicate"  # stored: it was committed, then failed
    assert ingest.process is not first
    assert not first.is_alive()
