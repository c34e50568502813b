"""Rendering admin pages: the template environment, the menu a user may see, error pages, and how
times are shown (`local_time`: in the workspace's time zone, the same way on every page).

Templates live in `admin/templates` and mirror the route names: the page `admin_insights_goals` is
`admin/insights/goals.html`. Every page extends `base.html`, which needs `page(...)`'s context: who is
signed in, the menu their permissions open, the CSRF token for forms and the flash message.

Pages load no script or style from anywhere but `/admin/static` (a strict Content-Security-Policy says
so to the browser): no inline scripts, no CDN.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from comerix.admin.dependencies import SESSION_COOKIE
from comerix.admin.errors import SignInRequired
from comerix.auth.errors import PermissionDenied
from comerix.auth.roles import PERMISSION_SUMMARIES, Permission, roles_with
from comerix.auth.service import Principal
from comerix.auth.sessions import SignedIn, resolve, take_flash
from comerix.db import Database
from comerix.errors import DomainError, problems_from_pydantic
from comerix.text import json_text
from comerix.workspaces import service as workspaces

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def static_version(folder: Path) -> str:
    """A digest of the static files, appended to their URLs: a browser that kept an older script or
    style sheet fetches the new one as soon as the service changes it."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


templates.env.globals["static_version"] = static_version(HERE / "static")
templates.env.globals["zip"] = zip  # pairs of figures: a sum as shown, and exactly

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class MenuEntry:
    section: str
    label: str
    path: str
    permission: Permission


MENU = (
    MenuEntry("Insights", "Goals", "/admin/insights/goals", Permission.GOALS_MANAGE),
    MenuEntry("Insights", "Events", "/admin/insights/events", Permission.TELEMETRY),
    MenuEntry("Insights", "Steps", "/admin/insights/steps", Permission.TELEMETRY),
    MenuEntry("Insights", "Conversations", "/admin/insights/conversations", Permission.TELEMETRY),
    MenuEntry("Insights", "Analytics", "/admin/insights/analytics", Permission.ANALYTICS_VIEW),
    MenuEntry("Contacts", "Contacts", "/admin/contacts", Permission.CONTACTS_MANAGE),
    MenuEntry("Settings", "Analytics", "/admin/settings/analytics", Permission.SETTINGS_MANAGE),
    MenuEntry("Settings", "Exchange rates", "/admin/settings/rates", Permission.SETTINGS_MANAGE),
    MenuEntry("Settings", "Users", "/admin/settings/users", Permission.SETTINGS_MANAGE),
    MenuEntry("Settings", "API keys & tokens", "/admin/settings/keys", Permission.SETTINGS_MANAGE),
)


def menu_for(principal: Principal) -> list[tuple[str, list[MenuEntry]]]:
    """The menu sections and entries the principal's permissions open, in order."""
    sections: dict[str, list[MenuEntry]] = {}
    for entry in MENU:
        if entry.permission in principal.permissions:
            sections.setdefault(entry.section, []).append(entry)
    return list(sections.items())


def home_path(principal: Principal) -> str:
    """Where a signed-in user lands: the first page their permissions open."""
    entries = [entry for entry in MENU if entry.permission in principal.permissions]
    return entries[0].path if entries else "/admin/account"


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_pretty_json(value: Any) -> str:
    """Indented JSON for people (decimals as strings, keys in their stored order)."""
    return json_text(value, default=_json_default, indent=True)


def to_json_data(value: Any) -> Markup:
    """JSON for a `<script type="application/json">` block, safe inside HTML."""
    text = json_text(value, default=_json_default)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


TimeUnit = Literal["second", "minute", "day"]
_TIME_FORMATS: dict[TimeUnit, str] = {
    "second": "%Y-%m-%d %H:%M:%S %Z",  # events, contacts: when exactly something happened
    "minute": "%Y-%m-%d %H:%M %Z",  # keys and tokens: created, revoked
    "day": "%Y-%m-%d",  # users: added on
}


def workspace_timezone(session: Session, signed_in: SignedIn) -> str:
    """The IANA name of the signed-in user's workspace's reporting time zone: every time on the pages
    is shown in it. Pages that show times pass it to their template as `timezone`."""
    return workspaces.get_or_raise(session, signed_in.principal.workspace_id).timezone


def local_time(moment: datetime, timezone: str, unit: TimeUnit = "second") -> str:
    """A stored (UTC) moment as people of the workspace read it: its local date in `timezone` and, to
    the `unit`, its local time with the zone's abbreviation (`2026-11-01 10:30:00 CET`). The one place
    the pages format times: in templates it is the filter `{{ moment|local_time }}`."""
    return moment.astimezone(ZoneInfo(timezone)).strftime(_TIME_FORMATS[unit])


@pass_context
def _local_time_filter(context: Context, moment: datetime, unit: TimeUnit = "second") -> str:
    return local_time(moment, context["timezone"], unit)


