"""What the goal pages read besides the goal itself: the figures of the goal list; the trend, the
latest outcomes and the cycles of a goal's page. Sums come from the rollups, through the analytics
package's own queries, so the pages agree with the Analytics Hub and the report API; only the latest
outcomes are read row by row."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.analytics import goal_reports, queries, reports
from comerix.analytics.report_query import GoalFilter, Interval, ReportQuery
from comerix.analytics.schemas import GoalCycles, Money, Summary
from comerix.conversions.models import Outcome
from comerix.goals.models import Goal, GoalStep
from comerix.money import from_micros
from comerix.workspaces.models import Workspace

TREND_DAYS = 30
RECENT_OUTCOMES = 20


def goal_query(goal: Goal, today: date, days: int = TREND_DAYS) -> ReportQuery:
    """The report query of a goal's page: the last `days` local days, by day, of this goal."""
    start = today - timedelta(days=days - 1)
    return ReportQuery(start, today, Interval.DAY, GoalFilter(goal.id, goal.code, goal.kind))


def trend_summary(session: Session, workspace: Workspace, query: ReportQuery) -> Summary:
    """The Analytics Hub's summary of the goal page's query."""
    return reports.summary(session, workspace, query)


def cycle_report(session: Session, workspace: Workspace, query: ReportQuery) -> GoalCycles | None:
    """The goals report (SPEC §9) of the goal page's query: the goal's cycles, funnel and series, as
    `GET /api/v1/reports/goals` answers them. None for a single-step goal, which has no cycles."""
    found = goal_reports.goals_report(session, workspace, query).goals
    return found[0] if found else None


def recent_outcomes(session: Session, workspace_id: uuid.UUID, goal_id: uuid.UUID) -> list[Outcome]:
    """The goal's latest outcomes by their own time, newest first (ties: the later recorded first)."""
    statement = (
        select(Outcome)
        .where(Outcome.workspace_id == workspace_id, Outcome.goal_id == goal_id)
        .order_by(Outcome.occurred_at.desc(), Outcome.id.desc())
        .limit(RECENT_OUTCOMES)
    )
    return list(session.scalars(statement))


@dataclass(frozen=True)
class ListFigures:
    """What the goal list shows of a goal over the last `TREND_DAYS` days."""

    outcomes: int
    base_revenue: list[Money]


def list_figures(session: Session, workspace: Workspace, today: date) -> dict[uuid.UUID, ListFigures]:
    """Outcomes and base revenue of the last `TREND_DAYS` local days of every goal that has any, in one
    query over the rollups (`queries.outcome_rows`, the summary's own)."""
    query = ReportQuery(today - timedelta(days=TREND_DAYS - 1), today)
    outcomes: defaultdict[str, int] = defaultdict(int)
    base: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in queries.outcome_rows(session, workspace.id, query):
        outcomes[row.goal_id] += row.outcomes
        if row.base_currency:  # '' when no outcome of the row had a value
            base[row.goal_id][row.base_currency] += row.base_value
    return {
        uuid.UUID(hex=goal_id): ListFigures(
            count, [Money(currency=c, value=from_micros(v, c)) for c, v in sorted(base[goal_id].items())]
        )
        for goal_id, count in outcomes.items()
    }


def step_counts(session: Session, workspace_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, int]]:
    """(steps in use, retired steps) of each multi-step goal of the workspace, in one query."""
    statement = (
        select(GoalStep.goal_id, GoalStep.retired, func.count())
        .where(GoalStep.workspace_id == workspace_id)
        .group_by(GoalStep.goal_id, GoalStep.retired)
    )
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    for goal_id, retired, found in session.execute(statement):
        in_use, retired_steps = counts.get(goal_id, (0, 0))
        counts[goal_id] = (in_use, retired_steps + found) if retired else (in_use + found, retired_steps)
    return counts
