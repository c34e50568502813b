"""Settings → Analytics (base currency, reporting time zone) and Settings → Users (add, change role,
remove). Removing asks for confirmation on a page of its own first. The keys and tokens pages are in
`admin.credentials`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

import pycountry
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from comerix.admin.dependencies import SettingsPage
from comerix.admin.forms import errors_by_field, parse_form
from comerix.admin.pages import page, redirect, workspace_timezone
from comerix.analytics import rollups
from comerix.auth import service as auth
from comerix.auth import sessions
from comerix.auth.errors import OwnAccountProtected, UserEmailTaken
from comerix.auth.passwords import MIN_PASSWORD_LENGTH
from comerix.auth.roles import PERMISSION_SUMMARIES, PERMISSIONS_BY_ROLE, ROLE_SUMMARIES, Permission, Role
from comerix.auth.schemas import RoleChange, UserCreate
from comerix.auth.sessions import SignedIn
from comerix.errors import DomainError, Invalid
from comerix.http import DbSession, Now
from comerix.money import currency_codes
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import AnalyticsSettings

router = APIRouter(prefix="/admin", include_in_schema=False)

ANALYTICS_PATH = "/admin/settings/analytics"
USERS_PATH = "/admin/settings/users"

FormText = Annotated[str, Form(max_length=1024)]

# Regions of the IANA names; everything else (UTC, Etc/GMT+5, US/Eastern, …) goes under "Other".
ZONE_REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def currency_choices() -> list[tuple[str, str]]:
    """Every ISO 4217 currency the service accepts, as (code, "code · name")."""
    choices = []
    for code in sorted(currency_codes()):
        currency = pycountry.currencies.get(alpha_3=code)
        choices.append((code, f"{code} · {currency.name}" if currency else code))
    return choices


def timezone_groups(now: datetime) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every IANA zone, grouped by region, sorted, each labelled with its UTC offset at `now`."""
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in (*ZONE_REGIONS, "Other")}
    for name in sorted(_zone_names()):
        region = name.split("/", 1)[0]
        offset = now.astimezone(ZoneInfo(name)).strftime("%z")
        label = f"{name} (UTC{offset[:3]}:{offset[3:]})"
        groups[region if region in ZONE_REGIONS else "Other"].append((name, label))
    return [(region, zones) for region, zones in groups.items() if zones]


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def field_errors(error: DomainError) -> dict[str, str]:
    """The field problems of any domain error (a taken email, a protected account), for inline display."""
    return {str(d.get("field", "form")): str(d.get("message", error.message)) for d in error.details} or {
        "form": error.message
    }


# Settings → Analytics ------------------------------------------------------------------------------


