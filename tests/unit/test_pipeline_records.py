"""The pipeline's typed records, without a database: the outcome record as a row and as the API shows it,
the answer written from what was recorded, the preparation consulted as a cache, and the conversation
changes that move a chat in the rollups."""

from __future__ import annotations

import pickle
import uuid
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from comerix.analytics import rollups
from comerix.conversions import records
from comerix.conversions.attribution import AttributionKind
from comerix.conversions.models import Outcome
from comerix.conversions.records import OutcomeRecord
from comerix.db.bulk import Codec
from comerix.goals.index import GoalSpec, StepSpec, WorkspaceGoals
from comerix.goals.rules import ValueRule
from comerix.ingestion import STAGES
from comerix.telemetry.batches import NOT_PREPARED, Batch, prepare
from comerix.telemetry.pipeline import ConversationChange, Place, Recorded, Rejection, answer
from comerix.telemetry.schemas import Item, OutcomeRead
from comerix.vocabulary import BaseValueSource, GoalKind, GoalStatus, Source, ValueMode

NOW = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
WORKSPACE = uuid.UUID(int=1)


def outcome(**changes: object) -> OutcomeRecord:
    values: dict[str, object] = {
        "workspace_id": WORKSPACE,
        "id": uuid.UUID(int=2),
        "goal_id": uuid.UUID(int=3),
        "goal_code": "purchase",
        "kind": GoalKind.CONVERSION,
        "event_ref": uuid.UUID(int=4),
        "occurred_at": NOW,
        "recorded_at": NOW,
        "value": Decimal("12.50"),
        "currency": "EUR",
        "base_value": Decimal("12.50"),
        "base_currency": "EUR",
        "base_value_source": BaseValueSource.SAME_CURRENCY,
        "fx_rate": None,
        "fx_date": None,
        "value_error": None,
        "attribution": AttributionKind.WINDOW,
        "conversation_id": "chat-1",
        "flow_id": None,
        "contact_id": "c-1",
        "source": Source.SERVER,
    }
    values.update(changes)
    return OutcomeRecord(**values)  # type: ignore[arg-type]


def item(index: int, name: str = "purchase", **changes: object) -> Item:
    values: dict[str, object] = {
        "index": index,
        "event_id": f"e-{index}",
        "name": name,
        "timestamp": NOW,
        "conversation_id": None,
        "contact_id": None,
        "flow_id": None,
        "properties": {"total": "10.00"},
        "goal_code": None,
        "source": Source.WIDGET,
    }
    values.update(changes)
    return Item(**values)  # type: ignore[arg-type]


def goals(revision: int) -> WorkspaceGoals:
    purchase = GoalSpec(
        id=uuid.UUID(int=3),
        code="purchase",
        kind=GoalKind.CONVERSION,
        status=GoalStatus.ACTIVE,
        trigger_event="purchase",
        match_conditions={},
        value_rule=ValueRule(ValueMode.NONE),
        attribution_window_hours=24,
    )
    return WorkspaceGoals.build(revision, [purchase])


def test_the_record_names_every_column_of_outcomes_once() -> None:
    assert set(records.COLUMNS) == {column.key for column in Outcome.__table__.columns}
    assert len(set(records.COLUMNS)) == len(records.COLUMNS)


def test_a_record_becomes_a_row_in_each_backends_terms() -> None:
    (sqlite,) = records.rows([outcome()], Codec("sqlite"))
    row = dict(zip(records.COLUMNS, sqlite, strict=True))
    assert row["id"] == uuid.UUID(int=2).hex
    assert row["occurred_at"] == "2026-12-06 23:30:00.000000"
    assert (row["value"], row["kind"], row["attribution"], row["source"]) == (
        "12.50",
        "conversion",
        "window",
        "server",
    )
    assert type(row["kind"]) is str  # a driver may write an Enum by its name
    assert (row["base_value_source"], row["fx_rate"], row["fx_date"]) == ("same_currency", None, None)
    (postgresql,) = records.rows([outcome(value=None, base_value_source=None)], Codec("postgresql"))
    row = dict(zip(records.COLUMNS, postgresql, strict=True))
    assert (row["id"], row["value"], row["occurred_at"]) == (uuid.UUID(int=2), None, NOW)
    assert row["base_value_source"] is None
    rate = {
        "base_value_source": BaseValueSource.RATE,
        "fx_rate": Decimal("1.0956"),
        "fx_date": date(2024, 1, 2),
    }
    (converted,) = records.rows([outcome(**rate)], Codec("sqlite"))
    row = dict(zip(records.COLUMNS, converted, strict=True))
    assert (row["base_value_source"], row["fx_rate"], row["fx_date"]) == ("rate", "1.0956", "2024-01-02")


