"""Analytics steps with two writers interleaved on PostgreSQL: one conversation's path kept once, two
conversations moving the same path rollup rows, and a step taking the flow another writer stored."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.analytics.models import FlowStepEntry, StepPathRollup
from comerix.contacts import service as contacts
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch
from comerix.telemetry.models import ConversationPath, ExecutedStep, ExecutedStepRun
from comerix.telemetry.pipeline import ingest_group
from comerix.telemetry.schemas import FlowStep, Item
from comerix.vocabulary import FlowStepType, Source
from tests.integration.test_executed_steps import workspace

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def item(n: int, step: str, chat: str, flow: str | None) -> Item:
    return Item(
        index=0,
        source=Source.WIDGET,
        name="message_sent",
        timestamp=NOW + timedelta(minutes=n),
        event_id=f"{chat}-{n}",
        conversation_id=chat,
        contact_id=None,
        flow_id=flow,
        properties={},
        step=FlowStep(step, step, FlowStepType.NODE),
    )


def interleave(db: Database, ws: uuid.UUID, first: list[Item], second: list[Item]) -> None:
    """Writer 1 runs all its stages and holds its transaction open; writer 2 starts meanwhile (and waits
    on the lock its upsert of the conversation meets); writer 1 commits; writer 2 finishes."""
    meet(db, lambda session: write(session, ws, first), lambda session: write(session, ws, second))


def write(session: Session, ws: uuid.UUID, items: list[Item]) -> None:
    ingest_group(session, [Batch(ws, items, NOW)], GoalIndex(), STAGES)


def meet(db: Database, first: Callable[[Session], object], second: Callable[[Session], object]) -> None:
    """`first` runs in a transaction it holds open for a second; `second` starts in its own meanwhile
    (and waits on whatever lock it meets); `first` commits; `second` finishes."""
    ran = threading.Event()
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with db.transaction() as session:
                first(session)
                ran.set()
                time.sleep(1.0)
        except BaseException as exc:
            errors.append(exc)
            ran.set()

    def two() -> None:
        ran.wait()
        try:
            with db.transaction() as session:
                second(session)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def state(db: Database, ws: uuid.UUID) -> dict[str, Any]:
    with db.sessions() as session:
        return {
            "executed": [
                (r.conversation_id, r.position, r.step_id, r.parent_step_id, r.flow_id)
                for r in session.scalars(
                    select(ExecutedStep)
                    .where(ExecutedStep.workspace_id == ws)
                    .order_by(ExecutedStep.conversation_id, ExecutedStep.position)
                )
            ],
            "paths": {
                r.conversation_id: (r.steps, r.path, r.flow_id)
                for r in session.scalars(select(ConversationPath).where(ConversationPath.workspace_id == ws))
            },
            "rollups": {
                tuple(r.path): r.conversations
                for r in session.scalars(select(StepPathRollup).where(StepPathRollup.workspace_id == ws))
                if r.conversations
            },
            "catalogue": sorted(
                (r.flow_id, r.id)
                for r in session.scalars(select(FlowStepEntry).where(FlowStepEntry.workspace_id == ws))
            ),
        }


@pytest.fixture
def pg(db: Database) -> Database:
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    return db


def test_two_writers_on_one_chat_keep_one_path(pg: Database) -> None:
    ws = workspace(pg)
    interleave(pg, ws, [item(0, "greet", "c1", "sales")], [item(1, "ask", "c1", "sales")])
    got = state(pg, ws)
    assert got["executed"] == [("c1", 0, "greet", None, "sales"), ("c1", 1, "ask", "greet", "sales")]
    assert got["rollups"] == {("greet", "ask"): 1}


def test_two_writers_on_two_chats_moving_the_same_rollup_rows(pg: Database) -> None:
    ws = workspace(pg)
    with pg.transaction() as session:
        ingest_group(
            session,
            [
                Batch(ws, [item(0, "greet", "c1", "sales")], NOW),
                Batch(ws, [item(0, "greet", "c2", "sales")], NOW),
            ],
            GoalIndex(),
            STAGES,
        )
    interleave(pg, ws, [item(1, "ask", "c1", "sales")], [item(1, "ask", "c2", "sales")])
    assert state(pg, ws)["rollups"] == {("greet", "ask"): 2}


def test_the_second_writers_step_takes_the_conversations_flow(pg: Database) -> None:
    """Writer 2's event names no flow; the conversation's flow is 'sales' (writer 1's). SPEC/decisions: a
    step's flow is the event's, else its conversation's."""
    ws = workspace(pg)
    interleave(pg, ws, [item(0, "greet", "c1", "sales")], [item(1, "ask", "c1", None)])
    got = state(pg, ws)
    assert got["executed"][1][4] == "sales", got


def test_two_erasures_of_steps_in_one_run_both_hold(pg: Database) -> None:
    """Ann's and Bob's events each marked a step in Carol's chat, in one run: erased at once, the second
    erasure waits for the first and nulls its own entries in the run as the first left it, so neither
    erased step comes back (docs/decisions.md, "Executed steps are stored a run a row")."""
    ws = workspace(pg)
    people = ("carol", "ann", "bob", None)
    chat = [
        replace(item(n, step, "c1", "sales"), contact_id=who, event_id=f"e{n}")
        for n, (step, who) in enumerate(zip(("greet", "ask", "buy", "handoff"), people, strict=True))
    ]
    with pg.transaction() as session:
        write(session, ws, chat)
    meet(
        pg,
        lambda session: contacts.erase(session, ws, "ann"),
        lambda session: contacts.erase(session, ws, "bob"),
    )
    assert [(c, p, s) for c, p, s, _, _ in state(pg, ws)["executed"]] == [
        ("c1", 0, "greet"),
        ("c1", 3, "handoff"),
    ]


def test_an_erasure_waits_for_a_new_chat_of_the_contact_and_erases_it_whole(pg: Database) -> None:
    """A writer has stored a new chat of Ann's (its steps, its path) and not committed; her erasure
    meanwhile waits for it, then erases the chat whole, its steps too (docs/decisions.md, "Erasure")."""
    ws = workspace(pg)
    old = replace(item(0, "greet", "c0", "sales"), contact_id="ann", event_id="old")
    with pg.transaction() as session:
        write(session, ws, [old])
    new = [
        replace(item(n, s, "c1", "sales"), contact_id="ann", event_id=f"e{n}")
        for n, s in enumerate(("greet", "ask"))
    ]
    meet(pg, lambda session: write(session, ws, new), lambda session: contacts.erase(session, ws, "ann"))
    got = state(pg, ws)
    assert got["executed"] == []
    assert got["paths"] == {}
    with pg.sessions() as session:
        assert session.scalars(select(ExecutedStepRun).where(ExecutedStepRun.workspace_id == ws)).all() == []
