"""The summary report (SPEC §6), in three steps, each in a module of its own:

1. parse: `report_query.parse_query` turns the request's parameters into a `ReportQuery`;
2. SQL: `queries` reads the rollups, one query per kind of row, into typed rows;
3. fold: `summary.fold` adds those rows up into the answer, with no I/O.

Views, the dashboard and the exports reach the report through this module.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from comerix.analytics import queries
from comerix.analytics.queries import flows_seen
from comerix.analytics.report_query import Compare, Interval, ReportQuery, parse_query
from comerix.analytics.schemas import PreviousPeriod, Summary
from comerix.analytics.summary import SummaryRows, fold
from comerix.workspaces.models import Workspace

__all__ = ["Compare", "Interval", "ReportQuery", "flows_seen", "parse_query", "summary"]


def summary(session: Session, workspace: Workspace, query: ReportQuery) -> Summary:
    """The summary of `query`, read from the rollups only; with `compare`, the previous period's too."""
    report = _summary(session, workspace, query)
    if query.compare is None:
        return report
    before = _summary(session, workspace, query.previous())
    return report.model_copy(
        update={
            "previous": PreviousPeriod(
                from_=before.from_,
                to=before.to,
                totals=before.totals,
                series=before.series,
                by_goal=before.by_goal,
            )
        }
    )


def _summary(session: Session, workspace: Workspace, query: ReportQuery) -> Summary:
    rows = SummaryRows(
        outcomes=queries.outcome_rows(session, workspace.id, query),
        fallbacks=queries.fallback_rows(session, workspace.id, query),
        days=queries.day_rows(session, workspace.id, query),
        conversations=queries.flow_conversations(session, workspace.id, query),
        credited=queries.credited_conversations(session, workspace.id, query),
    )
    goals = queries.report_goals(session, workspace.id)
    return fold(query, rows, goals, timezone=workspace.timezone, base_currency=workspace.base_currency)
