"""A commit group through the pipeline at once (`pipeline.ingest_group`), on each backend.

The group-commit writer hands every batch of one transaction to the pipeline together; each batch must
still get the answer it would get alone, in the order the batches arrived.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from comerix.analytics import reports
from comerix.analytics.reports import ReportQuery
from comerix.auth.service import principal_of
from comerix.contacts import service as contacts
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.errors import Invalid
from comerix.goals import service as goals_service
from comerix.goals.index import GoalIndex
from comerix.goals.models import Goal
from comerix.goals.schemas import GoalUpdate
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch, prepare
from comerix.telemetry.models import Event
from comerix.telemetry.pipeline import ingest, ingest_group
from comerix.telemetry.schemas import IngestResult, Item
from comerix.vocabulary import GoalStatus, Source
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
        answers = ingest_group(session, [first, refused, later], GoalIndex(), STAGES)

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


def test_ids_stored_by_an_earlier_transaction_are_duplicates_beside_new_ones(db: Database) -> None:
    """The events are written first and the unique constraint decides: a later group mixing stored
    ids with new ones (and events without an id, never duplicates) records only the new ones."""
    workspace = shop(db)
    with db.transaction() as session:
        ingest(
            session,
            Batch(workspace.id, [item(0, "purchase", "o-1"), item(1, "purchase", "o-2")], NOW),
            GoalIndex(),
            STAGES,
        )

    retry = Batch(
        workspace.id,
        [item(0, "purchase", "o-2"), item(1, "purchase", None), item(2, "purchase", "o-3")],
        NOW,
    )
    again = Batch(workspace.id, [item(0, "purchase", "o-1"), item(1, "purchase", None)], NOW)
    with db.transaction() as session:
        answers = ingest_group(session, [retry, again], GoalIndex(), STAGES)

    assert statuses(answers[0]) == ["duplicate", "accepted", "accepted"]
    assert statuses(answers[1]) == ["duplicate", "accepted"]
    assert isinstance(answers[0], IngestResult)
    assert isinstance(answers[1], IngestResult)
    assert [len(r.outcomes) for r in answers[0].results] == [0, 1, 1]
    assert [len(r.outcomes) for r in answers[1].results] == [0, 1]
    assert (answers[0].accepted, answers[0].duplicates) == (2, 1)
    with db.sessions() as session:
        stored = session.scalars(select(Event.event_id).where(Event.workspace_id == workspace.id)).all()
        assert sorted(event_id or "" for event_id in stored) == ["", "", "o-1", "o-2", "o-3"]
        assert session.scalar(select(func.count()).select_from(Outcome)) == 5  # 2 first, then 2 and 1


def test_a_group_spanning_workspaces_keeps_each_batch_in_its_own(db: Database) -> None:
    one, two = shop(db), shop(db)
    batches = [
        Batch(one.id, [item(0, "purchase", "o-1")], NOW),
        Batch(two.id, [item(0, "purchase", "o-1"), item(1, "purchase", "o-2")], NOW),
        Batch(one.id, [item(0, "purchase", "o-2")], NOW),
    ]
    with db.transaction() as session:
        answers = ingest_group(session, batches, GoalIndex(), STAGES)

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
        together = ingest_group(session, batches(grouped), GoalIndex(), STAGES)
    one_by_one = []
    for batch in batches(alone):
        with db.transaction() as session:
            one_by_one.append(ingest(session, batch, GoalIndex(), STAGES))

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


def _catalogue(db: Database, workspace: Workspace) -> list[tuple[str, str]]:
    with db.sessions() as session:
        rows = session.execute(
            text("SELECT name, path FROM event_property_keys WHERE workspace_id = :w ORDER BY name, path"),
            {"w": workspace.id.hex if db.backend == "sqlite" else workspace.id},
        )
        return [tuple(row) for row in rows]


def test_prepared_batches_are_answered_and_catalogued_as_unprepared_ones(db: Database) -> None:
    """`prepare` (what the serving process does while the writer process is busy) changes nothing of
    what is recorded: the same answers, outcomes and catalogue as the writer working it all out."""
    prepared_shop, plain_shop = shop(db), shop(db)

    def batches(workspace: Workspace) -> list[Batch]:
        nested = {"total": "10.00", "order": {"plan": "premium", "lines": [1, 2]}}
        return [
            Batch(
                workspace.id, [item(0, "purchase", "e-1"), item(1, "viewed", "e-2", properties=nested)], NOW
            ),
            Batch(
                workspace.id, [item(0, "purchase", "e-1"), item(1, "purchase", "e-3", properties=nested)], NOW
            ),
        ]

    with db.transaction() as session:
        goals = GoalIndex().current(session, prepared_shop.id)
    assert goals is not None
    prepared = [prepare(batch, goals, db.backend) for batch in batches(prepared_shop)]
    assert prepared[0].prepared.revision == goals.revision
    assert prepared[0].prepared.achieved == {0: ("purchase",)}
    assert prepared[0].prepared.names["viewed"] == (1, frozenset({"total", "order.plan", "order.lines"}))
    assert prepared[1].prepared.revision == goals.revision
    assert prepared[1].prepared.names["purchase"][0] == 2  # the duplicate too: the writer counts again
    with db.transaction() as session:
        answers = ingest_group(session, prepared, GoalIndex(), STAGES)
    with db.transaction() as session:
        expected = ingest_group(session, batches(plain_shop), GoalIndex(), STAGES)

    def comparable(answer: IngestResult | Exception) -> list[Any]:
        assert isinstance(answer, IngestResult)
        return [(r.status, [(o.goal, o.value, o.attribution) for o in r.outcomes]) for r in answer.results]

    assert [comparable(a) for a in answers] == [comparable(a) for a in expected]
    assert comparable(answers[1]) == [
        ("duplicate", []),
        ("accepted", [("purchase", Decimal("10.00"), "none")]),
    ]
    assert _catalogue(db, prepared_shop) == _catalogue(db, plain_shop)
    assert ("viewed", "order.plan") in _catalogue(db, prepared_shop)


def test_a_batch_prepared_before_its_goals_changed_is_matched_again(db: Database) -> None:
    """The goals found by `prepare` count only if the workspace's goals are still at the revision it
    saw; otherwise the writer matches again, against the goals its transaction reads."""
    workspace = shop(db)
    with db.transaction() as session:
        goals = GoalIndex().current(session, workspace.id)
    assert goals is not None
    # Prepared as of this revision: the writer takes its word, even for an item the goal would not match.
    trusted = prepare(Batch(workspace.id, [item(0, "purchase", "e-1")], NOW), goals, db.backend)
    assert trusted.prepared.revision == goals.revision
    trusted.prepared.achieved.pop(0)
    with db.transaction() as session:
        assert statuses(answer := ingest(session, trusted, GoalIndex(), STAGES)) == ["accepted"]
        assert answer.results[0].outcomes == []

    def set_status(status: GoalStatus) -> None:
        with db.transaction() as session:
            goal = session.scalars(select(Goal).where(Goal.workspace_id == workspace.id)).one()
            actor = principal_of(make_user(session, session.get_one(Workspace, workspace.id), NOW))
            goals_service.set_status(session, goal, status, actor=actor, now=NOW)

    stale = prepare(Batch(workspace.id, [item(0, "purchase", "e-2")], NOW), goals, db.backend)
    set_status(GoalStatus.PAUSED)
    with db.transaction() as session:
        answer = ingest(session, stale, GoalIndex(), STAGES)
        paused_goals = GoalIndex().current(session, workspace.id)
    assert answer.results[0].outcomes == []  # paused since it was prepared: nothing recorded

    assert paused_goals is not None
    while_paused = prepare(Batch(workspace.id, [item(0, "purchase", "e-3")], NOW), paused_goals, db.backend)
    assert while_paused.prepared.revision == paused_goals.revision
    assert while_paused.prepared.achieved == {}
    set_status(GoalStatus.ACTIVE)
    with db.transaction() as session:
        answer = ingest(session, while_paused, GoalIndex(), STAGES)
    assert [o.goal for o in answer.results[0].outcomes] == ["purchase"]  # active again since: recorded


def test_a_chat_counts_once_and_afresh_when_its_id_returns_after_erasure(db: Database) -> None:
    """A chat credited in one transaction and again in a later one is one converting conversation; once
    erased, a chat under the same id is a new conversation (the group that creates it reads no marks
    for it: they went with the erased one) and converts on its own, while the erased one's counts stay."""
    workspace = shop(db)
    chat = {"conversation_id": "c-1", "flow_id": "sales", "source": Source.WIDGET}

    def send(*items: Item) -> IngestResult:
        with db.transaction() as session:
            return ingest(session, Batch(workspace.id, list(items), NOW), GoalIndex(), STAGES)

    def counted() -> tuple[int, int]:
        with db.transaction() as session:
            totals = reports.summary(session, workspace, ReportQuery(NOW.date(), NOW.date())).totals
        return totals.conversations, totals.converting_conversations

    send(item(0, "conversation_started", "e-1", **chat), item(1, "purchase", "e-2", **chat))
    assert counted() == (1, 1)
    send(item(2, "purchase", "e-3", **chat))  # the chat is stored: its marks are read, none is new
    assert counted() == (1, 1)
    with db.transaction() as session:
        contacts.erase(session, workspace.id, "ann")
    assert counted() == (1, 1)
    answer = send(item(3, "conversation_started", "e-4", **chat), item(4, "purchase", "e-5", **chat))
    assert [o.attribution for o in answer.results[1].outcomes] == ["conversation"]
    assert counted() == (2, 2)


