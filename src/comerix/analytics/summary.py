"""The summary report's arithmetic: a pure fold from the rows `queries` reads to the answer (SPEC §6).

No I/O: the rows and the workspace's goals come in as plain values, so every figure can be checked
without a database (tests/unit/test_report_fold.py).

Definitions (held by tests/integration/test_reports.py against a naive recomputation from raw rows):
- conversations: conversations that started in the range (local days, inclusive), of the flow when
  filtered;
- conversions / engagements / custom: outcomes of that kind whose time falls in the range;
- converting conversations: of those conversations, the ones credited (attribution `conversation` or
  `window`) with at least one outcome of kind conversion (of the goal, and with the attribution, when
  filtered); conversion rate: converting conversations / conversations;
- revenue: the sum of outcome values per display currency; base revenue: the sum of base values per
  base currency; chat-driven: base revenue of outcomes whose attribution credits a chat
  (`credits.is_chat_driven`); unattributed: of the others.
Outcomes of paused and archived goals count like any other. Money is summed exactly, in millionths of
the currency unit, and shown with at least the currency's minor digits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING

from comerix.analytics.credits import ANY, is_chat_driven
from comerix.analytics.schemas import (
    AttributionRow,
    CurrencyRow,
    FallbackAmount,
    FlowRow,
    GoalRow,
    Money,
    SeriesPoint,
    Summary,
    Totals,
)
from comerix.money import from_micros
from comerix.vocabulary import GoalKind, GoalStatus

if TYPE_CHECKING:  # only read here: importing it would load the database layer into the pure fold
    from comerix.analytics.report_query import ReportQuery


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """Outcomes of one goal, kind, flow, attribution, currency and base currency ('' when missing) in
    the range. Rows that share these keys (parts of the range) are added up."""

    goal_id: str
    kind: str
    flow_id: str
    attribution: str
    currency: str
    base_currency: str
    outcomes: int
    value: int  # millionths of `currency`
    base_value: int  # millionths of `base_currency`


@dataclass(frozen=True, slots=True)
class FallbackRow:
    """Outcomes in one display currency whose base value is their display value, for want of a rate."""

    currency: str
    outcomes: int
    value: int  # millionths of `currency`


@dataclass(frozen=True, slots=True)
class DayRow:
    """Outcomes of one kind and base currency on one local day of the range, for the series."""

    day: date
    kind: str
    base_currency: str
    outcomes: int
    base_value: int


@dataclass(frozen=True, slots=True)
class FlowConversations:
    """Conversations that started in the range (or a part of it) in one flow ('' = none)."""

    flow_id: str
    conversations: int


@dataclass(frozen=True, slots=True)
class CreditedConversations:
    """Conversations that started in the range (or a part of it) and were credited with the goal
    ('' = any goal of kind conversion) under the query's attribution (or any)."""

    goal_id: str
    conversations: int
    flow_id: str = ""  # '' = no flow


@dataclass(frozen=True, slots=True)
class ReportGoal:
    """What a report shows of a goal, and what decides whether it is shown."""

    code: str
    name: str
    kind: GoalKind
    status: GoalStatus
    is_primary: bool


@dataclass(frozen=True)
class SummaryRows:
    """Everything the fold reads, one field per query of `queries`."""

    outcomes: Sequence[OutcomeRow] = ()
    days: Sequence[DayRow] = ()
    conversations: Sequence[FlowConversations] = ()
    credited: Sequence[CreditedConversations] = ()
    fallbacks: Sequence[FallbackRow] = ()


def fold(
    query: ReportQuery,
    rows: SummaryRows,
    goals: Mapping[str, ReportGoal],
    *,
    timezone: str,
    base_currency: str,
) -> Summary:
    """The summary of `query` from its rows. `goals` holds every goal of the workspace by id (hex): those
    with outcomes or credited chats are shown, active ones also without; ties keep the mapping's order."""
    tallies = _Tallies()
    for row in rows.outcomes:
        tallies.add(row)
    conversations = _conversations_by_flow(rows.conversations)
    for flow, count in conversations.items():
        tallies.by_flow[flow].conversations = count
    credited = _credited_by_goal(rows.credited)
    for goal_id, count in credited.items():
        if goal_id != ANY:
            tallies.by_goal[goal_id].conversations = count
    return Summary.model_validate(
        {
            "from": query.start,
            "to": query.end,
            "timezone": timezone,
            "base_currency": base_currency,
            "interval": query.interval.value,
            "filters": _filters(query),
            "totals": _totals(
                tallies, sum(conversations.values()), _converting(query, credited), rows.fallbacks
            ),
            "by_goal": _goal_rows(query, goals, tallies.by_goal),
            "by_flow": _flow_rows(tallies.by_flow, _converting_by_flow(query, rows.credited)),
            "by_currency": _currency_rows(tallies.by_currency),
            "by_attribution": _attribution_rows(tallies.by_attribution),
            "series": _series(query, rows.days),
        }
    )