def test_what_was_recorded_crosses_a_pipe_unchanged() -> None:
    berlin = datetime(2026, 12, 7, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    recorded = Recorded(
        {1: Rejection.DUPLICATE}, {0: (outcome(), outcome(occurred_at=berlin, value=Decimal("1E+2")))}
    )
    back = pickle.loads(pickle.dumps(recorded))  # noqa: S301 - pickled just above
    assert back == recorded
    assert back.rejected[1] is Rejection.DUPLICATE
    first, second = back.outcomes[0]
    assert (type(first.kind), type(first.attribution), type(first.source)) == (
        GoalKind,
        AttributionKind,
        Source,
    )
    assert (first.occurred_at.utcoffset(), second.occurred_at.utcoffset()) == (
        timedelta(0),
        timedelta(hours=1),
    )
    assert str(second.value) == "1E+2"


def test_the_api_shows_the_public_fields_of_the_record() -> None:
    shown = OutcomeRead.of(outcome())
    assert [f.name for f in fields(OutcomeRead)] == [
        "id", "goal", "kind", "occurred_at", "value", "currency", "base_value", "base_currency",
        "base_value_source", "fx_rate", "fx_date", "value_error", "attribution", "conversation_id",
        "flow_id", "contact_id", "source",
    ]  # fmt: skip
    assert (shown.id, shown.goal, shown.attribution) == (str(uuid.UUID(int=2)), "purchase", "window")


def test_the_answer_says_per_item_what_was_recorded_and_why_not() -> None:
    batch = Batch(
        WORKSPACE,
        [item(0), item(1), item(2, goal_code="old"), item(3, goal_code="later")],
        NOW,
    )
    recorded = Recorded(
        {1: Rejection.DUPLICATE, 2: Rejection.GOAL_ARCHIVED, 3: Rejection.GOAL_PAUSED},
        {0: (outcome(), outcome(goal_code="any_sale"))},
    )
    result = answer(batch, recorded)
    assert (result.accepted, result.duplicates) == (1, 1)
    assert [(r.status, r.reason) for r in result.results] == [
        ("accepted", None),
        ("duplicate", None),
        ("ignored", "goal 'old' is archived; it records nothing"),
        ("ignored", "goal 'later' is paused; it records nothing"),
    ]
    assert [o.goal for o in result.results[0].outcomes] == ["purchase", "any_sale"]


def test_a_preparation_is_taken_only_while_the_goals_are_the_same_revision() -> None:
    batch = prepare(Batch(WORKSPACE, [item(0), item(1, "viewed")], NOW), goals(7), "sqlite")
    assert batch.prepared.achieved == {0: ("purchase",)}
    batch.prepared.achieved.clear()  # what was found ahead is the word taken, while still true
    assert batch.prepared.goals_for(batch.items[0], goals(7)) == []
    assert [g.code for g in batch.prepared.goals_for(batch.items[0], goals(8))] == ["purchase"]
    assert [g.code for g in NOT_PREPARED.goals_for(batch.items[0], goals(7))] == ["purchase"]


def booking_goals(revision: int) -> WorkspaceGoals:
    """A multi-step `booking`: `asked` (start) → `paid` (completion), both on the event `booking`."""

    def step(key: str, position: int, **conditions: object) -> StepSpec:
        return StepSpec(
            key, position, position, "booking", conditions, position == 1, 0, Decimal(0), Decimal(0), False
        )

    booking = GoalSpec(
        id=uuid.UUID(int=5),
        code="booking",
        kind=GoalKind.CONVERSION,
        status=GoalStatus.ACTIVE,
        trigger_event=None,
        match_conditions={},
        value_rule=ValueRule(ValueMode.NONE),
        attribution_window_hours=24,
        steps=(step("asked", 0), step("paid", 1, paid=True)),
    )
    return WorkspaceGoals.build(revision, [booking])


def test_the_steps_an_item_reaches_are_prepared_and_taken_while_the_same_revision() -> None:
    items = [item(0, "booking", properties={"paid": True}), item(1, "booking"), item(2, "viewed")]
    batch = prepare(Batch(WORKSPACE, items, NOW), booking_goals(3), "sqlite")
    both = (("booking", "asked", True), ("booking", "paid", False))
    assert batch.prepared.reached == {0: both, 1: (("booking", "asked", True),)}
    assert tuple(NOT_PREPARED.steps_for(batch.items[0], booking_goals(3))) == both
    batch.prepared.reached.clear()  # what was found ahead is the word taken, while still true
    assert tuple(batch.prepared.steps_for(batch.items[0], booking_goals(3))) == ()
    assert tuple(batch.prepared.steps_for(batch.items[0], booking_goals(4))) == both


def test_prepared_rows_are_taken_only_for_the_backend_they_were_written_for() -> None:
    batch = prepare(Batch(WORKSPACE, [item(0)], NOW), goals(1), "sqlite")
    assert batch.prepared.event_rows(batch, Codec("sqlite")) is batch.prepared.events
    (row,) = batch.prepared.event_rows(batch, Codec("postgresql"))
    assert (row[0], row[4]) == (WORKSPACE, NOW)


def test_catalogue_names_are_taken_only_when_every_item_was_stored() -> None:
    batch = prepare(Batch(WORKSPACE, [item(0), item(1)], NOW), goals(1), "sqlite")
    assert batch.prepared.names_of(batch, batch.items) == {"purchase": (2, frozenset({"total"}))}
    assert batch.prepared.names_of(batch, batch.items[:1]) == {"purchase": (1, frozenset({"total"}))}


def test_a_conversation_moves_in_the_rollups_only_to_another_local_day_or_flow() -> None:
    start = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    new = ConversationChange("new", None, Place(start, None))
    same_day = ConversationChange("same", Place(start, "f"), Place(start - timedelta(minutes=30), "f"))
    next_day = ConversationChange("next", Place(start, "f"), Place(start - timedelta(hours=25), "f"))
    flow = ConversationChange("flow", Place(start, None), Place(start, "checkout"))
    moved = rollups.moves([new, same_day, next_day, flow], "Europe/Berlin")
    assert [(m.conversation_id, m.before, m.after) for m in moved] == [
        ("new", None, rollups.ConversationKey(start.date(), "")),
        (
            "next",
            rollups.ConversationKey(start.date(), "f"),
            rollups.ConversationKey(start.date() - timedelta(days=1), "f"),
        ),
        (
            "flow",
            rollups.ConversationKey(start.date(), ""),
            rollups.ConversationKey(start.date(), "checkout"),
        ),
    ]


def test_the_stages_write_in_the_order_every_writer_locks_in() -> None:
    """Writers of several services on one PostgreSQL take their locks in the order of the stages: the
    rows of the conversation rollups before the conversations they count, the cycles of multi-step
    goals after the conversations and before their rollups and the outcomes their completions record,
    the outcome rollups and the marks after the outcomes, the executed steps and the paths right after
    the conversations that lock them, and the rows every group of a workspace shares (the step path
    rollups, the step catalogue, the event-name catalogue) last."""
    order = [f"{stage.__module__.rsplit('.', 1)[-1]}.{stage.__name__}" for stage in STAGES]
    assert order == [
        "stages.validate",
        "stages.dedupe",
        "stages.conversation",
        "rollups.count_conversation_changes",
        "stages.store_conversations",
        "steps.record_steps",
        "stages.match",
        "cycles.advance",
        "cycle_rollups.count_cycle_changes",
        "stages.value",
        "stages.attribute",
        "stages.record",
        "stages.persist",
        "rollups.count_outcome_records",
        "step_rollups.count_steps",
        "catalogue.catalogue",
    ]
