"""The summary report: parse the query → read the rollups → build the answer (SPEC §6).

Definitions (held by tests/integration/test_reports.py against a naive recomputation from raw rows):
- conversations: conversations that started in the range (local days, inclusive), of the flow when
  filtered;
- conversions / engagements / custom: outcomes of that kind whose time falls in the range;
- converting conversations: of those conversations, the ones credited (attribution `conversation` or
  `window`) with at least one outcome of kind conversion (of the goal, and with the attribution, when
  filtered); conversion rate: converting conversations / conversations;
- revenue: the sum of outcome values per display currency; base revenue: the sum of base values per
  base currency; chat-driven: base revenue of outcomes attributed `conversation` or `window`;
  unattributed: of outcomes attributed `none`.
Outcomes of paused and archived goals count like any other. Money is summed exactly, by the database,
in millionths of the currency unit (as limbs: `money.LIMB`), and shown with at least the currency's
minor digits.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from comerix.analytics.credits import ANY
from comerix.analytics.models import (
    ConversationGoalRollup,
    ConversationRollup,
    OutcomeDaySeries,
    OutcomeMonthRollup,
    OutcomeRollup,
)
from comerix.analytics.schemas import (
    AttributionRow,
    CurrencyRow,
    FlowRow,
    GoalRow,
    Money,
    SeriesPoint,
    Summary,
    Totals,
)
from comerix.conversions.attribution import AttributionKind
from comerix.errors import FieldProblem, Invalid
from comerix.goals.models import Goal
from comerix.money import LOW_HALF, from_limbs, from_micros
from comerix.vocabulary import GoalKind, GoalStatus
from comerix.workspaces.models import Workspace

MAX_DAYS = 3660
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(9998, 12, 31)
E = TypeVar("E", bound=StrEnum)
CHAT_DRIVEN = (AttributionKind.CONVERSATION.value, AttributionKind.WINDOW.value)


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    def start_of(self, day: date) -> date:
        if self is Interval.WEEK:
            return day - timedelta(days=day.weekday())
        if self is Interval.MONTH:
            return day.replace(day=1)
        return day

    def after(self, start: date) -> date:
        if self is Interval.WEEK:
            return start + timedelta(days=7)
        if self is Interval.MONTH:
            return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start + timedelta(days=1)


@dataclass(frozen=True)
class ReportQuery:
    """A validated report query. `goal` is the goal's id when filtered by code."""

    start: date
    end: date
    interval: Interval = Interval.DAY
    goal: Goal | None = None
    kind: GoalKind | None = None
    flow: str | None = None
    attribution: AttributionKind | None = None


def parse_query(session: Session, workspace_id: uuid.UUID, params: dict[str, str | None]) -> ReportQuery:
    """The query of `params` (from, to, goal, kind, flow, attribution, interval), or `Invalid` naming each
    parameter that is wrong."""
    problems: list[FieldProblem] = []
    start = _date(params.get("from"), "from", problems)
    end = _date(params.get("to"), "to", problems)
    if start and end and end < start:
        problems.append(FieldProblem("to", "is before `from`"))
    if start and end and (end - start).days >= MAX_DAYS:
        problems.append(FieldProblem("to", f"the range may cover at most {MAX_DAYS} days"))
    interval = _choice(Interval, params.get("interval") or "day", "interval", problems)
    kind = _choice(GoalKind, params.get("kind"), "kind", problems)
    attribution = _choice(AttributionKind, params.get("attribution"), "attribution", problems)
    goal = None
    if params.get("goal"):
        goal = session.scalar(
            select(Goal).where(Goal.workspace_id == workspace_id, Goal.code == params["goal"])
        )
        if goal is None:
            problems.append(FieldProblem("goal", f"no goal {params['goal']!r} in this workspace"))
    if problems:
        raise Invalid.of(problems)
    assert start is not None
    assert end is not None
    assert interval is not None
    return ReportQuery(start, end, interval, goal, kind, params.get("flow") or None, attribution)


