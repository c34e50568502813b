"""The summary report's SQL: each function runs one query over the rollups (never raw rows) and returns
the typed rows that `summary.fold` adds up.

Money comes back in millionths of the currency unit, summed exactly by the database from the rollups'
limbs (`money.LIMB`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select, union, union_all
from sqlalchemy.orm import Session

from comerix.analytics.credits import ANY
from comerix.analytics.models import (
    ConversationGoalRollup,
    ConversationRollup,
    OutcomeDaySeries,
    OutcomeFallbackRollup,
    OutcomeMonthRollup,
    OutcomeRollup,
)
from comerix.analytics.report_query import Interval, ReportQuery
from comerix.analytics.summary import (
    CreditedConversations,
    DayRow,
    FallbackRow,
    FlowConversations,
    OutcomeRow,
    ReportGoal,
)
from comerix.goals.models import Goal
from comerix.money import LOW_HALF, from_limbs
from comerix.vocabulary import GoalKind, GoalStatus

BREAKDOWN = ("goal_id", "kind", "flow_id", "attribution", "currency", "base_currency")


def outcome_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[OutcomeRow]:
    """The range's outcomes summed per goal, kind, flow, attribution and currencies: whole months from
    the monthly rollups, the days around them from the daily ones, so the rows read stay few. The parts
    come in one statement, unmerged (a row per key and part): the fold adds them up. Merging them in the
    database costs PostgreSQL a parallel plan that takes longer than the merge saves."""
    parts = [_outcome_sums(span, workspace_id, query) for span in _spans(query)]
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    return [
        OutcomeRow(
            goal_id=found["goal_id"],
            kind=found["kind"],
            flow_id=found["flow_id"],
            attribution=found["attribution"],
            currency=found["currency"],
            base_currency=found["base_currency"],
            outcomes=int(found["outcomes"]),
            value=_millionths(found["value_high"], found["value_low_high"], found["value_low_low"]),
            base_value=_millionths(
                found["base_value_high"], found["base_value_low_high"], found["base_value_low_low"]
            ),
        )
        for found in session.execute(statement).mappings()
    ]


def fallback_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[FallbackRow]:
    """The range's outcomes whose base value is their display value, per display currency (few rows:
    only those outcomes are counted there)."""
    table = OutcomeFallbackRollup
    statement = (
        select(
            table.currency,
            func.sum(table.outcomes).label("outcomes"),
            *_micros(table.value_high, table.value_low, "value"),
        )
        .where(table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end)
        .group_by(table.currency)
    )
    return [
        FallbackRow(
            currency=found["currency"],
            outcomes=int(found["outcomes"]),
            value=_millionths(found["value_high"], found["value_low_high"], found["value_low_low"]),
        )
        for found in session.execute(_filtered(statement, table, query)).mappings()
    ]


def day_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[DayRow]:
    """Outcomes and base revenue per local day, kind and base currency, for the series: from the small
    series table when the report is not filtered by goal, flow or attribution."""
    table: Any = OutcomeRollup
    if query.goal is None and query.flow is None and query.attribution is None:
        table = OutcomeDaySeries
    dimensions = (table.day, table.kind, table.base_currency)
    statement = (
        select(
            *dimensions,
            func.sum(table.outcomes).label("outcomes"),
            *_micros(table.base_value_high, table.base_value_low, "base_value"),
        )
        .where(table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end)
        .group_by(*dimensions)
    )
    return [
        DayRow(
            day=found["day"],
            kind=found["kind"],
            base_currency=found["base_currency"],
            outcomes=int(found["outcomes"]),
            base_value=_millionths(
                found["base_value_high"], found["base_value_low_high"], found["base_value_low_low"]
            ),
        )
        for found in session.execute(_filtered(statement, table, query)).mappings()
    ]


def flow_conversations(
    session: Session, workspace_id: uuid.UUID, query: ReportQuery
) -> list[FlowConversations]:
    """Conversations started in the range, per flow (only the query's flow, when filtered)."""
    table = ConversationRollup
    statement = (
        select(table.flow_id, func.sum(table.conversations).label("conversations"))
        .where(table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end)
        .group_by(table.flow_id)
    )
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    return [
        FlowConversations(flow_id=found["flow_id"], conversations=int(found["conversations"]))
        for found in session.execute(statement).mappings()
    ]


def credited_conversations(
    session: Session, workspace_id: uuid.UUID, query: ReportQuery
) -> list[CreditedConversations]:
    """Conversations started in the range (in the query's flow, when filtered) and credited, per goal
    ('' = any conversion goal) and flow, under the query's attribution or any."""
    table = ConversationGoalRollup
    statement = (
        select(table.goal_id, table.flow_id, func.sum(table.conversations).label("conversations"))
        .where(
            table.workspace_id == workspace_id,
            table.day >= query.start,
            table.day <= query.end,
            table.attribution == (query.attribution.value if query.attribution else ANY),
        )
        .group_by(table.goal_id, table.flow_id)
    )
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    return [
        CreditedConversations(
            goal_id=found["goal_id"], conversations=int(found["conversations"]), flow_id=found["flow_id"]
        )
        for found in session.execute(statement).mappings()
    ]


def report_goals(session: Session, workspace_id: uuid.UUID) -> dict[str, ReportGoal]:
    """Every goal of the workspace, by id as the rollups spell it (hex), whatever its status."""
    statement = select(Goal.id, Goal.code, Goal.name, Goal.kind, Goal.status, Goal.is_primary).where(
        Goal.workspace_id == workspace_id
    )
    return {
        found["id"].hex: ReportGoal(
            code=found["code"],
            name=found["name"],
            kind=GoalKind(found["kind"]),
            status=GoalStatus(found["status"]),
            is_primary=found["is_primary"],
        )
        for found in session.execute(statement).mappings()
    }


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


def whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The first and the last month that lie wholly inside [start, end] (as their first days), if any."""
    first = start if start.day == 1 else Interval.MONTH.after(start.replace(day=1))
    last = end.replace(day=1)
    if Interval.MONTH.after(last) - timedelta(days=1) != end:
        last = (last - timedelta(days=1)).replace(day=1)
    return (first, last) if first <= last else None


@dataclass(frozen=True)
class _Span:
    """Days [low, high] of the range, read from `table` by its `period` column."""

    table: Any
    period: Any
    low: date
    high: date


def _spans(query: ReportQuery) -> list[_Span]:
    """The whole months of the range from the monthly rollup, the days before and after from the daily."""
    months = whole_months(query.start, query.end)
    if months is None:
        return [_Span(OutcomeRollup, OutcomeRollup.day, query.start, query.end)]
    first, last = months
    spans = [_Span(OutcomeMonthRollup, OutcomeMonthRollup.month, first, last)]
    if query.start < first:
        spans.insert(0, _Span(OutcomeRollup, OutcomeRollup.day, query.start, first - timedelta(days=1)))
    after = Interval.MONTH.after(last)
    if after <= query.end:
        spans.append(_Span(OutcomeRollup, OutcomeRollup.day, after, query.end))
    return spans


def _outcome_sums(span: _Span, workspace_id: uuid.UUID, query: ReportQuery) -> Select[Any]:
    table = span.table
    dimensions = [getattr(table, name) for name in BREAKDOWN]
    statement = (
        select(
            *dimensions,
            func.sum(table.outcomes).label("outcomes"),
            *_micros(table.value_high, table.value_low, "value"),
            *_micros(table.base_value_high, table.base_value_low, "base_value"),
        )
        .where(table.workspace_id == workspace_id, span.period >= span.low, span.period <= span.high)
        .group_by(*dimensions)
    )
    return _filtered(statement, table, query)


def _filtered(statement: Select[Any], table: Any, query: ReportQuery) -> Select[Any]:
    if query.goal is not None:
        statement = statement.where(table.goal_id == query.goal.id.hex)
    if query.kind is not None:
        statement = statement.where(table.kind == query.kind.value)
    if query.flow is not None:
        statement = statement.where(table.flow_id == query.flow)
    if query.attribution is not None:
        statement = statement.where(table.attribution == query.attribution.value)
    return statement


def _micros(high: Any, low: Any, name: str) -> tuple[Any, Any, Any]:
    """The sums, labelled `{name}_high`, `{name}_low_high` and `{name}_low_low`, that `_millionths` turns
    into the millionths of rollup rows. `low` is summed in two halves below 10^9 each, so that SQLite's 64-bit
    SUM cannot overflow (PostgreSQL's SUM of bigint is a numeric, exact at any size)."""
    return (
        func.sum(high).label(f"{name}_high"),
        func.sum(low // LOW_HALF).label(f"{name}_low_high"),
        func.sum(low % LOW_HALF).label(f"{name}_low_low"),
    )


def _millionths(high: Any, low_high: Any, low_low: Any) -> int:
    """The millionths of `_micros`' three sums (integers on SQLite, numerics on PostgreSQL)."""
    return from_limbs(int(high), int(low_high), int(low_low))
