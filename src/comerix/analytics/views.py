"""The Analytics Hub's JSON API: the summary report and the CSV export (SPEC §6), the goals report of
multi-step goals (§9), and Settings → Analytics (`/api/v1/settings/analytics`, §5), whose time zone
change recomputes the rollups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from comerix.analytics import exports, goal_reports, reports, rollups
from comerix.analytics.schemas import GoalsReport, Summary
from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import AnalyticsSettings

router = APIRouter(prefix="/api/v1/reports", tags=["analytics"], responses=errors(400, 401, 403, 422))
settings_router = APIRouter(prefix="/api/v1/settings", tags=["settings"], responses=errors(400, 401, 403))
Analyst = Annotated[Principal, Depends(require(Permission.ANALYTICS_VIEW))]
SettingsManager = Annotated[Principal, Depends(require(Permission.SETTINGS_MANAGE))]
Param = Annotated[str | None, Query()]


def _params(
    from_: str | None,
    to: str | None,
    goal: str | None,
    kind: str | None,
    flow: str | None,
    attribution: str | None,
    interval: str | None = None,
) -> dict[str, str | None]:
    return {
        "from": from_,
        "to": to,
        "goal": goal,
        "kind": kind,
        "flow": flow,
        "attribution": attribution,
        "interval": interval,
    }


@router.get("/summary", response_model=Summary, response_model_by_alias=True)
def get_summary(
    session: DbSession,
    principal: Analyst,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, inclusive")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    goal: Param = None,
    kind: Param = None,
    flow: Param = None,
    attribution: Param = None,
    interval: Annotated[str | None, Query(description="day, week or month")] = None,
    compare: Annotated[
        str | None,
        Query(description="`previous`: add the totals and series of the period just before, as long"),
    ] = None,
) -> Summary:
    """Totals, breakdowns and a series for a range of local days, read from the rollups."""
    params = _params(from_, to, goal, kind, flow, attribution, interval) | {"compare": compare}
    query = reports.parse_query(session, principal.workspace_id, params)
    return reports.summary(session, workspaces.get_or_raise(session, principal.workspace_id), query)


@router.get("/goals", response_model=GoalsReport, response_model_by_alias=True)
def get_goals_report(
    session: DbSession,
    principal: Analyst,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, inclusive")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    goal: Annotated[str | None, Query(description="a multi-step goal's code")] = None,
    flow: Param = None,
    interval: Annotated[str | None, Query(description="day, week or month")] = None,
) -> GoalsReport:
    """The cycles of each multi-step goal started in a range of local days: states, metrics, the funnel
    with its drop-off, and a series; read from the cycle rollups."""
    query = goal_reports.parse_query(
        session,
        principal.workspace_id,
        {"from": from_, "to": to, "goal": goal, "flow": flow, "interval": interval},
    )
    return goal_reports.goals_report(session, workspaces.get_or_raise(session, principal.workspace_id), query)


@router.get(
    "/outcomes.csv",
    response_class=StreamingResponse,
    responses={
        200: {"description": "One row per outcome", "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
def get_outcomes_csv(
    request: Request,
    session: DbSession,
    principal: Analyst,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Param = None,
    goal: Param = None,
    kind: Param = None,
    flow: Param = None,
    attribution: Param = None,
) -> StreamingResponse:
    """Every outcome of the range and filters, one CSV row each, streamed in constant memory."""
    query = reports.parse_query(
        session, principal.workspace_id, _params(from_, to, goal, kind, flow, attribution)
    )
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    name = exports.file_name(query)
    return StreamingResponse(
        exports.rows(request.app.state.database, workspace.id, workspace.timezone, query),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@settings_router.get("/analytics", response_model=AnalyticsSettings)
def get_analytics_settings(session: DbSession, principal: SettingsManager) -> AnalyticsSettings:
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    return workspaces.get_analytics_settings(workspace)


@settings_router.put("/analytics", response_model=AnalyticsSettings, responses=errors(422))
def put_analytics_settings(
    data: AnalyticsSettings, session: DbSession, principal: SettingsManager
) -> AnalyticsSettings:
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    return workspaces.update_analytics_settings(session, workspace, data, rebuild_rollups=rollups.rebuild)
