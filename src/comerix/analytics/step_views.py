"""The analytics steps' JSON API (SPEC §10): the step catalogue and the Step Explorer's path tree, for
designers and analysts (`comerix.insights.telemetry`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from comerix.analytics import step_reports
from comerix.analytics.schemas import PathsReport, StepCatalogue
from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession, Now

router = APIRouter(prefix="/api/v1/steps", tags=["steps"], responses=errors(400, 401, 403, 422))
Designer = Annotated[Principal, Depends(require(Permission.TELEMETRY))]
Param = Annotated[str | None, Query()]


@router.get("", response_model=StepCatalogue)
def list_steps(
    session: DbSession,
    principal: Designer,
    now: Now,
    range_: Annotated[str | None, Query(alias="range", description="7d, 30d (default) or 90d")] = None,
    flow: Param = None,
) -> StepCatalogue:
    """The steps executed in the last 7, 30 or 90 days (UTC), most executed first, with their latest
    label."""
    chosen = step_reports.parse_range(range_)
    return step_reports.catalogue(session, principal.workspace_id, chosen, flow, now)


@router.get("/paths", response_model=PathsReport, response_model_by_alias=True)
def get_paths(
    session: DbSession,
    principal: Designer,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, inclusive")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    flow: Param = None,
    start: Annotated[str | None, Query(description="a step id: the one root")] = None,
    direction: Annotated[str | None, Query(description="forward (default) or backward")] = None,
    contains: Annotated[str | None, Query(description="only the chats that executed this step id")] = None,
    depth: Annotated[str | None, Query(description="levels, 1 to 10 (default 5)")] = None,
) -> PathsReport:
    """Where the conversations whose first step fell in a range of local days went, counted in
    conversations: forward or backward, from their first steps or from a step's first execution."""
    query = step_reports.parse_paths_query(
        {
            "from": from_,
            "to": to,
            "flow": flow,
            "start": start,
            "direction": direction,
            "contains": contains,
            "depth": depth,
        }
    )
    return step_reports.paths(session, principal.workspace_id, query)