def _analytics_page(
    request: Request,
    session: Session,
    signed_in: SignedIn,
    now: datetime,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    current = workspaces.get_analytics_settings(workspace)
    context = {
        "current": current,
        "values": values or current.model_dump(),
        "errors": errors or {},
        "currencies": currency_choices(),
        "zone_groups": timezone_groups(now),
    }
    return page(request, "admin/settings/analytics.html", signed_in, context, status_code=status_code)


@router.get("/settings/analytics", name="admin_settings_analytics")
def analytics_settings(request: Request, session: DbSession, signed_in: SettingsPage, now: Now) -> Response:
    """The base currency and the reporting time zone, with what changing each does."""
    return _analytics_page(request, session, signed_in, now)


@router.post("/settings/analytics")
def save_analytics_settings(
    request: Request,
    session: DbSession,
    signed_in: SettingsPage,
    now: Now,
    base_currency: FormText = "",
    timezone: FormText = "",
) -> Response:
    values = {"base_currency": base_currency, "timezone": timezone}
    try:
        data = parse_form(AnalyticsSettings, values)
    except Invalid as invalid:
        return _analytics_page(request, session, signed_in, now, values, errors_by_field(invalid), 422)
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    before = workspaces.get_analytics_settings(workspace)
    workspaces.update_analytics_settings(session, workspace, data, rebuild_rollups=rollups.rebuild)
    sessions.set_flash(signed_in.row, _saved_message(before, data))
    return redirect(ANALYTICS_PATH)


def _saved_message(before: AnalyticsSettings, after: AnalyticsSettings) -> str:
    changes = []
    if after.base_currency != before.base_currency:
        changes.append(f"Outcomes recorded from now on take {after.base_currency} as their base currency.")
    if after.timezone != before.timezone:
        changes.append(f"Reports are now cut into days of {after.timezone}; every total was recomputed.")
    return " ".join(["Analytics settings saved.", *changes]) if changes else "Nothing changed."


# Settings → Users -----------------------------------------------------------------------------------


def _users_page(
    request: Request,
    session: Session,
    signed_in: SignedIn,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    row_errors: dict[uuid.UUID, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "users": auth.list_users(session, signed_in.principal.workspace_id),
        "me": signed_in.principal.user_id,
        "roles": [
            (
                role,
                ROLE_SUMMARIES[role],
                [(PERMISSION_SUMMARIES[p], p.value) for p in Permission if p in granted],
            )
            for role, granted in PERMISSIONS_BY_ROLE.items()
        ],
        "role_options": [(role.value, role.value) for role in Role],
        "values": values or {"role": Role.VIEWER.value},
        "errors": errors or {},
        "row_errors": row_errors or {},
        "timezone": workspace_timezone(session, signed_in),
        "min_password_length": MIN_PASSWORD_LENGTH,
    }
    return page(request, "admin/settings/users.html", signed_in, context, status_code=status_code)


@router.get("/settings/users", name="admin_settings_users")
def users(request: Request, session: DbSession, signed_in: SettingsPage) -> Response:
    """The workspace's users and their roles, and what each role may do."""
    return _users_page(request, session, signed_in)


@router.post("/settings/users", name="admin_settings_users_create")
def add_user(
    request: Request,
    session: DbSession,
    signed_in: SettingsPage,
    now: Now,
    email: FormText = "",
    role: FormText = "",
    password: FormText = "",
) -> Response:
    values = {"email": email, "role": role}
    try:
        data = parse_form(UserCreate, values | {"password": password})
        user = auth.create_user(session, signed_in.principal.workspace_id, data, now=now)
    except (Invalid, UserEmailTaken) as error:
        return _users_page(
            request, session, signed_in, values=values, errors=field_errors(error), status_code=422
        )
    sessions.set_flash(
        signed_in.row, f"Added {user.email} as {user.role.value}. They sign in with the password you chose."
    )
    return redirect(USERS_PATH)


@router.post("/settings/users/{user_id}/role", name="admin_settings_users_role")
def change_role(
    request: Request, session: DbSession, signed_in: SettingsPage, user_id: uuid.UUID, role: FormText = ""
) -> Response:
    """A new role applies from the user's next request (roles are read per request), so their
    sessions stay open; see `auth.service.set_role`."""
    try:
        data = parse_form(RoleChange, {"role": role})
        user = auth.set_role(session, signed_in.principal, user_id, data.role)
    except (Invalid, OwnAccountProtected) as error:
        message = field_errors(error).get("role", "is not a role")
        return _users_page(request, session, signed_in, row_errors={user_id: message}, status_code=422)
    sessions.set_flash(signed_in.row, f"{user.email} is now {user.role.value}.")
    return redirect(USERS_PATH)


@router.get("/settings/users/{user_id}/remove", name="admin_settings_users_remove")
def confirm_remove_user(
    request: Request, session: DbSession, signed_in: SettingsPage, user_id: uuid.UUID
) -> Response:
    user = auth.get_user_or_raise(session, signed_in.principal.workspace_id, user_id)
    tokens = auth.list_tokens(session, user.workspace_id, user_id=user.id)
    active = sum(1 for token in tokens if token.revoked_at is None)
    context = {
        "heading": f"Remove {user.email}?",
        "lines": [
            f"{user.email} ({user.role.value}) will no longer be able to sign in.",
            "Their open sessions end at once, and their personal access tokens "
            f"({active} active) stop working and are deleted.",
            "The history of the goals they changed keeps their email.",
        ],
        "blocked": OwnAccountProtected("user").message if user.id == signed_in.principal.user_id else None,
        "action": f"{USERS_PATH}/{user.id}/remove",
        "button": "Remove user",
        "cancel": USERS_PATH,
    }
    return page(request, "admin/settings/confirm.html", signed_in, context)


@router.post("/settings/users/{user_id}/remove")
def remove_user(
    request: Request, session: DbSession, signed_in: SettingsPage, user_id: uuid.UUID
) -> Response:
    try:
        removed = auth.remove_user(session, signed_in.principal, user_id)
    except OwnAccountProtected as error:
        return _users_page(request, session, signed_in, row_errors={user_id: error.message}, status_code=422)
    sessions.set_flash(signed_in.row, f"Removed {removed.email}; their sessions and tokens ended.")
    return redirect(USERS_PATH)
