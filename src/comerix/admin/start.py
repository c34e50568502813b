"""Getting started: what a new workspace needs to see its first figures. It creates a public Engine API
key, shows the request that sends a first event (curl, and `fetch` from a page), watches for that event
to arrive, and offers to make the first goal from it. The empty pages link here.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from comerix.admin.credentials import NewCredential
from comerix.admin.dependencies import SettingsPage, TelemetryPage
from comerix.admin.events import new_goal_path
from comerix.admin.pages import local_time, page, workspace_timezone
from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Permission
from comerix.auth.schemas import EngineKeyCreate
from comerix.auth.sessions import SignedIn
from comerix.http import DbSession, Now
from comerix.telemetry import explorer

router = APIRouter(prefix="/admin", include_in_schema=False)

START_PATH = "/admin/start"
KEY_NAME = "getting started"


def _start_page(
    request: Request, session: Session, signed_in: SignedIn, new_key: NewCredential | None = None
) -> Response:
    principal = signed_in.principal
    context = {
        "new_key": new_key,
        "key": new_key.value if new_key else "<your public key>",
        "may_create_keys": Permission.SETTINGS_MANAGE in principal.permissions,
        "base": str(request.base_url).rstrip("/"),
        "timezone": workspace_timezone(session, signed_in),
        "script_data": {"status_url": f"{START_PATH}/first-event"},
    }
    return page(request, "admin/start.html", signed_in, context, current=START_PATH)


@router.get("/start", name="admin_start")
def start(request: Request, session: DbSession, signed_in: TelemetryPage) -> Response:
    return _start_page(request, session, signed_in)


@router.post("/start/key", name="admin_start_key")
def create_start_key(request: Request, session: DbSession, signed_in: SettingsPage, now: Now) -> Response:
    """A public key for the widget, shown once, and written into the examples."""
    data = EngineKeyCreate(kind=EngineKeyKind.PUBLIC, name=KEY_NAME)
    key = auth.create_engine_key(session, signed_in.principal.workspace_id, data, now=now)
    return _start_page(
        request, session, signed_in, NewCredential("Public key “getting started”", key, START_PATH)
    )


@router.get("/start/first-event", name="admin_start_first_event")
def first_event(session: DbSession, signed_in: TelemetryPage, now: Now) -> JSONResponse:
    """The latest event of the last 90 days, if any: the page polls this until the first one arrives."""
    workspace_id = signed_in.principal.workspace_id
    query = explorer.arrivals(workspace_id, now - timedelta(days=90)).limit(1)
    row = session.scalars(query).first()
    if row is None:
        return JSONResponse({"event": None}, headers={"Cache-Control": "no-store"})
    event = explorer.read(row)
    may_create_goals = Permission.GOALS_MANAGE in signed_in.principal.permissions
    return JSONResponse(
        {
            "event": {
                "name": event.name,
                "local_time": local_time(event.received_at, workspace_timezone(session, signed_in)),
                "goal_path": new_goal_path(event) if may_create_goals else None,
            }
        },
        headers={"Cache-Control": "no-store"},
    )
