"""A commit group through the pipeline at once (`pipeline.ingest_group`), on each backend.

The group-commit writer hands every batch of one transaction to the pipeline together; each batch must
still get the answer it would get alone, in the order the batches arrived.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from comerix.auth.service import principal_of
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.errors import Invalid
from comerix.goals.index import GoalIndex
from comerix.telemetry.models import Event, Source
from comerix.telemetry.pipeline import Batch, ingest, ingest_group
from comerix.telemetry.schemas import IngestResult, Item
from comerix.workspaces.models import Workspace
from tests.factories import make_goal, make_user, make_workspace

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def shop(db: Database) -> Workspace:
    """A workspace with a `purchase` goal valued from `total`."""
    with db.transaction() as session:
        workspace = make_workspace(session, NOW)
        actor = principal_of(make_user(session, workspace, NOW))
        make_goal(
            session,
            actor,
            NOW,
            code="purchase",
            trigger_event="purchase",
            value_mode="from_property",
            value_property="total",
            currency="EUR",
        )
    return workspace


def item(index: int, name: str, event_id: str | None, **fields: Any) -> Item:
    values: dict[str, Any] = {
        "index": index,
        "source": Source.SERVER,
        "name": name,
        "timestamp": NOW - timedelta(minutes=10 - index),
        "event_id": event_id,
        "conversation_id": None,
        "contact_id": "ann",
        "flow_id": None,
        "properties": {"total": "10.00"},
    }
    return Item(**(values | fields))


def statuses(answer: IngestResult | Exception) -> list[str]:
    assert isinstance(answer, IngestResult), answer
    return [result.status for result in answer.results]


def test_each_batch_of_a_group_gets_its_own_answer(db: Database) -> None:
    workspace = shop(db)
    first = Batch(workspace.id, [item(0, "purchase", "o-1"), item(1, "purchase", "o-1")], NOW)
    refused = Batch(workspace.id, [item(0, "purchase", "o-2"), _for_goal(item(1, "x", "s-1"), "nope")], NOW)
    later = Batch(workspace.id, [item(0, "purchase", "o-1"), item(1, "purchase", "o-3")], NOW)

    with db.transaction() as session:
        answers = ingest_group(session, [first, refused, later], GoalIndex())

    assert statuses(answers[0]) == ["accepted", "duplicate"]  # the same id twice in one batch
    assert isinstance(answers[1], Invalid)  # refused whole: its purchase o-2 is not stored
    assert [(p["index"], p["field"]) for p in answers[1].details] == [(1, "goal")]
    assert statuses(answers[2]) == ["duplicate", "accepted"]  # o-1 went to the earlier batch
    assert isinstance(answers[0], IngestResult)
    assert isinstance(answers[2], IngestResult)
    assert [len(r.outcomes) for r in answers[0].results] == [1, 0]
    assert [len(r.outcomes) for r in answers[2].results] == [0, 1]
    assert (answers[0].accepted, answers[0].duplicates) == (1, 1)
    with db.sessions() as session:
        stored = session.scalars(select(Event.event_id).where(Event.workspace_id == workspace.id)).all()
        assert sorted(stored) == ["o-1", "o-3"]
        assert session.scalar(select(func.count()).select_from(Outcome)) == 2


def test_a_group_spanning_workspaces_keeps_each_batch_in_its_own(db: Database) -> None:
    one, two = shop(db), shop(db)
    batches = [
        Batch(one.id, [item(0, "purchase", "o-1")], NOW),
        Batch(two.id, [item(0, "purchase", "o-1"), item(1, "purchase", "o-2")], NOW),
        Batch(one.id, [item(0, "purchase", "o-2")], NOW),
    ]
    with db.transaction() as session:
        answers = ingest_group(session, batches, GoalIndex())

    assert [statuses(answer) for answer in answers] == [["accepted"], ["accepted", "accepted"], ["accepted"]]
    with db.sessions() as session:
        for workspace, expected in ((one, 2), (two, 2)):
            count = select(func.count()).select_from(Outcome).where(Outcome.workspace_id == workspace.id)
            assert session.scalar(count) == expected


def test_a_group_answers_as_its_batches_would_one_by_one(db: Database) -> None:
    """Same batches, once as a group and once a transaction each, in two workspaces: same answers."""
    grouped, alone = shop(db), shop(db)

    def batches(workspace: Workspace) -> list[Batch]:
        chat = {"conversation_id": "c-1", "flow_id": "sales", "source": Source.WIDGET}
        return [
            Batch(workspace.id, [item(0, "conversation_started", "e-1", **chat)], NOW),
            Batch(workspace.id, [item(1, "purchase", "e-2", **chat), item(2, "purchase", "e-3")], NOW),
            Batch(workspace.id, [item(3, "purchase", "e-3"), item(4, "purchase", None)], NOW),
        ]

    with db.transaction() as session:
        together = ingest_group(session, batches(grouped), GoalIndex())
    one_by_one = []
    for batch in batches(alone):
        with db.transaction() as session:
            one_by_one.append(ingest(session, batch, GoalIndex()))

    def comparable(answer: IngestResult | Exception) -> list[Any]:
        assert isinstance(answer, IngestResult)
        return [
            (r.status, [(o.goal, o.value, o.attribution, o.conversation_id, o.flow_id) for o in r.outcomes])
            for r in answer.results
        ]

    assert [comparable(a) for a in together] == [comparable(a) for a in one_by_one]
    in_chat = comparable(together[1])[0]
    assert in_chat == ("accepted", [("purchase", Decimal("10.00"), "conversation", "c-1", "sales")])
    assert comparable(together[2])[0] == ("duplicate", [])


def _for_goal(base: Item, code: str) -> Item:
    """A conversion sent with an explicit goal code."""
    return Item(**(base.__dict__ | {"goal_code": code}))