def test_a_chat_converts_once_when_its_goal_becomes_a_conversion(db: Database) -> None:
    """A chat's mark of a goal remembers whether a conversion lay behind it: credited with an engagement
    goal, the chat is not converting; once the goal is made a conversion, its next outcome makes the
    chat converting (once, however many follow), and when an earlier event moves the chat's start to
    the day before, all it counts for moves with it."""
    workspace = shop(db)
    with db.transaction() as session:
        actor = principal_of(make_user(session, session.get_one(Workspace, workspace.id), NOW))
        signup = make_goal(session, actor, NOW, code="signup", kind="engagement", trigger_event="signup")
    chat = {"conversation_id": "c-1", "flow_id": "sales", "source": Source.WIDGET}

    def send(*items: Item) -> None:
        with db.transaction() as session:
            ingest(session, Batch(workspace.id, list(items), NOW), GoalIndex(), STAGES)

    def counted(day: datetime) -> tuple[int, int, dict[str, int]]:
        with db.transaction() as session:
            summary = reports.summary(session, workspace, ReportQuery(day.date(), day.date()))
        by_goal = {row.goal: row.conversations for row in summary.by_goal if row.conversations}
        return summary.totals.conversations, summary.totals.converting_conversations, by_goal

    send(item(0, "conversation_started", "e-1", **chat), item(1, "signup", "e-2", **chat))
    assert counted(NOW) == (1, 0, {"signup": 1})
    with db.transaction() as session:
        goal = session.scalars(select(Goal).where(Goal.id == signup.id)).one()
        goals_service.update(session, goal, GoalUpdate(kind="conversion"), actor=actor, now=NOW)
    send(item(2, "signup", "e-3", **chat))
    assert counted(NOW) == (1, 1, {"signup": 1})
    send(item(3, "signup", "e-4", **chat), item(4, "purchase", "e-5", **chat))
    assert counted(NOW) == (1, 1, {"signup": 1, "purchase": 1})
    day_before = NOW - timedelta(days=1)
    send(item(5, "message_sent", "e-6", **chat | {"timestamp": day_before}))
    assert counted(NOW) == (0, 0, {})
    assert counted(day_before) == (1, 1, {"signup": 1, "purchase": 1})