def _date(raw: str | None, name: str, problems: list[FieldProblem]) -> date | None:
    if not raw:
        problems.append(FieldProblem(name, "is required (YYYY-MM-DD)"))
        return None
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else date.fromisoformat("invalid")
    except ValueError:
        problems.append(FieldProblem(name, f"{raw!r} is not a date (YYYY-MM-DD)"))
        return None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        # Far dates would overflow when turned into the workspace's UTC instants.
        problems.append(FieldProblem(name, f"must be between {EARLIEST_DATE} and {LATEST_DATE}"))
        return None
    return value


def _choice(enum: type[E], raw: str | None, name: str, problems: list[FieldProblem]) -> E | None:
    if raw is None or raw == "":
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        problems.append(FieldProblem(name, f"{raw!r} is not one of {allowed}"))
        return None


class _Sums:
    """Money per currency, summed exactly in millionths."""

    def __init__(self) -> None:
        self.by_currency: dict[str, int] = defaultdict(int)

    def add(self, currency: str, micros: int) -> None:
        if currency != ANY:
            self.by_currency[currency] += int(micros)

    def money(self) -> list[Money]:
        return [Money(currency=c, value=from_micros(v, c)) for c, v in sorted(self.by_currency.items())]


@dataclass
class _Tally:
    outcomes: int = 0
    conversations: int = 0

    def __post_init__(self) -> None:
        self.revenue = _Sums()
        self.base_revenue = _Sums()

    def add(self, row: Any) -> None:
        self.outcomes += int(row.outcomes)
        self.revenue.add(row.currency, row.value)
        self.base_revenue.add(row.base_currency, row.base_value)


def summary(session: Session, workspace: Workspace, query: ReportQuery) -> Summary:
    """The summary of `query`, read from the rollups only."""
    rows = _outcome_rows(session, workspace.id, query)
    totals = _Tally()
    counts: dict[str, int] = defaultdict(int)
    chat_driven, unattributed = _Sums(), _Sums()
    by_goal: dict[str, _Tally] = defaultdict(_Tally)
    by_flow: dict[str, _Tally] = defaultdict(_Tally)
    by_currency: dict[str, _Tally] = defaultdict(_Tally)
    by_attribution: dict[str, _Tally] = defaultdict(_Tally)
    series: dict[date, tuple[dict[str, int], _Sums]] = {
        period: (defaultdict(int), _Sums()) for period in _periods(query)
    }
    for row in rows:
        totals.add(row)
        counts[row.kind] += int(row.outcomes)
        (chat_driven if row.attribution in CHAT_DRIVEN else unattributed).add(
            row.base_currency, row.base_value
        )
        by_goal[row.goal_id].add(row)
        by_flow[row.flow_id].add(row)
        if row.currency != ANY:
            by_currency[row.currency].add(row)
        by_attribution[row.attribution].add(row)
    for day, kind, base_currency, outcomes, base_value in _daily_rows(session, workspace.id, query):
        point = series[query.interval.start_of(day)]
        point[0][kind] += int(outcomes)
        point[1].add(base_currency, base_value)

    conversations_by_flow = _conversations_by_flow(session, workspace.id, query)
    for flow, count in conversations_by_flow.items():
        by_flow[flow].conversations = count
    credited = _credited_conversations(session, workspace.id, query)
    for goal_key, count in credited.items():
        if goal_key != ANY:
            by_goal[goal_key].conversations = count
    conversations = sum(conversations_by_flow.values())
    converting = _converting(query, credited)
    return Summary.model_validate(
        {
            "from": query.start,
            "to": query.end,
            "timezone": workspace.timezone,
            "base_currency": workspace.base_currency,
            "interval": query.interval.value,
            "filters": {
                "goal": query.goal.code if query.goal else None,
                "kind": query.kind,
                "flow": query.flow,
                "attribution": query.attribution,
            },
            "totals": Totals(
                conversations=conversations,
                conversions=counts[GoalKind.CONVERSION.value],
                engagements=counts[GoalKind.ENGAGEMENT.value],
                custom=counts[GoalKind.CUSTOM.value],
                converting_conversations=converting,
                conversion_rate=round(converting / conversations, 4) if conversations else 0.0,
                revenue=totals.revenue.money(),
                base_revenue=totals.base_revenue.money(),
                chat_driven_base_revenue=chat_driven.money(),
                unattributed_base_revenue=unattributed.money(),
            ),
            "by_goal": _goal_rows(session, workspace.id, query, by_goal),
            "by_flow": [
                FlowRow(
                    flow=flow or None,
                    outcomes=t.outcomes,
                    conversations=t.conversations,
                    revenue=t.revenue.money(),
                    base_revenue=t.base_revenue.money(),
                )
                for flow, t in sorted(by_flow.items(), key=lambda item: (-item[1].outcomes, item[0]))
            ],
            "by_currency": [
                CurrencyRow(currency=c, outcomes=t.outcomes, revenue=from_micros(t.revenue.by_currency[c], c))
                for c, t in sorted(by_currency.items())
            ],
            "by_attribution": [
                AttributionRow(attribution=a, outcomes=t.outcomes, base_revenue=t.base_revenue.money())
                for a, t in sorted(by_attribution.items())
            ],
            "series": [
                SeriesPoint(
                    period=period,
                    conversions=kinds[GoalKind.CONVERSION.value],
                    engagements=kinds[GoalKind.ENGAGEMENT.value],
                    custom=kinds[GoalKind.CUSTOM.value],
                    base_revenue=sums.money(),
                )
                for period, (kinds, sums) in sorted(series.items())
            ],
        }
    )


