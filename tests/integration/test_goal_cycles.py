"""The cycles of multi-step goals through the real pipeline (`pipeline.ingest_group` with the service's
stages), on each backend: steps moved in arrival order, one outcome per completion with the right value
and attribution, explicit steps, paused goals and retired steps, retries and batch splits."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from comerix.auth.service import Principal, principal_of
from comerix.conversions.models import GoalCycle, Outcome, step_time
from comerix.db import Database
from comerix.errors import Invalid
from comerix.goals import service as goals_service
from comerix.goals.index import GoalIndex
from comerix.goals.models import Goal, GoalStep
from comerix.goals.schemas import GoalUpdate
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch, prepare
from comerix.telemetry.models import Conversation
from comerix.telemetry.pipeline import ingest, ingest_group
from comerix.telemetry.schemas import IngestResult, Item
from comerix.vocabulary import CycleState, GoalStatus, Source
from comerix.workspaces.models import Workspace
from tests.factories import make_goal, make_multistep_goal, make_user, make_workspace, step_body

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = {"conversation_id": "c-1", "contact_id": "ann", "flow_id": "sales", "source": Source.WIDGET}


@dataclass(frozen=True)
class Shop:
    workspace: Workspace
    actor: Principal
    booking: Goal  # booking_started → details_given (60 s) → booking_paid (completion, 25.00 earned)


def shop(db: Database) -> Shop:
    """A workspace with a multi-step `booking` goal valued from `total` (EUR), and a single-step
    `purchase` goal."""
    with db.transaction() as session:
        workspace = make_workspace(session, NOW)
        actor = principal_of(make_user(session, workspace, NOW))
        booking = make_multistep_goal(
            session,
            actor,
            NOW,
            code="booking",
            value_mode="from_property",
            value_property="total",
            currency="EUR",
            attribution_window_hours=24,
        )
        make_goal(session, actor, NOW, code="purchase", trigger_event="purchase")
    return Shop(workspace, actor, booking)


def item(index: int, name: str, **fields: Any) -> Item:
    values: dict[str, Any] = {
        "index": index,
        "source": Source.SERVER,
        "name": name,
        "timestamp": NOW + timedelta(minutes=index),
        "event_id": f"e-{index}",
        "conversation_id": None,
        "contact_id": None,
        "flow_id": None,
        "properties": {"total": "25.00"},
    }
    return Item(**(values | fields))


def in_chat(index: int, name: str, **fields: Any) -> Item:
    return item(index, name, **(CHAT | fields))


def explicit(index: int, steps: tuple[str, ...] | None, goal: str = "booking", **fields: Any) -> Item:
    """A /conversions item that names its goal and the steps reached."""
    return item(index, f"goal:{goal}", goal_code=goal, steps=steps, **fields)


def send(db: Database, shop: Shop, *batches: list[Item]) -> list[IngestResult]:
    """The batches as one group, in one transaction."""
    with db.transaction() as session:
        answers = ingest_group(
            session, [Batch(shop.workspace.id, items, NOW) for items in batches], GoalIndex(), STAGES
        )
    for answer in answers:
        assert isinstance(answer, IngestResult), answer
    return [answer for answer in answers if isinstance(answer, IngestResult)]


def refused(db: Database, shop: Shop, *items: Item) -> list[tuple[int | None, str]]:
    with pytest.raises(Invalid) as caught, db.transaction() as session:
        ingest(session, Batch(shop.workspace.id, list(items), NOW), GoalIndex(), STAGES)
    return [(p.get("index"), p["field"]) for p in caught.value.details]


def cycles(db: Database, shop: Shop) -> list[GoalCycle]:
    with db.sessions() as session:
        query = select(GoalCycle).where(GoalCycle.workspace_id == shop.workspace.id)
        found = list(session.scalars(query.order_by(GoalCycle.id)))
        session.expunge_all()
    return found


def steps_of(db: Database, shop: Shop) -> list[tuple[str, str]]:
    """Each step reached, with the minute it was reached at, in order (of time, then of slot)."""
    with db.sessions() as session:
        steps = session.scalars(select(GoalStep).where(GoalStep.workspace_id == shop.workspace.id))
        keys = {(step.goal_id, step.slot): step.key for step in steps}
        query = select(GoalCycle).where(GoalCycle.workspace_id == shop.workspace.id)
        reached = [
            (at, slot, keys[(cycle.goal_id, slot)])
            for cycle in session.scalars(query)
            for slot, at in cycle.step_times().items()
        ]
        return [(key, at.strftime("%M")) for at, _, key in sorted(reached)]


def outcomes(db: Database, shop: Shop) -> list[Outcome]:
    with db.sessions() as session:
        query = select(Outcome).where(
            Outcome.workspace_id == shop.workspace.id, Outcome.goal_code == "booking"
        )
        found = list(session.scalars(query.order_by(Outcome.occurred_at)))
        session.expunge_all()
    return found


def bits(*slots: int) -> int:
    return sum(1 << slot for slot in slots)


def test_a_chat_completes_a_cycle_and_records_one_outcome(db: Database) -> None:
    shop_ = shop(db)
    (answer,) = send(
        db,
        shop_,
        [
            in_chat(0, "booking_started"),
            in_chat(1, "details_given"),
            in_chat(2, "booking_paid", properties={"total": "30.00"}),
        ],
    )
    assert [[o.goal for o in r.outcomes] for r in answer.results] == [[], [], ["booking"]]
    (shown,) = answer.results[2].outcomes
    assert (shown.value, shown.currency, shown.attribution, shown.conversation_id, shown.flow_id) == (
        Decimal("30.00"),
        "EUR",
        "conversation",
        "c-1",
        "sales",
    )
    (cycle,) = cycles(db, shop_)
    assert (cycle.state, cycle.reached, cycle.steps_reached) == (CycleState.COMPLETED, bits(0, 1, 2), 3)
    assert (cycle.conversation_id, cycle.open_for, cycle.contact_id, cycle.flow_id) == (
        "c-1",
        None,
        "ann",
        "sales",
    )
    assert (cycle.started_at, cycle.last_step_at, cycle.ended_at) == (
        NOW,
        NOW + timedelta(minutes=2),
        NOW + timedelta(minutes=2),
    )
    assert (cycle.time_saved_seconds, cycle.cost_savings, cycle.revenue_earned) == (60, 0, Decimal("25.00"))
    (outcome,) = outcomes(db, shop_)
    assert str(cycle.outcome_id) == shown.id == str(outcome.id)
    assert (outcome.kind, outcome.value, outcome.source) == ("conversion", Decimal("30.00"), Source.WIDGET)
    assert steps_of(db, shop_) == [("booking_started", "00"), ("details_given", "01"), ("booking_paid", "02")]


def test_a_cycles_contact_is_its_conversations(db: Database) -> None:
    """What finding a contact's cycles through their chats relies on (`contacts.service`): a cycle
    opened before the chat has a contact takes the contact the chat gets; one opened in a chat by an
    event of another contact takes the chat's; one joined by window is in its contact's chat."""
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started", contact_id=None)])
    send(db, shop_, [in_chat(1, "details_given")])
    send(db, shop_, [in_chat(2, "booking_started", conversation_id="c-2", contact_id="bob")])
    send(db, shop_, [in_chat(3, "details_given", conversation_id="c-2", contact_id="ann")])
    send(db, shop_, [item(4, "booking_paid", contact_id="bob")])
    with db.sessions() as session:
        query = select(Conversation.id, Conversation.contact_id)
        rows = session.execute(query.where(Conversation.workspace_id == shop_.workspace.id))
        chats = dict(rows.all())
    found = [(c.conversation_id, c.contact_id, c.state) for c in cycles(db, shop_)]
    assert found == [("c-1", "ann", CycleState.PARTIAL), ("c-2", "bob", CycleState.COMPLETED)]
    assert all(chats[chat] == contact for chat, contact, _ in found)


def test_an_incomplete_cycle_counts_no_metrics_and_a_partial_one_all_its_steps(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started")])
    (cycle,) = cycles(db, shop_)
    assert (cycle.state, cycle.open_for, cycle.time_saved_seconds) == (CycleState.INCOMPLETE, "c-1", 0)
    send(db, shop_, [in_chat(1, "details_given"), in_chat(2, "details_given", event_id="again")])
    (cycle,) = cycles(db, shop_)
    assert (cycle.state, cycle.steps_reached, cycle.time_saved_seconds) == (CycleState.PARTIAL, 2, 60)
    assert outcomes(db, shop_) == []


def test_a_server_conversion_completes_the_chats_cycle_by_window(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started"), in_chat(1, "details_given")])
    late = item(60, "booking_paid", contact_id="ann", properties={"total": "40"})  # an hour later
    stranger = item(61, "booking_paid", contact_id="bob")
    (answer,) = send(db, shop_, [late, stranger])
    (shown,) = answer.results[0].outcomes
    assert (shown.attribution, shown.conversation_id, shown.flow_id, shown.value) == (
        "window",
        "c-1",
        "sales",
        Decimal("40"),
    )
    assert answer.results[1].outcomes == []  # no chat of bob's: counts nowhere
    (cycle,) = cycles(db, shop_)
    assert (cycle.state, cycle.ended_at, str(cycle.outcome_id)) == (
        CycleState.COMPLETED,
        NOW + timedelta(minutes=60),
        shown.id,
    )


def test_a_server_conversion_outside_the_goals_window_counts_nowhere(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started")])
    (answer,) = send(db, shop_, [item(25 * 60, "booking_paid", contact_id="ann")])  # window: 24 h
    assert answer.results[0].outcomes == []
    assert [c.state for c in cycles(db, shop_)] == [CycleState.INCOMPLETE]


def test_the_window_joins_the_contacts_latest_chat_and_its_own_cycle(db: Database) -> None:
    shop_ = shop(db)
    send(
        db,
        shop_,
        [
            in_chat(0, "booking_started"),
            in_chat(1, "booking_started", conversation_id="c-2", flow_id="support"),
        ],
    )
    (answer,) = send(
        db, shop_, [item(5, "details_given", contact_id="ann"), item(6, "booking_paid", contact_id="ann")]
    )
    (shown,) = answer.results[1].outcomes
    assert (shown.conversation_id, shown.flow_id) == ("c-2", "support")
    assert {(c.conversation_id, c.state) for c in cycles(db, shop_)} == {
        ("c-1", CycleState.INCOMPLETE),
        ("c-2", CycleState.COMPLETED),
    }


def test_explicit_steps_move_the_cycle_in_the_order_named(db: Database) -> None:
    shop_ = shop(db)
    chat = {"conversation_id": "c-9", "contact_id": "ann"}
    (answer,) = send(db, shop_, [explicit(0, ("booking_started", "details_given"), **chat)])
    assert answer.results[0].outcomes == []
    (cycle,) = cycles(db, shop_)
    assert (cycle.state, cycle.reached) == (CycleState.PARTIAL, bits(0, 1))
    (answer,) = send(db, shop_, [explicit(1, ("booking_paid",), properties={"total": "12.5"}, **chat)])
    (shown,) = answer.results[0].outcomes
    assert (shown.goal, shown.value, shown.attribution, shown.source) == (
        "booking",
        Decimal("12.5"),
        "conversation",
        "server",
    )
    assert [c.state for c in cycles(db, shop_)] == [CycleState.COMPLETED]
    # named in this order, the completion comes before any cycle is open: it counts nowhere
    (answer,) = send(db, shop_, [explicit(2, ("booking_paid", "booking_started"), **chat)])
    assert answer.results[0].outcomes == []
    assert [c.state for c in cycles(db, shop_)] == [CycleState.COMPLETED, CycleState.INCOMPLETE]


def test_steps_named_wrong_refuse_the_whole_batch(db: Database) -> None:
    shop_ = shop(db)
    ok = in_chat(0, "booking_started")
    assert refused(db, shop_, ok, explicit(1, ("booking_started",), goal="purchase")) == [(1, "steps")]
    assert refused(db, shop_, ok, explicit(1, ("booking_started", "nope"))) == [(1, "steps[1]")]
    assert refused(db, shop_, ok, explicit(1, None)) == [(1, "steps")]
    retire(db, shop_, "details_given")
    assert refused(db, shop_, ok, explicit(1, ("details_given",))) == [(1, "steps[0]")]
    assert cycles(db, shop_) == []  # nothing of a refused batch is stored


def test_a_paused_goal_records_nothing_new_and_its_open_cycle_waits(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started")])
    set_status(db, shop_, GoalStatus.PAUSED)
    (answer,) = send(
        db, shop_, [in_chat(1, "details_given"), explicit(2, ("details_given",), conversation_id="c-1")]
    )
    assert [r.status for r in answer.results] == ["accepted", "ignored"]
    assert [(c.state, c.reached) for c in cycles(db, shop_)] == [(CycleState.INCOMPLETE, bits(0))]
    set_status(db, shop_, GoalStatus.ACTIVE)
    (answer,) = send(db, shop_, [in_chat(3, "booking_paid")])
    assert [o.goal for o in answer.results[0].outcomes] == ["booking"]
    assert [(c.state, c.reached) for c in cycles(db, shop_)] == [(CycleState.COMPLETED, bits(0, 2))]


def test_a_retired_step_matches_nothing_new_and_cycles_keep_it(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started"), in_chat(1, "details_given")])
    retire(db, shop_, "details_given")
    send(
        db,
        shop_,
        [
            in_chat(2, "booking_started", conversation_id="c-2"),
            in_chat(3, "details_given", conversation_id="c-2"),
        ],
    )
    by_chat = {c.conversation_id: (c.state, c.reached, c.time_saved_seconds) for c in cycles(db, shop_)}
    assert by_chat == {
        "c-1": (CycleState.PARTIAL, bits(0, 1), 60),
        "c-2": (CycleState.INCOMPLETE, bits(0), 0),
    }


def test_a_retried_event_moves_nothing_twice(db: Database) -> None:
    shop_ = shop(db)
    batch = [in_chat(0, "booking_started"), in_chat(1, "details_given"), in_chat(2, "booking_paid")]
    send(db, shop_, batch)
    (answer,) = send(db, shop_, batch)
    assert [r.status for r in answer.results] == ["duplicate"] * 3
    (_, again) = send(
        db,
        shop_,
        [in_chat(3, "booking_started", event_id="x")],
        [in_chat(3, "booking_started", event_id="x")],
    )
    assert [r.status for r in again.results] == ["duplicate"]
    assert [c.state for c in cycles(db, shop_)] == [CycleState.COMPLETED, CycleState.INCOMPLETE]
    assert len(outcomes(db, shop_)) == 1
    assert len(steps_of(db, shop_)) == 4


def test_a_cycle_completed_and_the_next_opened_in_one_group_are_both_stored(db: Database) -> None:
    """The stored cycle gives up its place (`open_for`) before the new one takes it."""
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started")])
    send(db, shop_, [in_chat(1, "booking_paid"), in_chat(2, "booking_started"), in_chat(3, "details_given")])
    assert [(c.state, c.open_for) for c in cycles(db, shop_)] == [
        (CycleState.COMPLETED, None),
        (CycleState.PARTIAL, "c-1"),
    ]
    assert len(outcomes(db, shop_)) == 1


def _journey() -> list[Item]:
    """Three chats and a server payment, with every kind of step: a completion with no cycle open,
    steps repeated and out of time order, a completion by window, the next cycle after a completion,
    a step with no cycle open, explicit steps."""
    other = {"conversation_id": "c-2", "contact_id": "bob", "flow_id": "support"}
    return [
        in_chat(0, "booking_paid"),  # no cycle open: counts nowhere
        in_chat(1, "booking_started"),
        item(2, "booking_started", **other),
        in_chat(3, "details_given", timestamp=NOW - timedelta(minutes=30)),
        in_chat(4, "details_given"),
        item(5, "booking_paid", **other),
        item(6, "booking_paid", contact_id="ann", properties={"total": "99"}),
        in_chat(7, "booking_started"),
        item(8, "details_given", **other),  # c-2's cycle is completed: counts nowhere
        explicit(9, ("booking_started", "details_given"), conversation_id="c-3", contact_id="cy"),
    ]


def _stored(db: Database, shop: Shop) -> list[tuple[Any, ...]]:
    found = [
        (
            c.conversation_id,
            c.open_for,
            c.contact_id,
            c.flow_id,
            c.started_at,
            c.last_step_at,
            c.ended_at,
            c.state,
            c.reached,
            c.steps_reached,
            c.time_saved_seconds,
            c.cost_savings,
            c.revenue_earned,
            c.outcome_id is not None,
        )
        for c in cycles(db, shop)
    ]
    paid = [(o.conversation_id, o.attribution, o.value) for o in outcomes(db, shop)]
    return [*sorted(found, key=repr), *sorted(paid, key=repr), *sorted(steps_of(db, shop))]


def test_batch_splits_store_the_same_cycles(db: Database) -> None:
    """One group of one batch, one group of a batch per item, a transaction per item, a prepared batch:
    the same cycles, steps and outcomes."""
    shops = [shop(db) for _ in range(4)]
    events = _journey()
    send(db, shops[0], events)
    send(db, shops[1], *([e] for e in events))
    for event in events:
        send(db, shops[2], [event])
    with db.transaction() as session:
        goals = GoalIndex().current(session, shops[3].workspace.id)
    assert goals is not None
    prepared = prepare(Batch(shops[3].workspace.id, events, NOW), goals, db.backend)
    assert prepared.prepared.reached[1] == (("booking", "booking_started", True),)
    with db.transaction() as session:
        ingest(session, prepared, GoalIndex(), STAGES)
    expected = _stored(db, shops[0])
    assert sorted((c.conversation_id, c.state, c.steps_reached) for c in cycles(db, shops[0])) == [
        ("c-1", CycleState.COMPLETED, 3),
        ("c-1", CycleState.INCOMPLETE, 1),
        ("c-2", CycleState.COMPLETED, 2),
        ("c-3", CycleState.PARTIAL, 2),
    ]
    assert ("c-1", "window", Decimal("99")) in expected
    for other in shops[1:]:
        assert _stored(db, other) == expected


def test_writers_opening_a_cycle_in_one_chat_at_once_open_one(db: Database) -> None:
    """Two transactions reach the start step in one chat at once, one by the chat's own event and one
    by a server item joining it by window: the second waits for the first (the chat's row on
    PostgreSQL, the write lock on SQLite), then finds its cycle open. One cycle, no error."""
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "conversation_started")])

    def by_window() -> None:
        send(db, shop_, [item(2, "booking_started", contact_id="ann")])

    second = threading.Thread(target=by_window)
    with db.transaction() as session:
        # no contact named: the chat's row is all this transaction holds that the other wants
        batch = Batch(shop_.workspace.id, [in_chat(1, "booking_started", contact_id=None)], NOW)
        ingest(session, batch, GoalIndex(), STAGES)
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive()  # waiting for this transaction
    second.join(timeout=30)
    assert not second.is_alive()
    assert [(c.state, c.started_at) for c in cycles(db, shop_)] == [
        (CycleState.INCOMPLETE, NOW + timedelta(minutes=1))
    ]
    assert steps_of(db, shop_) == [("booking_started", "01")]


def retire(db: Database, shop: Shop, key: str) -> None:
    with db.transaction() as session:
        goal = session.get_one(Goal, (shop.workspace.id, shop.booking.id))
        steps = [
            step_body("booking_started"),
            step_body("details_given", time_saved_seconds=60),
            step_body("booking_paid", completion=True, revenue_earned="25.00"),
        ]
        for step in steps:
            step["retired"] = step["key"] == key
        goals_service.update(
            session, goal, GoalUpdate.model_validate({"steps": steps}), actor=shop.actor, now=NOW
        )


def set_status(db: Database, shop: Shop, status: GoalStatus) -> None:
    with db.transaction() as session:
        goal = session.get_one(Goal, (shop.workspace.id, shop.booking.id))
        goals_service.set_status(session, goal, status, actor=shop.actor, now=NOW)


def test_single_step_goals_record_beside_multi_step_ones(db: Database) -> None:
    shop_ = shop(db)
    send(db, shop_, [in_chat(0, "booking_started"), in_chat(1, "booking_paid"), in_chat(2, "purchase")])
    with db.sessions() as session:
        codes = session.scalars(select(Outcome.goal_code).where(Outcome.workspace_id == shop_.workspace.id))
        assert sorted(codes) == ["booking", "purchase"]
        reached = select(GoalCycle.steps_reached).where(GoalCycle.workspace_id == shop_.workspace.id)
        assert session.scalars(reached).all() == [2]


def test_a_cycle_found_open_only_at_its_write_is_read_again(db: Database) -> None:
    """The group reads no cycles for a conversation it creates. Should one be open all the same (left
    by a conversation of that id deleted without it), the unique key refuses the new one, the stage's
    writes are undone and it reads the cycles again: no error, nothing lost, nothing twice."""
    shop_ = shop(db)
    with db.transaction() as session:
        session.add(
            GoalCycle(
                workspace_id=shop_.workspace.id,
                goal_id=shop_.booking.id,
                conversation_id="c-1",
                open_for="c-1",
                started_at=NOW,
                last_step_at=NOW,
                state=CycleState.INCOMPLETE,
                reached=bits(0),
                steps_reached=1,
                time_saved_seconds=0,
                cost_savings=Decimal(0),
                revenue_earned=Decimal(0),
                reached_at={"0": step_time(NOW)},
            )
        )
    (answer,) = send(
        db, shop_, [in_chat(1, "booking_started"), in_chat(2, "details_given"), in_chat(3, "purchase")]
    )
    assert [r.status for r in answer.results] == ["accepted"] * 3
    assert [len(r.outcomes) for r in answer.results] == [0, 0, 1]
    assert [(c.state, c.reached, c.started_at) for c in cycles(db, shop_)] == [
        (CycleState.PARTIAL, bits(0, 1), NOW)
    ]
    assert steps_of(db, shop_) == [("booking_started", "00"), ("details_given", "02")]