def test_writers_crediting_one_chat_at_once_count_it_once(db: Database) -> None:
    """Two transactions credit the same chat with the same goal, under two attributions, at once (two
    services side by side): the second waits for the first to commit, then reads its marks, so the chat
    is counted once as converting and once for the goal. On PostgreSQL the first holds the chat's row
    (`rollups._marks_before`); on SQLite, the write lock."""
    workspace = shop(db)
    chat = {"conversation_id": "c-1", "flow_id": "sales", "source": Source.WIDGET}
    with db.transaction() as session:
        ingest(
            session,
            Batch(workspace.id, [item(0, "conversation_started", "e-1", **chat)], NOW),
            GoalIndex(),
            STAGES,
        )

    def in_chat() -> None:
        with db.transaction() as session:
            batch = Batch(workspace.id, [item(2, "purchase", "e-3", contact_id=None, **chat)], NOW)
            (outcome,) = ingest(session, batch, GoalIndex(), STAGES).results[0].outcomes
            assert outcome.attribution == "conversation"

    second = threading.Thread(target=in_chat)
    with db.transaction() as session:
        # The day after: no rollup row is shared with the other, which would make it wait there.
        later = item(1, "purchase", "e-2", timestamp=NOW + timedelta(days=1))
        answer = ingest(session, Batch(workspace.id, [later], NOW), GoalIndex(), STAGES)
        assert [o.attribution for o in answer.results[0].outcomes] == ["window"]
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive()  # waiting for this transaction
    second.join(timeout=30)
    assert not second.is_alive()
    with db.transaction() as session:
        summary = reports.summary(session, workspace, ReportQuery(NOW.date(), NOW.date()))
    assert summary.totals.converting_conversations == 1
    assert [(row.goal, row.conversations) for row in summary.by_goal] == [("purchase", 1)]