class _Sums:
    """Money per currency, summed exactly in millionths; the '' currency (none) is left out."""

    def __init__(self) -> None:
        self.by_currency: defaultdict[str, int] = defaultdict(int)

    def add(self, currency: str, micros: int) -> None:
        if currency != ANY:
            self.by_currency[currency] += micros

    def money(self) -> list[Money]:
        return [Money(currency=c, value=from_micros(v, c)) for c, v in sorted(self.by_currency.items())]


@dataclass
class _Tally:
    outcomes: int = 0
    conversations: int = 0
    revenue: _Sums = field(default_factory=_Sums)
    base_revenue: _Sums = field(default_factory=_Sums)

    def add(self, row: OutcomeRow) -> None:
        self.outcomes += row.outcomes
        self.revenue.add(row.currency, row.value)
        self.base_revenue.add(row.base_currency, row.base_value)


@dataclass
class _Tallies:
    """The outcome rows added up: in all, per kind, chat-driven or not, and per breakdown."""

    total: _Tally = field(default_factory=_Tally)
    per_kind: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    chat_driven: _Sums = field(default_factory=_Sums)
    unattributed: _Sums = field(default_factory=_Sums)
    by_goal: defaultdict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    by_flow: defaultdict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    by_currency: defaultdict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    by_attribution: defaultdict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))

    def add(self, row: OutcomeRow) -> None:
        self.total.add(row)
        self.per_kind[row.kind] += row.outcomes
        credit = self.chat_driven if is_chat_driven(row.attribution) else self.unattributed
        credit.add(row.base_currency, row.base_value)
        self.by_goal[row.goal_id].add(row)
        self.by_flow[row.flow_id].add(row)
        if row.currency != ANY:
            self.by_currency[row.currency].add(row)
        self.by_attribution[row.attribution].add(row)


def _conversations_by_flow(rows: Iterable[FlowConversations]) -> dict[str, int]:
    """Conversations per flow, the flows without any left out."""
    counts: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.flow_id] += row.conversations
    return {flow: count for flow, count in counts.items() if count}


def _credited_by_goal(rows: Iterable[CreditedConversations]) -> dict[str, int]:
    """Credited conversations per goal ('' = any conversion goal), zeros kept: a goal with a row is
    shown even when paused."""
    counts: defaultdict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.goal_id] += row.conversations
    return dict(counts)


def _converting_by_flow(query: ReportQuery, rows: Iterable[CreditedConversations]) -> dict[str, int]:
    """Converting conversations per flow, counted as the totals count them."""
    by_flow: defaultdict[str, list[CreditedConversations]] = defaultdict(list)
    for row in rows:
        by_flow[row.flow_id].append(row)
    return {flow: _converting(query, _credited_by_goal(credited)) for flow, credited in by_flow.items()}


def _converting(query: ReportQuery, credited: Mapping[str, int]) -> int:
    if query.kind not in (None, GoalKind.CONVERSION) or (
        query.attribution is not None and not is_chat_driven(query.attribution)
    ):
        return 0
    if query.goal is not None:
        return credited.get(query.goal.id.hex, 0) if query.goal.kind is GoalKind.CONVERSION else 0
    return credited.get(ANY, 0)


def _filters(query: ReportQuery) -> dict[str, str | None]:
    return {
        "goal": query.goal.code if query.goal else None,
        "kind": query.kind,
        "flow": query.flow,
        "attribution": query.attribution,
    }


def _totals(
    tallies: _Tallies, conversations: int, converting: int, fallbacks: Sequence[FallbackRow]
) -> Totals:
    return Totals(
        conversations=conversations,
        conversions=tallies.per_kind[GoalKind.CONVERSION.value],
        engagements=tallies.per_kind[GoalKind.ENGAGEMENT.value],
        custom=tallies.per_kind[GoalKind.CUSTOM.value],
        converting_conversations=converting,
        conversion_rate=round(converting / conversations, 4) if conversations else 0.0,
        revenue=tallies.total.revenue.money(),
        base_revenue=tallies.total.base_revenue.money(),
        chat_driven_base_revenue=tallies.chat_driven.money(),
        unattributed_base_revenue=tallies.unattributed.money(),
        display_fallback=_fallbacks(fallbacks),
    )


