"""The summary's arithmetic (`analytics.summary.fold`) on rows built by hand: no database, the goals
handed in as a mapping. The integration tests hold the same figures to raw rows on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from comerix.analytics.report_query import GoalFilter, Interval, ReportQuery
from comerix.analytics.schemas import Money, Summary
from comerix.analytics.summary import (
    CreditedConversations,
    DayRow,
    FlowConversations,
    OutcomeRow,
    ReportGoal,
    SummaryRows,
    fold,
)
from comerix.conversions.attribution import AttributionKind
from comerix.vocabulary import GoalKind, GoalStatus

SALE = uuid.UUID(int=1).hex
REPLY = uuid.UUID(int=2).hex
OLD = uuid.UUID(int=3).hex
GOALS = {
    SALE: ReportGoal("sale", "Sale", GoalKind.CONVERSION, GoalStatus.ACTIVE, is_primary=True),
    REPLY: ReportGoal("reply", "Reply", GoalKind.ENGAGEMENT, GoalStatus.ACTIVE, is_primary=False),
    OLD: ReportGoal("old", "Old sale", GoalKind.CONVERSION, GoalStatus.ARCHIVED, is_primary=False),
}
NOV = ReportQuery(date(2026, 11, 1), date(2026, 11, 30))


def outcome(
    goal_id: str = SALE,
    *,
    kind: GoalKind = GoalKind.CONVERSION,
    flow: str = "sales",
    attribution: AttributionKind = AttributionKind.CONVERSATION,
    currency: str = "EUR",
    base_currency: str = "EUR",
    outcomes: int = 1,
    value: str = "0",
    base_value: str | None = None,
) -> OutcomeRow:
    """A row of outcomes; amounts as decimal text, stored in millionths as the rollups keep them."""
    return OutcomeRow(
        goal_id=goal_id,
        kind=kind.value,
        flow_id=flow,
        attribution=attribution.value,
        currency=currency,
        base_currency=base_currency,
        outcomes=outcomes,
        value=micros(value),
        base_value=micros(value if base_value is None else base_value),
    )


def micros(amount: str) -> int:
    return int(Decimal(amount) * 1_000_000)


def money(values: list[Money]) -> list[tuple[str, str]]:
    """Money as (currency, text): the text shows the digits, which `Decimal` equality would not."""
    return [(m.currency, str(m.value)) for m in values]


def summary(
    query: ReportQuery = NOV,
    goals: Mapping[str, ReportGoal] = GOALS,
    *,
    outcomes: Sequence[OutcomeRow] = (),
    days: Sequence[DayRow] = (),
    conversations: Sequence[FlowConversations] = (),
    credited: Sequence[CreditedConversations] = (),
) -> Summary:
    rows = SummaryRows(outcomes, days, conversations, credited)
    return fold(query, rows, goals, timezone="Europe/Berlin", base_currency="EUR")


def goal_filter(goal_id: str, kind: GoalKind) -> GoalFilter:
    """The goal a filtered query holds: an unsaved model, as `parse_query` would have loaded it."""
    return GoalFilter(id=uuid.UUID(goal_id), code=GOALS[goal_id].code, kind=kind)


def test_chat_driven_revenue_is_credited_to_a_conversation_or_a_window() -> None:
    result = summary(
        outcomes=[
            outcome(attribution=AttributionKind.CONVERSATION, value="10.00"),
            outcome(attribution=AttributionKind.WINDOW, value="2.50"),
            outcome(attribution=AttributionKind.NONE, value="7.25"),
            outcome(attribution=AttributionKind.NONE, currency="USD", value="8", base_value="7.36"),
        ]
    )
    assert money(result.totals.chat_driven_base_revenue) == [("EUR", "12.50")]
    assert money(result.totals.unattributed_base_revenue) == [("EUR", "14.61")]
    assert money(result.totals.base_revenue) == [("EUR", "27.11")]


def test_chat_driven_and_unattributed_are_empty_without_outcomes_of_each() -> None:
    result = summary(outcomes=[outcome(attribution=AttributionKind.NONE, value="3")])
    assert result.totals.chat_driven_base_revenue == []
    assert money(result.totals.unattributed_base_revenue) == [("EUR", "3.00")]


def test_rows_with_the_same_keys_add_up() -> None:
    """Whole months and the days around them come as separate rows of the same keys."""
    result = summary(outcomes=[outcome(outcomes=2, value="1.10"), outcome(outcomes=3, value="2.20")])
    assert result.totals.conversions == 5
    assert [(row.goal, row.outcomes) for row in result.by_goal] == [("sale", 5), ("reply", 0)]
    assert money(result.by_goal[0].revenue) == [("EUR", "3.30")]
    assert [(row.currency, row.outcomes, str(row.revenue)) for row in result.by_currency] == [
        ("EUR", 5, "3.30")
    ]


def test_outcomes_are_counted_per_kind() -> None:
    result = summary(
        outcomes=[
            outcome(outcomes=4),
            outcome(REPLY, kind=GoalKind.ENGAGEMENT, outcomes=7),
            outcome(REPLY, kind=GoalKind.CUSTOM, outcomes=1),
        ]
    )
    assert (result.totals.conversions, result.totals.engagements, result.totals.custom) == (4, 7, 1)


def test_revenue_per_display_currency_and_base_revenue_per_base_currency() -> None:
    result = summary(
        outcomes=[
            outcome(currency="JPY", value="1000", base_value="6.10"),
            outcome(currency="USD", value="0.3", base_value="0.28"),
            outcome(currency="USD", base_currency="CHF", value="1", base_value="0.9"),
        ]
    )
    assert money(result.totals.revenue) == [("JPY", "1000"), ("USD", "1.30")]
    assert money(result.totals.base_revenue) == [("CHF", "0.90"), ("EUR", "6.38")]
    assert [(row.currency, row.outcomes, str(row.revenue)) for row in result.by_currency] == [
        ("JPY", 1, "1000"),
        ("USD", 2, "1.30"),
    ]


def test_outcomes_without_a_value_count_but_add_no_currency() -> None:
    result = summary(outcomes=[outcome(currency="", base_currency="", outcomes=3), outcome(value="5")])
    assert result.totals.conversions == 4
    assert money(result.totals.revenue) == [("EUR", "5.00")]
    assert money(result.totals.base_revenue) == [("EUR", "5.00")]
    assert [row.currency for row in result.by_currency] == ["EUR"]
    assert [(row.attribution, row.outcomes) for row in result.by_attribution] == [("conversation", 4)]


def test_money_keeps_every_millionth_beyond_the_minor_digits() -> None:
    result = summary(outcomes=[outcome(value="0.000001"), outcome(value="1.1")])
    assert money(result.totals.revenue) == [("EUR", "1.100001")]


def test_money_sums_past_sixty_four_bits_exactly() -> None:
    huge = "999999999999999.999999"
    result = summary(outcomes=[outcome(value=huge), outcome(value=huge), outcome(value="0.000002")])
    assert money(result.totals.revenue) == [("EUR", "2000000000000000.00")]


def test_an_empty_range_has_zeros_a_point_per_day_and_the_active_goals() -> None:
    result = summary(ReportQuery(date(2026, 11, 1), date(2026, 11, 3)))
    totals = result.totals
    assert (totals.conversations, totals.conversions, totals.converting_conversations) == (0, 0, 0)
    assert totals.conversion_rate == 0.0
    assert totals.revenue == totals.base_revenue == totals.chat_driven_base_revenue == []
    assert [point.period for point in result.series] == [date(2026, 11, d) for d in (1, 2, 3)]
    assert all(point.conversions == 0 and point.base_revenue == [] for point in result.series)
    assert [(row.goal, row.outcomes, row.conversations) for row in result.by_goal] == [
        ("sale", 0, 0),
        ("reply", 0, 0),
    ]
    assert result.by_flow == result.by_currency == result.by_attribution == []


def test_goal_rows_show_goals_with_outcomes_whatever_their_status_primary_first() -> None:
    result = summary(
        outcomes=[
            outcome(OLD, outcomes=9),
            outcome(REPLY, kind=GoalKind.ENGAGEMENT, outcomes=2),
            outcome(SALE, outcomes=1),
        ]
    )
    assert [(row.goal, row.status, row.outcomes) for row in result.by_goal] == [
        ("sale", "active", 1),
        ("old", "archived", 9),
        ("reply", "active", 2),
    ]


def test_goals_tied_on_outcomes_go_by_name() -> None:
    goals = {
        REPLY: ReportGoal("b", "Beta", GoalKind.ENGAGEMENT, GoalStatus.ACTIVE, is_primary=False),
        SALE: ReportGoal("a", "Alpha", GoalKind.CONVERSION, GoalStatus.ACTIVE, is_primary=False),
    }
    assert [row.goal for row in summary(goals=goals).by_goal] == ["a", "b"]


def test_a_paused_goal_without_outcomes_is_left_out_unless_it_credited_a_chat() -> None:
    goals = {**GOALS, OLD: ReportGoal("old", "Old", GoalKind.CONVERSION, GoalStatus.PAUSED, False)}
    assert "old" not in [row.goal for row in summary(goals=goals).by_goal]
    credited = [CreditedConversations(goal_id=OLD, conversations=0)]
    assert "old" in [row.goal for row in summary(goals=goals, credited=credited).by_goal]


def test_outcomes_of_a_goal_no_longer_known_count_in_the_totals_only() -> None:
    gone = uuid.UUID(int=99).hex
    result = summary(outcomes=[outcome(gone, outcomes=3)])
    assert result.totals.conversions == 3
    assert [row.goal for row in result.by_goal] == ["sale", "reply"]


def test_goal_conversations_are_the_chats_each_goal_credited_summed_over_days() -> None:
    credited = [
        CreditedConversations(goal_id=SALE, conversations=2),
        CreditedConversations(goal_id=SALE, conversations=3),
        CreditedConversations(goal_id=REPLY, conversations=4),
        CreditedConversations(goal_id="", conversations=5),
    ]
    result = summary(credited=credited, conversations=[FlowConversations("sales", 10)])
    assert [(row.goal, row.conversations) for row in result.by_goal] == [("sale", 5), ("reply", 4)]
    assert (result.totals.converting_conversations, result.totals.conversion_rate) == (5, 0.5)


def test_a_goal_filter_shows_that_goal_and_converts_by_its_own_credit() -> None:
    query = ReportQuery(NOV.start, NOV.end, goal=goal_filter(SALE, GoalKind.CONVERSION))
    credited = [CreditedConversations(SALE, 2), CreditedConversations(REPLY, 4), CreditedConversations("", 6)]
    result = summary(query, credited=credited, conversations=[FlowConversations("sales", 8)])
    assert [(row.goal, row.conversations) for row in result.by_goal] == [("sale", 2)]
    assert result.totals.converting_conversations == 2
    assert result.totals.conversion_rate == 0.25
    assert result.filters["goal"] == "sale"


def test_a_goal_filter_on_an_engagement_goal_converts_nothing() -> None:
    query = ReportQuery(NOV.start, NOV.end, goal=goal_filter(REPLY, GoalKind.ENGAGEMENT))
    result = summary(query, credited=[CreditedConversations(REPLY, 4), CreditedConversations("", 6)])
    assert result.totals.converting_conversations == 0
    assert [(row.goal, row.conversations) for row in result.by_goal] == [("reply", 4)]


def test_a_kind_filter_drops_idle_goals_of_other_kinds_and_their_conversations() -> None:
    query = ReportQuery(NOV.start, NOV.end, kind=GoalKind.ENGAGEMENT)
    credited = [CreditedConversations(SALE, 3), CreditedConversations(REPLY, 1), CreditedConversations("", 3)]
    result = summary(query, credited=credited, conversations=[FlowConversations("sales", 6)])
    # `sale` stays (it credited chats in the range) but with no conversations of the filtered kind.
    assert [(row.goal, row.conversations) for row in result.by_goal] == [("sale", 0), ("reply", 1)]
    assert result.totals.converting_conversations == 0
    assert [row.goal for row in summary(query).by_goal] == ["reply"]


def test_unattributed_outcomes_convert_no_conversation() -> None:
    query = ReportQuery(NOV.start, NOV.end, attribution=AttributionKind.NONE)
    result = summary(query, credited=[CreditedConversations("", 3)], conversations=[FlowConversations("", 3)])
    assert result.totals.converting_conversations == 0
    assert result.filters["attribution"] == "none"


def test_the_conversion_rate_is_rounded_to_four_places() -> None:
    result = summary(credited=[CreditedConversations("", 1)], conversations=[FlowConversations("sales", 3)])
    assert result.totals.conversion_rate == 0.3333


def test_flows_sum_their_days_busiest_first_and_no_flow_is_null() -> None:
    result = summary(
        outcomes=[outcome(flow="", outcomes=2, value="4"), outcome(flow="support", outcomes=5)],
        conversations=[
            FlowConversations("support", 2),
            FlowConversations("support", 1),
            FlowConversations("onboarding", 4),
            FlowConversations("returns", 0),
        ],
    )
    assert [(row.flow, row.outcomes, row.conversations) for row in result.by_flow] == [
        ("support", 5, 3),
        (None, 2, 0),
        ("onboarding", 0, 4),
    ]
    assert money(result.by_flow[1].revenue) == [("EUR", "4.00")]
    assert result.totals.conversations == 7


def test_attribution_rows_in_name_order_with_their_base_revenue() -> None:
    result = summary(
        outcomes=[
            outcome(attribution=AttributionKind.WINDOW, value="1"),
            outcome(attribution=AttributionKind.NONE, outcomes=2, value="2"),
            outcome(attribution=AttributionKind.CONVERSATION, value="3"),
        ]
    )
    assert [(r.attribution, r.outcomes, money(r.base_revenue)) for r in result.by_attribution] == [
        ("conversation", 1, [("EUR", "3.00")]),
        ("none", 2, [("EUR", "2.00")]),
        ("window", 1, [("EUR", "1.00")]),
    ]


def test_a_weekly_series_starts_on_the_monday_of_the_first_day() -> None:
    query = ReportQuery(date(2026, 11, 4), date(2026, 11, 18), Interval.WEEK)
    days = [
        DayRow(date(2026, 11, 4), "conversion", "EUR", 2, micros("1.5")),
        DayRow(date(2026, 11, 8), "conversion", "EUR", 1, micros("1")),
        DayRow(date(2026, 11, 9), "engagement", "EUR", 3, 0),
        DayRow(date(2026, 11, 18), "custom", "USD", 1, micros("2")),
    ]
    series = summary(query, days=days).series
    assert [(p.period, p.conversions, p.engagements, p.custom) for p in series] == [
        (date(2026, 11, 2), 3, 0, 0),
        (date(2026, 11, 9), 0, 3, 0),
        (date(2026, 11, 16), 0, 0, 1),
    ]
    assert [money(p.base_revenue) for p in series] == [
        [("EUR", "2.50")],
        [("EUR", "0.00")],
        [("USD", "2.00")],
    ]


def test_a_monthly_series_has_a_point_per_month_touched() -> None:
    query = ReportQuery(date(2026, 10, 20), date(2027, 1, 5), Interval.MONTH)
    series = summary(query, days=[DayRow(date(2026, 12, 31), "conversion", "EUR", 1, 0)]).series
    assert [(p.period, p.conversions) for p in series] == [
        (date(2026, 10, 1), 0),
        (date(2026, 11, 1), 0),
        (date(2026, 12, 1), 1),
        (date(2027, 1, 1), 0),
    ]


def test_the_answer_names_its_range_zone_currency_and_filters() -> None:
    query = ReportQuery(
        date(2026, 11, 1), date(2026, 11, 2), Interval.DAY, kind=GoalKind.CUSTOM, flow="sales"
    )
    result = summary(query)
    assert (result.from_, result.to, result.timezone, result.base_currency) == (
        date(2026, 11, 1),
        date(2026, 11, 2),
        "Europe/Berlin",
        "EUR",
    )
    assert result.interval == "day"
    assert result.filters == {"goal": None, "kind": "custom", "flow": "sales", "attribution": None}