def flows_seen(session: Session, workspace_id: uuid.UUID) -> list[str]:
    """Every flow the workspace's conversations or outcomes ran in, by name: the choices of the flow
    filter. Read from the rollups (a row per day or month and flow), not from raw conversations."""
    conversations = select(ConversationRollup.flow_id).where(
        ConversationRollup.workspace_id == workspace_id,
        ConversationRollup.flow_id != ANY,
        ConversationRollup.conversations > 0,
    )
    outcomes = select(OutcomeMonthRollup.flow_id).where(
        OutcomeMonthRollup.workspace_id == workspace_id,
        OutcomeMonthRollup.flow_id != ANY,
        OutcomeMonthRollup.outcomes > 0,
    )
    return sorted(session.scalars(union(conversations, outcomes)))


def _periods(query: ReportQuery) -> list[date]:
    periods = []
    period = query.interval.start_of(query.start)
    while period <= query.end:
        periods.append(period)
        period = query.interval.after(period)
    return periods


def _filtered(statement: Any, table: Any, query: ReportQuery) -> Any:
    if query.goal is not None:
        statement = statement.where(table.goal_id == query.goal.id.hex)
    if query.kind is not None:
        statement = statement.where(table.kind == query.kind.value)
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    if query.attribution is not None:
        statement = statement.where(table.attribution == query.attribution.value)
    return statement


BREAKDOWN = ("goal_id", "kind", "flow_id", "attribution", "currency", "base_currency")


@dataclass
class _Breakdown:
    goal_id: str
    kind: str
    flow_id: str
    attribution: str
    currency: str
    base_currency: str
    outcomes: int = 0
    value: int = 0
    base_value: int = 0


def _outcome_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[_Breakdown]:
    """The range's outcomes summed per goal, kind, flow, attribution and currencies: whole months from
    the monthly rollups, the days around them from the daily ones, so the rows read stay few."""
    parts: list[tuple[Any, Any, date, date]] = []
    months = _whole_months(query.start, query.end)
    if months is None:
        parts.append((OutcomeRollup, OutcomeRollup.day, query.start, query.end))
    else:
        first, last = months
        if query.start < first:
            parts.append((OutcomeRollup, OutcomeRollup.day, query.start, first - timedelta(days=1)))
        parts.append((OutcomeMonthRollup, OutcomeMonthRollup.month, first, last))
        after = Interval.MONTH.after(last)
        if after <= query.end:
            parts.append((OutcomeRollup, OutcomeRollup.day, after, query.end))
    merged: dict[tuple[str, ...], _Breakdown] = {}
    for table, period, low, high in parts:
        dimensions = [getattr(table, name) for name in BREAKDOWN]
        statement = (
            select(
                *dimensions,
                func.sum(table.outcomes),
                *_micros(table.value_high, table.value_low),
                *_micros(table.base_value_high, table.base_value_low),
            )
            .where(table.workspace_id == workspace_id, period >= low, period <= high)
            .group_by(*dimensions)
        )
        for found in session.execute(_filtered(statement, table, query)):
            key = tuple(found[: len(BREAKDOWN)])
            row = merged.setdefault(key, _Breakdown(*key))
            outcomes, *money = map(int, found[len(BREAKDOWN) :])
            row.outcomes += outcomes
            row.value += from_limbs(*money[:3])
            row.base_value += from_limbs(*money[3:])
    return list(merged.values())


