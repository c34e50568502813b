"""The goals report's arithmetic (`analytics.goal_fold.fold`) on rows built by hand, and the deltas the
cycle rollup stage sums (`cycle_rollups.cycle_sums`, and `over_flows` for the rollup without flows): no
database. The integration tests hold the same
figures to stored cycles on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from comerix.analytics.cycle_rollups import CycleKey, CycleSums, DayKey, cycle_sums, over_flows
from comerix.analytics.goal_fold import CycleGoal, CycleRows, DayRow, MaskRow, ReportStep, fold, rate
from comerix.analytics.report_query import GoalFilter, Interval, ReportQuery
from comerix.analytics.schemas import GoalCycles, GoalsReport
from comerix.telemetry.pipeline import CycleChange, CycleTally
from comerix.vocabulary import CycleState, GoalKind, GoalStatus

BOOKING = uuid.UUID(int=1).hex
ORDER = uuid.UUID(int=2).hex
OLD = uuid.UUID(int=3).hex
# Booking's steps in their current order: `pay` (slot 3) was added last and moved before `confirm`;
# `quote` (slot 1) is retired.
BOOKING_STEPS = (
    ReportStep("ask", "Asked", 0, completion=False, retired=False),
    ReportStep("quote", "Quoted", 1, completion=False, retired=True),
    ReportStep("pay", "Paid", 3, completion=False, retired=False),
    ReportStep("confirm", "Confirmed", 2, completion=True, retired=False),
)
ORDER_STEPS = (
    ReportStep("cart", "Cart", 0, completion=False, retired=False),
    ReportStep("buy", "Bought", 1, completion=True, retired=False),
)
GOALS = {
    ORDER: CycleGoal("order", "Order", GoalStatus.ACTIVE, is_primary=False, steps=ORDER_STEPS),
    BOOKING: CycleGoal("booking", "Booking", GoalStatus.ACTIVE, is_primary=True, steps=BOOKING_STEPS),
    OLD: CycleGoal("old", "Archived flow", GoalStatus.ARCHIVED, is_primary=False, steps=ORDER_STEPS),
}
NOV = ReportQuery(date(2026, 11, 1), date(2026, 11, 30))


Cycles = tuple[MaskRow, DayRow]


def row(
    state: CycleState,
    reached: int,
    cycles: int = 1,
    *,
    goal_id: str = BOOKING,
    day: date = date(2026, 11, 2),
    seconds: int = 0,
    cost: str = "0",
    revenue: str = "0",
) -> Cycles:
    """Cycles as both queries read them: by mask with their metrics, and by day (a count per state)."""
    counts = [cycles if state is s else 0 for s in CycleState]
    return (
        MaskRow(goal_id, state.value, reached, cycles, seconds, micros(cost), micros(revenue)),
        DayRow(goal_id, day, *counts),
    )


def micros(amount: str) -> int:
    return int(Decimal(amount) * 1_000_000)


def report(
    rows: Sequence[Cycles], query: ReportQuery = NOV, goals: Mapping[str, CycleGoal] = GOALS
) -> GoalsReport:
    both = CycleRows(masks=[mask for mask, _ in rows], days=[day for _, day in rows])
    return fold(query, both, goals, timezone="Europe/Berlin", base_currency="EUR")


def entry(answer: GoalsReport, code: str) -> GoalCycles:
    (found,) = [goal for goal in answer.goals if goal.goal == code]
    return found


def test_states_rate_and_metrics_add_up() -> None:
    answer = report(
        [
            row(CycleState.INCOMPLETE, 0b0001, 3),
            row(CycleState.INCOMPLETE, 0b0001, 1, day=date(2026, 11, 9)),  # same key, another day
            row(CycleState.PARTIAL, 0b1001, 2, seconds=120, cost="0.10", revenue="0"),
            row(CycleState.COMPLETED, 0b1101, 2, seconds=600, cost="1.005", revenue="19.99"),
        ]
    )
    booking = entry(answer, "booking")
    assert (booking.started, booking.incomplete, booking.partial, booking.completed) == (8, 4, 2, 2)
    assert str(booking.completion_rate) == "0.2500"
    assert booking.time_saved_seconds == 720
    # money keeps every digit it has, and at least the currency's two
    assert (str(booking.cost_savings), str(booking.revenue_earned)) == ("1.105", "19.99")


def test_an_incomplete_cycles_metrics_are_not_counted() -> None:
    answer = report([row(CycleState.INCOMPLETE, 0b0001, 5, seconds=30, cost="2", revenue="3")])
    booking = entry(answer, "booking")
    assert (booking.time_saved_seconds, str(booking.cost_savings), str(booking.revenue_earned)) == (
        0,
        "0.00",
        "0.00",
    )


def test_the_funnel_follows_the_current_order_of_the_steps() -> None:
    answer = report(
        [
            row(CycleState.INCOMPLETE, 0b0001, 4),  # stopped at ask
            row(CycleState.PARTIAL, 0b0011, 3),  # ask, quote: stopped at quote
            row(CycleState.PARTIAL, 0b1001, 2),  # ask, pay: stopped at pay
            row(CycleState.PARTIAL, 0b1011, 1),  # ask, quote, pay: stopped at pay
            row(CycleState.COMPLETED, 0b0101, 5),  # ask, confirm (pay skipped): completed, no drop-off
            row(CycleState.COMPLETED, 0b1111, 5),
        ]
    )
    funnel = [
        (s.key, s.type, s.retired, s.reached, str(s.share), s.drop_off)
        for s in entry(answer, "booking").funnel
    ]
    assert funnel == [
        ("ask", "start", False, 20, "1.0000", 4),
        ("quote", "step", True, 9, "0.4500", 3),
        ("pay", "step", False, 8, "0.4000", 3),
        ("confirm", "completion", False, 10, "0.5000", 0),
    ]


def test_a_cycle_that_did_not_reach_the_start_step_drops_off_at_its_last_step() -> None:
    """A step reached out of order (the start step reordered after cycles began) still counts where it
    stands now: the last step reached in the current order holds the drop-off."""
    funnel = entry(report([row(CycleState.PARTIAL, 0b1000, 2)]), "booking").funnel
    assert [(s.key, s.reached, s.drop_off) for s in funnel] == [
        ("ask", 0, 0),
        ("quote", 0, 0),
        ("pay", 2, 2),
        ("confirm", 0, 0),
    ]


def test_rows_whose_cycles_moved_on_count_nowhere() -> None:
    answer = report(
        [row(CycleState.INCOMPLETE, 0b0001, 0), row(CycleState.PARTIAL, 0b0011, 0, goal_id=OLD, day=NOV.end)]
    )
    assert [goal.goal for goal in answer.goals] == ["booking", "order"]  # the archived one has none
    booking = entry(answer, "booking")
    assert (booking.started, str(booking.completion_rate)) == (0, "0.0000")
    assert [str(step.share) for step in booking.funnel] == ["0.0000"] * 4


def test_active_goals_are_listed_and_others_only_with_cycles() -> None:
    answer = report([row(CycleState.COMPLETED, 0b11, 1, goal_id=OLD)])
    assert [goal.goal for goal in answer.goals] == ["booking", "old", "order"]  # primary, then by name
    assert [(goal.status, goal.started) for goal in answer.goals] == [
        ("active", 0),
        ("archived", 1),
        ("active", 0),
    ]


def test_a_goal_filter_shows_that_goal_whatever_its_status() -> None:
    query = ReportQuery(NOV.start, NOV.end, goal=GoalFilter(uuid.UUID(hex=OLD), "old", GoalKind.CONVERSION))
    answer = report([row(CycleState.COMPLETED, 0b11, 1, goal_id=BOOKING)], query)
    assert [(goal.goal, goal.started) for goal in answer.goals] == [("old", 0)]
    assert answer.filters == {"goal": "old", "flow": None}


def test_rows_of_goals_without_steps_are_left_out() -> None:
    single_step = uuid.UUID(int=9).hex
    answer = report([row(CycleState.COMPLETED, 0b11, 1, goal_id=single_step)])
    assert sum(goal.started for goal in answer.goals) == 0


def test_the_series_has_every_period_of_the_interval() -> None:
    query = ReportQuery(date(2026, 11, 4), date(2026, 11, 17), Interval.WEEK)
    answer = report(
        [
            row(CycleState.INCOMPLETE, 0b0001, 2, day=date(2026, 11, 4)),
            row(CycleState.COMPLETED, 0b0101, 1, day=date(2026, 11, 8)),
            row(CycleState.PARTIAL, 0b1001, 3, day=date(2026, 11, 16)),
        ],
        query,
    )
    series = [(p.period, p.incomplete, p.partial, p.completed) for p in entry(answer, "booking").series]
    assert series == [
        (date(2026, 11, 2), 2, 0, 1),  # the Monday that starts the week holding `from`
        (date(2026, 11, 9), 0, 0, 0),
        (date(2026, 11, 16), 0, 3, 0),
    ]
    assert [(p.period, p.completed) for p in entry(answer, "order").series] == [
        (date(2026, 11, 2), 0),
        (date(2026, 11, 9), 0),
        (date(2026, 11, 16), 0),
    ]


def test_the_answer_says_what_it_covers() -> None:
    answer = report([], ReportQuery(NOV.start, NOV.end, Interval.MONTH, flow="sales"))
    body = answer.model_dump(mode="json", by_alias=True)
    assert (body["from"], body["to"], body["timezone"], body["base_currency"], body["interval"]) == (
        "2026-11-01",
        "2026-11-30",
        "Europe/Berlin",
        "EUR",
        "month",
    )
    assert body["filters"] == {"goal": None, "flow": "sales"}
    assert body["goals"][0]["completion_rate"] == "0.0000"  # a decimal string


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (0, 0, "0.0000"),
        (1, 3, "0.3333"),
        (2, 3, "0.6667"),
        (1, 8, "0.1250"),
        (1, 20000, "0.0000"),  # 0.00005: half even, down
        (3, 20000, "0.0002"),  # 0.00015: half even, up
        (7, 7, "1.0000"),
    ],
)
def test_rates_round_half_even_to_four_places(part: int, whole: int, expected: str) -> None:
    assert str(rate(part, whole)) == expected


# --- the stage's deltas ---------------------------------------------------------------------------------

GOAL = uuid.UUID(int=7)
STARTED = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 25 October in Berlin, 24th in UTC


def tally(
    state: CycleState, reached: int, seconds: int = 0, cost: str = "0", revenue: str = "0"
) -> CycleTally:
    return CycleTally(state, reached, seconds, Decimal(cost), Decimal(revenue))


def test_a_cycle_opened_and_moved_on_in_one_group_counts_once_where_it_ends() -> None:
    opened = tally(CycleState.INCOMPLETE, 0b01)
    moved = tally(CycleState.PARTIAL, 0b11, 60, "0.10", "2.50")
    sums = cycle_sums(
        [
            CycleChange(GOAL, STARTED, None, None, opened),
            CycleChange(GOAL, STARTED, None, opened, moved),
        ],
        "Europe/Berlin",
    )
    assert sums == {
        CycleKey(date(2026, 10, 25), GOAL.hex, "", "partial", 0b11): CycleSums(1, 60, 100_000, 2_500_000)
    }


def test_a_cycle_moved_on_leaves_its_old_row_with_its_metrics() -> None:
    before = tally(CycleState.PARTIAL, 0b011, 60, "0.10", "2.50")
    after = tally(CycleState.COMPLETED, 0b111, 90, "0.30", "12.50")
    sums = cycle_sums([CycleChange(GOAL, STARTED, "sales", before, after)], "UTC")
    day = date(2026, 10, 24)
    assert sums == {
        CycleKey(day, GOAL.hex, "sales", "partial", 0b011): CycleSums(-1, -60, -100_000, -2_500_000),
        CycleKey(day, GOAL.hex, "sales", "completed", 0b111): CycleSums(1, 90, 300_000, 12_500_000),
    }


def test_the_rollup_without_flows_adds_the_flows_up_and_leaves_out_what_comes_to_nothing() -> None:
    """Three cycles of three flows, each entering a row (state, mask) another leaves: five rows change
    by flow, one summed over flows."""
    opened = tally(CycleState.INCOMPLETE, 0b01)
    moved = tally(CycleState.PARTIAL, 0b11, 60, "0.10", "2.50")
    further = tally(CycleState.PARTIAL, 0b111, 90, "0.30", "2.50")
    sums = cycle_sums(
        [
            CycleChange(GOAL, STARTED, "sales", moved, further),
            CycleChange(GOAL, STARTED, None, opened, moved),
            CycleChange(GOAL, STARTED, "support", None, opened),
        ],
        "UTC",
    )
    day = date(2026, 10, 24)
    assert len(sums) == 5
    assert over_flows(sums) == {
        # partial 0b11: the cycle of `sales` left it as the one of no flow entered it; incomplete: the
        # cycle of no flow left it as the one of `support` entered it
        DayKey(day, GOAL.hex, "partial", 0b111): CycleSums(1, 90, 300_000, 2_500_000),
    }
