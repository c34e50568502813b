"""Settings → Analytics over JSON: `/api/v1/settings/analytics` (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession
from comerix.workspaces import service
from comerix.workspaces.schemas import AnalyticsSettings

router = APIRouter(prefix="/api/v1/settings", tags=["settings"], responses=errors(400, 401, 403))
SettingsManager = Annotated[Principal, Depends(require(Permission.SETTINGS_MANAGE))]


@router.get("/analytics", response_model=AnalyticsSettings)
def get_analytics_settings(session: DbSession, principal: SettingsManager) -> AnalyticsSettings:
    workspace = service.get_or_raise(session, principal.workspace_id)
    return service.get_analytics_settings(workspace)


@router.put("/analytics", response_model=AnalyticsSettings, responses=errors(422))
def put_analytics_settings(
    data: AnalyticsSettings, session: DbSession, principal: SettingsManager
) -> AnalyticsSettings:
    workspace = service.get_or_raise(session, principal.workspace_id)
    return service.update_analytics_settings(session, workspace, data)
