"""Settings → Rates over the JSON API (SPEC §11): a workspace's own exchange rates, which win over the
ECB's, read and replaced as a whole set; every change audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession, Now
from comerix.rates import service
from comerix.rates.schemas import RatesIn, RatesRead
from comerix.workspaces import service as workspaces

router = APIRouter(prefix="/api/v1/settings", tags=["settings"], responses=errors(400, 401, 403))
SettingsManager = Annotated[Principal, Depends(require(Permission.SETTINGS_MANAGE))]


@router.get("/rates", response_model=RatesRead)
def get_rates(session: DbSession, principal: SettingsManager) -> RatesRead:
    """The workspace's own rates (units of a currency per unit of its base currency, by date) and
    their latest changes."""
    return service.rates_of(session, workspaces.get_or_raise(session, principal.workspace_id))


@router.put("/rates", response_model=RatesRead, responses=errors(422))
def put_rates(data: RatesIn, session: DbSession, principal: SettingsManager, now: Now) -> RatesRead:
    """Replace the workspace's own rates with this set: outcomes recorded from now on convert with them
    (those stored stay as they are; `comerix rates apply` converts those still without a rate)."""
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    return service.replace_rates(session, workspace, data, actor=principal, now=now)
