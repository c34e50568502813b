"""The demo's two multi-step processes, built through the real pipeline on each backend: cycles that
stop at every step, partial and completed ones with their metrics, and bookings completed both in the
chat and by the deposit the shop's backend reports.

These depend on the ingestion of cycles (`telemetry.cycles`), and the deposits on its joining a server
item with no conversation to its contact's chat by §3's window rule.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix import demo
from comerix.conversions.models import GoalCycle, Outcome
from comerix.db import Database
from comerix.demo.processes import FITTING_BOOKING, PROCESS_GOALS, RETURN_HANDLED
from comerix.goals.models import Goal, GoalStep
from comerix.goals.schemas import GoalCreate
from comerix.models import metadata
from comerix.vocabulary import CycleState, Source

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SCALE = 0.1  # about 6,000 events: a few dozen bookings, some paid by deposit


@dataclass(frozen=True)
class Cycle:
    conversation_id: str
    state: CycleState
    steps: frozenset[str]  # the keys of the steps reached
    time_saved_seconds: int
    cost_savings: Decimal
    revenue_earned: Decimal
    completed_by: Source | None  # the source of the event that reached its completion step
    outcome: str | None  # the conversation its outcome was credited to


@pytest.fixture(scope="module")
def cycles(database: Database) -> Iterator[dict[str, list[Cycle]]]:
    """The cycles of the demo's process goals by goal code, read once; the tables emptied after."""
    try:
        with database.transaction() as session:
            login = demo.create(session, now=NOW)
        demo.load_traffic(database, login.workspace_id, NOW, scale=SCALE)
        with database.transaction() as session:
            yield _read(session, login.workspace_id)
    finally:
        with database.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


def _read(session: Session, workspace_id: uuid.UUID) -> dict[str, list[Cycle]]:
    codes = dict(session.execute(select(Goal.id, Goal.code).where(Goal.workspace_id == workspace_id)).all())
    keys = {
        (step.goal_id, step.slot): step.key
        for step in session.scalars(select(GoalStep).where(GoalStep.workspace_id == workspace_id))
    }
    outcomes = {
        outcome.id: (outcome.conversation_id, outcome.source)
        for outcome in session.scalars(select(Outcome).where(Outcome.workspace_id == workspace_id))
    }
    found: dict[str, list[Cycle]] = defaultdict(list)
    for row in session.scalars(select(GoalCycle).where(GoalCycle.workspace_id == workspace_id)):
        found[codes[row.goal_id]].append(
            Cycle(
                conversation_id=row.conversation_id,
                state=row.state,
                steps=frozenset(keys[(row.goal_id, int(slot))] for slot in row.reached_at),
                time_saved_seconds=row.time_saved_seconds,
                cost_savings=row.cost_savings,
                revenue_earned=row.revenue_earned,
                completed_by=None if row.outcome_id is None else outcomes[row.outcome_id][1],
                outcome=None if row.outcome_id is None else outcomes[row.outcome_id][0],
            )
        )
    return found


def stopped_at(goal: GoalCreate, cycle: Cycle) -> str:
    """The last step, in the goal's order, that a cycle not completed reached: where it dropped off."""
    return [step.key for step in goal.steps if step.key in cycle.steps][-1]


@pytest.mark.parametrize("goal", PROCESS_GOALS, ids=lambda goal: goal.code)
def test_each_process_has_incomplete_partial_and_completed_cycles(
    cycles: dict[str, list[Cycle]], goal: GoalCreate
) -> None:
    states = Counter(cycle.state for cycle in cycles[goal.code])
    assert set(states) == set(CycleState)
    assert states[CycleState.COMPLETED] < states[CycleState.INCOMPLETE] + states[CycleState.PARTIAL]


@pytest.mark.parametrize("goal", PROCESS_GOALS, ids=lambda goal: goal.code)
def test_each_process_drops_off_at_every_step_before_its_completions(
    cycles: dict[str, list[Cycle]], goal: GoalCreate
) -> None:
    dropped = Counter(stopped_at(goal, c) for c in cycles[goal.code] if c.state is not CycleState.COMPLETED)
    before_completion = {step.key for step in goal.steps if not step.completion}
    assert set(dropped) == before_completion


@pytest.mark.parametrize("goal", PROCESS_GOALS, ids=lambda goal: goal.code)
def test_metrics_count_for_partial_and_completed_cycles_only(
    cycles: dict[str, list[Cycle]], goal: GoalCreate
) -> None:
    worth = {step.key: step for step in goal.steps}
    for cycle in cycles[goal.code]:
        if cycle.state is CycleState.INCOMPLETE:
            assert cycle.steps == {goal.steps[0].key}
            assert (cycle.time_saved_seconds, cycle.revenue_earned) == (0, Decimal(0))
            continue
        assert cycle.time_saved_seconds == sum(worth[key].time_saved_seconds for key in cycle.steps)
        assert cycle.cost_savings == sum(worth[key].cost_savings for key in cycle.steps)
        assert cycle.revenue_earned == sum(worth[key].revenue_earned for key in cycle.steps)


@pytest.mark.parametrize("goal", PROCESS_GOALS, ids=lambda goal: goal.code)
def test_each_completed_cycle_records_one_outcome_for_its_conversation(
    cycles: dict[str, list[Cycle]], goal: GoalCreate
) -> None:
    for cycle in cycles[goal.code]:
        assert cycle.outcome == (cycle.conversation_id if cycle.state is CycleState.COMPLETED else None)
        assert (cycle.completed_by is not None) == (cycle.state is CycleState.COMPLETED)


def test_bookings_complete_in_the_chat_and_by_the_backends_deposit(cycles: dict[str, list[Cycle]]) -> None:
    """Depends on the ingestion joining a server item to its contact's chat by the window rule."""
    completed = [c for c in cycles[FITTING_BOOKING.code] if c.state is CycleState.COMPLETED]
    by = Counter((c.completed_by, frozenset(c.steps & {"confirmed", "deposit_paid"})) for c in completed)
    assert set(by) == {
        (Source.WIDGET, frozenset({"confirmed"})),
        (Source.SERVER, frozenset({"deposit_paid"})),
    }
    paid = [c for c in completed if c.completed_by is Source.SERVER]
    assert all(c.revenue_earned == Decimal("45.00") for c in paid)  # the deposit step's revenue


def test_returns_complete_by_a_label_or_an_exchange(cycles: dict[str, list[Cycle]]) -> None:
    completed = [c for c in cycles[RETURN_HANDLED.code] if c.state is CycleState.COMPLETED]
    ends = Counter(c.steps & {"label_created", "exchange_ordered"} for c in completed)
    assert set(ends) == {frozenset({"label_created"}), frozenset({"exchange_ordered"})}
    assert all(c.completed_by is Source.WIDGET for c in completed)