def code_spans(message: str) -> Markup:
    """A message of the API's (which names fields and values between backticks: "is before `from`") as
    a page shows it: escaped, each backticked name set in code."""
    return Markup(_BACKTICKED.sub(r"<code>\1</code>", str(escape(message))))  # noqa: S704 (escaped first)


_BACKTICKED = re.compile(r"`([^`]+)`")

templates.env.filters["code_spans"] = code_spans
templates.env.filters["pretty_json"] = to_pretty_json
templates.env.filters["json_data"] = to_json_data
templates.env.filters["local_time"] = _local_time_filter


def page(
    request: Request,
    template: str,
    signed_in: SignedIn | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    current: str | None = None,
) -> Response:
    """A page for `signed_in` (None on the sign-in page). `current` is the menu path to highlight
    (default: the longest menu path the URL starts with). Takes the session's flash message."""
    path = request.url.path
    if current is None:
        matches = [entry.path for entry in MENU if path == entry.path or path.startswith(entry.path + "/")]
        current = max(matches, key=len, default=None)
    base: dict[str, Any] = {
        "principal": signed_in.principal if signed_in else None,
        "menu": menu_for(signed_in.principal) if signed_in else [],
        "current": current,
        "csrf_token": signed_in.csrf_token if signed_in else None,
        "flash": take_flash(signed_in.row) if signed_in and status_code < 400 else None,
    }
    return templates.TemplateResponse(
        request, template, base | (context or {}), status_code=status_code, headers=SECURITY_HEADERS
    )


def redirect(path: str) -> RedirectResponse:
    """The redirect of post-redirect-get (303: the browser follows with a GET)."""
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Not valid",
    429: "Too many attempts",
    500: "Something went wrong",
}


def _signed_in(request: Request) -> SignedIn | None:
    """Who is signed in, for the menu of an error page: known when a page dependency ran; otherwise
    (an unknown address under /admin, say) looked up from the session cookie."""
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if signed_in is None and cookie:
        database: Database = request.app.state.database
        with database.sessions() as session:
            signed_in = resolve(session, cookie, now=request.app.state.clock.now())
    return signed_in


def cursor_text(moment: datetime, key: object) -> str:
    """Where a list's next page starts, for its "older" link: after the row of this time and key."""
    return f"{moment.isoformat()}_{key}"


def read_cursor(text: str) -> tuple[datetime, str] | None:
    """The (time, key) of `cursor_text`, or None for anything else (the list then starts at the top).
    The time holds no underscore, so a key may."""
    moment, _, key = text.partition("_")
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return None
    return (parsed, key) if key and parsed.tzinfo is not None else None


def _needs(permission: Permission, principal: Principal) -> str:
    """Why a page is closed to this user, in words: what it takes, and which role has it."""
    roles = [role.value for role in roles_with(permission)]
    which = roles[0] if len(roles) == 1 else ", ".join(roles[:-1]) + " or " + roles[-1]
    return (
        f"this page needs the permission to {PERMISSION_SUMMARIES[permission]} ({permission.value}). "
        f"Your role, {principal.role.value}, does not grant it; the {which} role does. "
        "An admin of this workspace can change your role under Settings → Users"
    )


def error_page(request: Request, exc: Exception, status: int) -> Response | None:
    """An error met on an admin page, as a page (the menu included when someone is signed in).
    None for anything else, which then gets the API's JSON error."""
    if not request.url.path.startswith("/admin") or request.url.path.startswith("/admin/static"):
        return None
    if "application/json" in request.headers.get("accept", ""):
        return None  # the pages' own scripts ask for JSON
    if isinstance(exc, SignInRequired):
        return redirect(f"/admin/login?next={quote(exc.next_path, safe='/')}")
    signed_in = _signed_in(request)
    if isinstance(exc, PermissionDenied) and signed_in is not None:
        message = _needs(exc.permission, signed_in.principal)
    elif isinstance(exc, DomainError):
        message = exc.message
    elif isinstance(exc, RequestValidationError):
        problems = problems_from_pydantic(exc.errors())
        message = "this was not sent as expected: " + "; ".join(
            f"{p.field} {p.message}" for p in problems[:3]
        )
    elif isinstance(exc, StarletteHTTPException) and status != 500:
        message = "there is no such page" if status == 404 else str(exc.detail)
    else:
        message = (
            "the server failed; nothing was changed. Try again, and tell your administrator if it persists"
        )
    response = templates.TemplateResponse(
        request,
        "admin/error.html",
        {
            "principal": signed_in.principal if signed_in else None,
            "menu": menu_for(signed_in.principal) if signed_in else [],
            "current": None,
            "csrf_token": signed_in.csrf_token if signed_in else None,
            "flash": None,
            "status": status,
            "title": _TITLES.get(status, "Error"),
            "message": message,
        },
        status_code=status,
        headers=SECURITY_HEADERS,
    )
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