def _fallbacks(rows: Sequence[FallbackRow]) -> list[FallbackAmount]:
    counts: defaultdict[str, int] = defaultdict(int)
    values = _Sums()
    for row in rows:
        counts[row.currency] += row.outcomes
        values.add(row.currency, row.value)
    return [
        FallbackAmount(currency=money.currency, value=money.value, outcomes=counts[money.currency])
        for money in values.money()
        if counts[money.currency]
    ]


def _goal_rows(
    query: ReportQuery, goals: Mapping[str, ReportGoal], tallies: Mapping[str, _Tally]
) -> list[GoalRow]:
    """A row per goal with outcomes in the range, and per active goal (with zeros): primary goals first."""
    rows = [
        _goal_row(query, goal, tallies.get(goal_id) or _Tally())
        for goal_id, goal in goals.items()
        if _shown(query, goal_id, goal, tallies.get(goal_id))
    ]
    rows.sort(key=lambda row: (not row.is_primary, -row.outcomes, row.name))
    return rows


def _shown(query: ReportQuery, goal_id: str, goal: ReportGoal, tally: _Tally | None) -> bool:
    if query.goal is not None and goal_id != query.goal.id.hex:
        return False
    return tally is not None or (goal.status is GoalStatus.ACTIVE and query.kind in (None, goal.kind))


def _goal_row(query: ReportQuery, goal: ReportGoal, tally: _Tally) -> GoalRow:
    return GoalRow(
        goal=goal.code,
        name=goal.name,
        kind=goal.kind.value,
        is_primary=goal.is_primary,
        status=goal.status.value,
        outcomes=tally.outcomes,
        conversations=tally.conversations if query.kind in (None, goal.kind) else 0,
        revenue=tally.revenue.money(),
        base_revenue=tally.base_revenue.money(),
    )


def _flow_rows(tallies: Mapping[str, _Tally], converting: Mapping[str, int]) -> list[FlowRow]:
    """A row per flow with outcomes or conversations, the busiest first; '' (no flow) as null."""
    return [
        FlowRow(
            flow=flow or None,
            outcomes=t.outcomes,
            conversations=t.conversations,
            converting_conversations=converting.get(flow, 0),
            conversion_rate=round(converting.get(flow, 0) / t.conversations, 4) if t.conversations else 0.0,
            revenue=t.revenue.money(),
            base_revenue=t.base_revenue.money(),
            base_revenue_per_conversation=_per_conversation(t.base_revenue, t.conversations),
        )
        for flow, t in sorted(tallies.items(), key=lambda item: (-item[1].outcomes, item[0]))
    ]


def _per_conversation(sums: _Sums, conversations: int) -> list[Money]:
    """Each currency's sum over the conversations, rounded half even to the millionth; none without any."""
    if not conversations:
        return []
    return [
        Money(currency=c, value=from_micros(round(Fraction(micros, conversations)), c))
        for c, micros in sorted(sums.by_currency.items())
    ]


def _currency_rows(tallies: Mapping[str, _Tally]) -> list[CurrencyRow]:
    return [
        CurrencyRow(currency=c, outcomes=t.outcomes, revenue=from_micros(t.revenue.by_currency[c], c))
        for c, t in sorted(tallies.items())
    ]


def _attribution_rows(tallies: Mapping[str, _Tally]) -> list[AttributionRow]:
    return [
        AttributionRow(attribution=a, outcomes=t.outcomes, base_revenue=t.base_revenue.money())
        for a, t in sorted(tallies.items())
    ]


@dataclass
class _Point:
    per_kind: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    base_revenue: _Sums = field(default_factory=_Sums)

    def add(self, row: DayRow) -> None:
        self.per_kind[row.kind] += row.outcomes
        self.base_revenue.add(row.base_currency, row.base_value)

    def read(self, period: date) -> SeriesPoint:
        return SeriesPoint(
            period=period,
            conversions=self.per_kind[GoalKind.CONVERSION.value],
            engagements=self.per_kind[GoalKind.ENGAGEMENT.value],
            custom=self.per_kind[GoalKind.CUSTOM.value],
            base_revenue=self.base_revenue.money(),
        )


def _series(query: ReportQuery, days: Iterable[DayRow]) -> list[SeriesPoint]:
    """A point per period of the range, empty ones included."""
    points = {period: _Point() for period in query.periods()}
    for row in days:
        points[query.interval.start_of(row.day)].add(row)
    return [point.read(period) for period, point in sorted(points.items())]
