"""The goals report's arithmetic (SPEC §9): a pure fold from the rows `goal_reports` reads to the answer.

No I/O: the rows and the workspace's multi-step goals come in as plain values, so every figure can be
checked without a database (tests/unit/test_goal_report_fold.py).

Definitions (held by tests/integration/test_goal_reports.py against a naive recomputation from the
stored cycles and their steps):
- a cycle counts in the local day it started (and in its flow, when filtered); `started`: the cycles
  of the range, `incomplete`, `partial` and `completed` by their state now;
- `completion_rate` (completed / started) and a step's `share` (reached / started): to 4 decimal
  places, half even, and 0 without cycles, as the summary's `conversion_rate`;
- the metrics: sums over the partial and completed cycles (an incomplete cycle's are 0), money in the
  workspace's base currency;
- the funnel, per step in the goal's current order, retired steps included (flagged): `reached`,
  the cycles whose mask holds the step's slot; `drop_off`, the cycles not completed whose last step
  reached, in that order, is this one.
Listed: every multi-step goal that is active, and the paused or archived ones with cycles in the range;
with a goal filter, that goal whatever its status (its page shows its funnel even once archived).
Primary goals first, then by name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from comerix.analytics.schemas import CyclePoint, FunnelStep, GoalCycles, GoalsReport
from comerix.money import from_micros
from comerix.vocabulary import CycleState, GoalStatus, StepType

if TYPE_CHECKING:  # only read here: importing it would load the database layer into the pure fold
    from comerix.analytics.report_query import ReportQuery

RATE_PLACES = 4
STATES = (CycleState.INCOMPLETE.value, CycleState.PARTIAL.value, CycleState.COMPLETED.value)  # a `DayRow`'s


@dataclass(frozen=True, slots=True)
class ReportStep:
    """A step of a multi-step goal as the report shows it."""

    key: str
    name: str
    slot: int  # its bit in a cycle's `reached` mask
    completion: bool
    retired: bool


@dataclass(frozen=True, slots=True)
class CycleGoal:
    """A multi-step goal as the report shows it, its steps in their current order."""

    code: str
    name: str
    status: GoalStatus
    is_primary: bool
    steps: tuple[ReportStep, ...]


@dataclass(frozen=True, slots=True)
class MaskRow:
    """Cycles of one goal started in the range (of all flows, or the query's) in one state, with one
    mask of steps reached, and their metrics. Rows that share these keys are added up."""

    goal_id: str  # hex
    state: str
    reached: int
    cycles: int
    time_saved_seconds: int
    cost_savings: int  # millionths of the base currency
    revenue_earned: int  # millionths of the base currency


@dataclass(frozen=True, slots=True)
class DayRow:
    """Cycles of one goal started on one local day of the range, by their state, for the series."""

    goal_id: str  # hex
    day: date
    incomplete: int
    partial: int
    completed: int


@dataclass(frozen=True)
class CycleRows:
    """Everything the fold reads, one field per query of `goal_reports`."""

    masks: Sequence[MaskRow] = ()
    days: Sequence[DayRow] = ()


@dataclass
class _Tally:
    """One goal's rows added up: per (state, mask) for the counts and the funnel, per period for the
    series, and the metrics."""

    masks: defaultdict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    series: defaultdict[date, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    time_saved_seconds: int = 0
    cost_savings: int = 0
    revenue_earned: int = 0

    def started(self, state: str | None = None) -> int:
        return sum(n for (s, _), n in self.masks.items() if state is None or s == state)

    def add(self, row: MaskRow) -> None:
        self.masks[(row.state, row.reached)] += row.cycles
        if row.state != CycleState.INCOMPLETE.value:
            self.time_saved_seconds += row.time_saved_seconds
            self.cost_savings += row.cost_savings
            self.revenue_earned += row.revenue_earned


def fold(
    query: ReportQuery,
    rows: CycleRows,
    goals: Mapping[str, CycleGoal],
    *,
    timezone: str,
    base_currency: str,
) -> GoalsReport:
    """The goals report of `query` from its rows. `goals` holds every multi-step goal of the workspace
    by id (hex); rows of other goals are left out, and so are rows whose cycles have all moved on (a
    count of 0)."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for mask in rows.masks:
        if mask.cycles and mask.goal_id in goals:
            tallies[mask.goal_id].add(mask)
    period_of: dict[date, date] = {}
    for day in rows.days:
        if day.goal_id in tallies:
            period = period_of.get(day.day)
            if period is None:
                period = period_of[day.day] = query.interval.start_of(day.day)
            counts = tallies[day.goal_id].series[period]
            counts[0] += day.incomplete
            counts[1] += day.partial
            counts[2] += day.completed
    shown = [
        (goal_id, goal) for goal_id, goal in goals.items() if _shown(query, goal_id, goal, goal_id in tallies)
    ]
    shown.sort(key=lambda item: (not item[1].is_primary, item[1].name, item[1].code))
    periods = query.periods()
    return GoalsReport.model_validate(
        {
            "from": query.start,
            "to": query.end,
            "timezone": timezone,
            "base_currency": base_currency,
            "interval": query.interval.value,
            "filters": {"goal": query.goal.code if query.goal else None, "flow": query.flow},
            "goals": [
                _goal(goal, tallies.get(goal_id) or _Tally(), periods, base_currency)
                for goal_id, goal in shown
            ],
        }
    )


def _shown(query: ReportQuery, goal_id: str, goal: CycleGoal, has_cycles: bool) -> bool:
    if query.goal is not None:
        return goal_id == query.goal.id.hex
    return has_cycles or goal.status is GoalStatus.ACTIVE


def _goal(goal: CycleGoal, tally: _Tally, periods: list[date], base_currency: str) -> GoalCycles:
    started, completed = tally.started(), tally.started(CycleState.COMPLETED.value)
    return GoalCycles(
        goal=goal.code,
        name=goal.name,
        status=goal.status.value,
        is_primary=goal.is_primary,
        started=started,
        incomplete=tally.started(CycleState.INCOMPLETE.value),
        partial=tally.started(CycleState.PARTIAL.value),
        completed=completed,
        completion_rate=rate(completed, started),
        time_saved_seconds=tally.time_saved_seconds,
        cost_savings=from_micros(tally.cost_savings, base_currency),
        revenue_earned=from_micros(tally.revenue_earned, base_currency),
        funnel=funnel(goal.steps, tally.masks, started),
        series=[_point(period, tally.series.get(period)) for period in periods],
    )


def _point(period: date, counts: list[int] | None) -> CyclePoint:
    incomplete, partial, completed = counts or (0, 0, 0)
    return CyclePoint(period=period, incomplete=incomplete, partial=partial, completed=completed)


def funnel(
    steps: tuple[ReportStep, ...], masks: Mapping[tuple[str, int], int], started: int
) -> list[FunnelStep]:
    """Each step in order: the cycles that reached it, their share of those started, and the cycles not
    completed that stopped there (whose last step reached, in this order, is this one). Masks are few
    (a row per combination of steps seen), so each is read once against every step."""
    reached = [0] * len(steps)
    dropped = [0] * len(steps)
    for (state, mask), cycles in masks.items():
        last = None
        for position, step in enumerate(steps):
            if mask >> step.slot & 1:
                reached[position] += cycles
                last = position
        if last is not None and state != CycleState.COMPLETED.value:
            dropped[last] += cycles
    return [
        FunnelStep(
            key=step.key,
            name=step.name,
            type=_type(position, step).value,
            retired=step.retired,
            reached=reached[position],
            share=rate(reached[position], started),
            drop_off=dropped[position],
        )
        for position, step in enumerate(steps)
    ]


def _type(position: int, step: ReportStep) -> StepType:
    if position == 0:
        return StepType.START
    return StepType.COMPLETION if step.completion else StepType.STEP


def rate(part: int, whole: int) -> Decimal:
    """part / whole to `RATE_PLACES` decimal places, rounded half even, exactly (integer arithmetic);
    0 when whole is 0."""
    if not whole:
        return Decimal(0).scaleb(-RATE_PLACES)
    quotient, remainder = divmod(part * 10**RATE_PLACES, whole)
    if 2 * remainder > whole or (2 * remainder == whole and quotient % 2):
        quotient += 1
    return Decimal(quotient).scaleb(-RATE_PLACES)