def _micros(high: Any, low: Any) -> tuple[Any, Any, Any]:
    """The sums that `money.from_limbs` turns into the millionths of rollup rows. `low` is summed in two
    halves below 10^9 each, so that SQLite's 64-bit SUM cannot overflow (PostgreSQL's SUM of bigint is
    a numeric, exact at any size)."""
    return func.sum(high), func.sum(low // LOW_HALF), func.sum(low % LOW_HALF)


def _whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The first and the last month that lie wholly inside [start, end] (as their first days), if any."""
    first = start if start.day == 1 else Interval.MONTH.after(start.replace(day=1))
    last = end.replace(day=1)
    if Interval.MONTH.after(last) - timedelta(days=1) != end:
        last = (last - timedelta(days=1)).replace(day=1)
    return (first, last) if first <= last else None


def _daily_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[tuple[Any, ...]]:
    """Outcomes and base revenue per local day, kind and base currency, for the series: from the small
    series table when the report is not filtered by goal, flow or attribution."""
    table: Any = OutcomeRollup
    if query.goal is None and query.flow is None and query.attribution is None:
        table = OutcomeDaySeries
    dimensions = (table.day, table.kind, table.base_currency)
    statement = (
        select(*dimensions, func.sum(table.outcomes), *_micros(table.base_value_high, table.base_value_low))
        .where(table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end)
        .group_by(*dimensions)
    )
    return [
        (day, kind, base_currency, outcomes, from_limbs(*map(int, money)))
        for day, kind, base_currency, outcomes, *money in session.execute(_filtered(statement, table, query))
    ]


def _conversations_by_flow(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> dict[str, int]:
    table = ConversationRollup
    statement = select(table.flow_id, table.conversations).where(
        table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end
    )
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    counts: dict[str, int] = defaultdict(int)
    for flow, count in session.execute(statement):
        counts[flow] += count
    return {flow: count for flow, count in counts.items() if count}


def _credited_conversations(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> dict[str, int]:
    """Conversations started in the range, credited per goal ('' = any conversion goal)."""
    table = ConversationGoalRollup
    statement = select(table.goal_id, table.conversations).where(
        table.workspace_id == workspace_id,
        table.day >= query.start,
        table.day <= query.end,
        table.attribution == (query.attribution.value if query.attribution else ANY),
    )
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    counts: dict[str, int] = defaultdict(int)
    for goal, count in session.execute(statement):
        counts[goal] += count
    return counts


def _converting(query: ReportQuery, credited: dict[str, int]) -> int:
    if query.kind not in (None, GoalKind.CONVERSION) or query.attribution is AttributionKind.NONE:
        return 0
    if query.goal is not None:
        return credited.get(query.goal.id.hex, 0) if query.goal.kind is GoalKind.CONVERSION else 0
    return credited.get(ANY, 0)


def _goal_rows(
    session: Session, workspace_id: uuid.UUID, query: ReportQuery, tallies: dict[str, _Tally]
) -> list[GoalRow]:
    """A row per goal with outcomes in the range, and per active goal (with zeros): primary goals first."""
    goals = session.scalars(select(Goal).where(Goal.workspace_id == workspace_id)).all()
    rows = []
    for goal in goals:
        tally = tallies.get(goal.id.hex)
        if query.goal is not None and goal.id != query.goal.id:
            continue
        if tally is None and (goal.status is not GoalStatus.ACTIVE or query.kind not in (None, goal.kind)):
            continue
        tally = tally or _Tally()
        rows.append(
            GoalRow(
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
        )
    rows.sort(key=lambda row: (not row.is_primary, -row.outcomes, row.name))
    return rows
