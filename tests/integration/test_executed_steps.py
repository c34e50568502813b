"""Analytics steps through the whole pipeline (SPEC §10), on each backend: executed steps with their
parents, loops and repeats kept; each conversation's path; the path rollups a growing path moves
through; the catalogue with the latest label and its daily counts; retries counted once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from comerix.analytics.models import FlowStepDay, FlowStepEntry, StepPathRollup
from comerix.analytics.step_rollups import path_key
from comerix.auth.service import principal_of
from comerix.contacts import service as contacts
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch
from comerix.telemetry.models import ConversationPath, ExecutedStep
from comerix.telemetry.pipeline import ingest_group
from comerix.telemetry.schemas import FlowStep, IngestResult, Item
from comerix.vocabulary import FlowStepType, Source
from tests.factories import make_user, make_workspace

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GREET, ASK, HANDOFF = (
    FlowStep("greet", "Hello", FlowStepType.NODE),
    FlowStep("ask", "What do you need?", FlowStepType.NODE),
    FlowStep("handoff", "Agent", FlowStepType.NODE),
)


def workspace(db: Database) -> uuid.UUID:
    with db.transaction() as session:
        made = make_workspace(session, NOW)
        principal_of(make_user(session, made, NOW))
        return made.id


def event(index: int, step: FlowStep | None, chat: str | None = "c-1", **fields: Any) -> Item:
    values: dict[str, Any] = {
        "index": index,
        "source": Source.WIDGET,
        "name": "message_sent",
        "timestamp": NOW + timedelta(minutes=index),
        "event_id": f"{chat}-{index}",
        "conversation_id": chat,
        "contact_id": "ann",
        "flow_id": "sales",
        "properties": {},
        "step": step,
    }
    return Item(**(values | fields))


def send(db: Database, workspace_id: uuid.UUID, *batches: list[Item]) -> list[IngestResult]:
    with db.transaction() as session:
        answers = ingest_group(
            session, [Batch(workspace_id, items, NOW) for items in batches], GoalIndex(), STAGES
        )
    assert all(isinstance(answer, IngestResult) for answer in answers), answers
    return [answer for answer in answers if isinstance(answer, IngestResult)]


def executed(db: Database, workspace_id: uuid.UUID) -> list[tuple[str, int, str, str | None]]:
    with db.sessions() as session:
        rows = session.scalars(
            select(ExecutedStep)
            .where(ExecutedStep.workspace_id == workspace_id)
            .order_by(ExecutedStep.conversation_id, ExecutedStep.position)
        )
        return [(r.conversation_id, r.position, r.step_id, r.parent_step_id) for r in rows]


def rollups(db: Database, workspace_id: uuid.UUID) -> dict[tuple[str, ...], int]:
    with db.sessions() as session:
        rows = session.scalars(select(StepPathRollup).where(StepPathRollup.workspace_id == workspace_id))
        return {tuple(r.path): r.conversations for r in rows if r.conversations}


def test_each_step_is_executed_after_the_one_before_it_loops_kept(db: Database) -> None:
    ws = workspace(db)
    send(db, ws, [event(0, GREET), event(1, ASK), event(2, None), event(3, ASK), event(4, GREET)])

    assert executed(db, ws) == [
        ("c-1", 0, "greet", None),
        ("c-1", 1, "ask", "greet"),
        ("c-1", 2, "ask", "ask"),
        ("c-1", 3, "greet", "ask"),
    ]
    with db.sessions() as session:
        path = session.get(ConversationPath, (ws, "c-1"))
        assert path is not None
        assert (path.steps, path.path, path.seen, path.last_step_id) == (
            4,
            ["greet", "ask", "ask", "greet"],
            ["greet", "ask"],
            "greet",
        )
        assert (path.first_step_at, path.flow_id) == (NOW, "sales")


def test_a_path_that_grows_in_a_later_group_moves_to_its_new_row(db: Database) -> None:
    ws = workspace(db)
    send(db, ws, [event(0, GREET), event(1, ASK)], [event(0, GREET, chat="c-2")])
    assert rollups(db, ws) == {("greet", "ask"): 1, ("greet",): 1}

    send(db, ws, [event(2, HANDOFF)])
    assert rollups(db, ws) == {("greet", "ask", "handoff"): 1, ("greet",): 1}
    assert executed(db, ws)[2] == ("c-1", 2, "handoff", "ask")
    with db.sessions() as session:
        keys = {r.path_key for r in session.scalars(select(StepPathRollup))}
        assert path_key(("greet", "ask", "handoff")) in keys


def test_the_path_counted_is_the_first_30_steps(db: Database) -> None:
    ws = workspace(db)
    send(db, ws, [event(n, GREET if n % 2 else ASK) for n in range(40)])
    (path,) = rollups(db, ws)
    assert len(path) == 30
    assert len(executed(db, ws)) == 40


def test_the_catalogue_keeps_the_latest_label_by_time_and_counts_by_day(db: Database) -> None:
    ws = workspace(db)
    renamed = FlowStep("ask", "How can I help?", FlowStepType.INTENT)
    # The renamed label comes first in arrival but last in time: it wins; an older one sent later loses.
    send(db, ws, [event(0, GREET), event(5, renamed), event(1, ASK)])
    send(db, ws, [event(0, ASK, chat="c-2", timestamp=NOW + timedelta(days=1))])
    send(db, ws, [event(1, ASK, chat="c-2", timestamp=NOW + timedelta(minutes=2))])

    with db.sessions() as session:
        entries = {
            e.id: (e.label, e.type, e.first_seen_at, e.last_seen_at)
            for e in session.scalars(select(FlowStepEntry).where(FlowStepEntry.workspace_id == ws))
        }
        days = {
            (d.day, d.step_id): (d.executions, d.conversations)
            for d in session.scalars(select(FlowStepDay).where(FlowStepDay.workspace_id == ws))
        }
    assert entries["ask"] == (
        "What do you need?",  # the one sent for the latest time: the next day's
        FlowStepType.NODE,
        NOW + timedelta(minutes=1),
        NOW + timedelta(days=1),
    )
    assert entries["greet"][0] == "Hello"
    assert days == {
        (date(2026, 11, 21), "greet"): (1, 1),
        (date(2026, 11, 21), "ask"): (3, 1),  # c-1 twice, c-2 once more: its first was the next day
        (date(2026, 11, 22), "ask"): (1, 1),
    }


def test_a_step_without_a_conversation_and_a_retried_event_execute_nothing_more(db: Database) -> None:
    ws = workspace(db)
    send(db, ws, [event(0, GREET), event(1, ASK, chat=None, event_id="server-1")])
    send(db, ws, [event(0, GREET)])  # the same event id again

    assert executed(db, ws) == [("c-1", 0, "greet", None)]
    assert rollups(db, ws) == {("greet",): 1}


def test_the_steps_flow_is_the_events_else_its_conversations(db: Database) -> None:
    ws = workspace(db)
    send(db, ws, [event(0, GREET, flow_id="support"), event(1, ASK, flow_id=None)])
    with db.sessions() as session:
        flows = session.execute(
            select(ExecutedStep.step_id, ExecutedStep.flow_id).order_by(ExecutedStep.position)
        ).all()
    assert [tuple(row) for row in flows] == [("greet", "support"), ("ask", "support")]


def test_erasure_removes_the_contacts_steps_and_paths_and_keeps_the_counts(db: Database) -> None:
    """Ann's chat goes with its steps and path; her step in bob's chat goes, bob's own stay; the path
    rollups and the catalogue keep what they counted."""
    ws = workspace(db)
    send(
        db,
        ws,
        [
            event(0, GREET),
            event(1, ASK),
            event(0, GREET, chat="c-bob", contact_id="bob"),
            event(1, ASK, chat="c-bob", contact_id="ann"),  # ann, writing in bob's chat
            event(2, HANDOFF, chat="c-bob", contact_id="bob"),
        ],
    )
    before = rollups(db, ws)
    with db.transaction() as session:
        contacts.erase(session, ws, "ann")

    assert executed(db, ws) == [("c-bob", 0, "greet", None), ("c-bob", 2, "handoff", "ask")]
    with db.sessions() as session:
        left = session.scalars(
            select(ConversationPath.conversation_id).where(ConversationPath.workspace_id == ws)
        )
        assert list(left) == ["c-bob"]
        assert session.scalar(select(FlowStepEntry.id).where(FlowStepEntry.id == "ask")) == "ask"
    assert rollups(db, ws) == before
