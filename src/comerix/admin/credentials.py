"""Settings → API keys & tokens (`/admin/settings/keys`: Engine API keys, the workspace's personal
access tokens) and, for any signed-in user, their own tokens on `/admin/account`.

A new key or token is shown once, on the answer page of the form that created it: never in a flash
message (stored with the session) nor in a URL; the page's script turns a reload into a plain GET.
Revoking asks for confirmation on a page of its own first, and a revoked Engine key is refused at once
by this process (`EngineKeyCache.forget_after_commit`), within the cache's TTL by others.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from comerix.admin.dependencies import AnyUserPage, SettingsPage
from comerix.admin.forms import errors_by_field, parse_form
from comerix.admin.pages import local_time, page, redirect, workspace_timezone
from comerix.admin.settings import FormText
from comerix.auth import service as auth
from comerix.auth import sessions
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import PERMISSION_SUMMARIES, Permission
from comerix.auth.schemas import EngineKeyCreate, PasswordChange, TokenCreate
from comerix.auth.sessions import SignedIn
from comerix.errors import Invalid
from comerix.http import DbSession, Now
from comerix.telemetry.engine_auth import EngineKeyCache

router = APIRouter(prefix="/admin", include_in_schema=False)

KEYS_PATH = "/admin/settings/keys"
ACCOUNT_PATH = "/admin/account"

KIND_SUMMARIES = {
    EngineKeyKind.PUBLIC: (
        "Goes into the chat widget on your website, where anyone can read it: it may only send events "
        "(POST /events)."
    ),
    EngineKeyKind.SECRET: (
        "Stays on your servers (the shop's backend, the agent's flows): it also sends server-side "
        "conversions such as completed sales (POST /conversions). Never put it in a web page."
    ),
}


@dataclass(frozen=True)
class NewCredential:
    """A key or token just created, for the one page that shows it."""

    label: str
    value: str
    return_path: str


def _cache_of(request: Request) -> EngineKeyCache:
    keys: EngineKeyCache = request.app.state.engine_keys
    return keys


# Settings → API keys & tokens -----------------------------------------------------------------------


def _keys_page(
    request: Request,
    session: Session,
    signed_in: SignedIn,
    *,
    new_key: NewCredential | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace_id = signed_in.principal.workspace_id
    context = {
        "keys": auth.list_engine_keys(session, workspace_id),
        "tokens": auth.list_tokens(session, workspace_id),
        "kinds": [(kind, KIND_SUMMARIES[kind]) for kind in EngineKeyKind],
        "new_key": new_key,
        "values": values or {"kind": EngineKeyKind.PUBLIC.value, "name": ""},
        "errors": errors or {},
        "timezone": workspace_timezone(session, signed_in),
    }
    return page(
        request, "admin/settings/keys.html", signed_in, context, status_code=status_code, current=KEYS_PATH
    )


@router.get("/settings/keys", name="admin_settings_keys")
def keys(request: Request, session: DbSession, signed_in: SettingsPage) -> Response:
    """Engine API keys (create, revoke) and the workspace's personal access tokens (revoke)."""
    return _keys_page(request, session, signed_in)


@router.post("/settings/keys", name="admin_settings_keys_create")
def create_key(
    request: Request,
    session: DbSession,
    signed_in: SettingsPage,
    now: Now,
    name: FormText = "",
    kind: FormText = "",
) -> Response:
    """The answer page shows the new key, once."""
    values = {"name": name, "kind": kind}
    try:
        data = parse_form(EngineKeyCreate, values)
    except Invalid as invalid:
        return _keys_page(
            request, session, signed_in, values=values, errors=errors_by_field(invalid), status_code=422
        )
    key = auth.create_engine_key(session, signed_in.principal.workspace_id, data, now=now)
    created = NewCredential(f"{data.kind.value.capitalize()} key “{data.name}”", key, KEYS_PATH)
    return _keys_page(request, session, signed_in, new_key=created)


@router.get("/settings/keys/{key_id}/revoke", name="admin_settings_keys_revoke")
def confirm_revoke_key(
    request: Request, session: DbSession, signed_in: SettingsPage, key_id: uuid.UUID
) -> Response:
    key = auth.get_engine_key_or_raise(session, signed_in.principal.workspace_id, key_id)
    consequence = (
        "The chat widget that carries it stops sending events."
        if key.kind is EngineKeyKind.PUBLIC
        else "The servers that use it can no longer send events or conversions."
    )
    return _confirm_revoke(
        request,
        signed_in,
        what=f"the {key.kind.value} key “{key.name}” ({key.hint})",
        lines=[f"The Engine API refuses it at once (401). {consequence}"],
        revoked_at=key.revoked_at,
        action=f"{KEYS_PATH}/{key.id}/revoke",
        cancel=KEYS_PATH,
        timezone=workspace_timezone(session, signed_in),
    )


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(
    request: Request, session: DbSession, signed_in: SettingsPage, now: Now, key_id: uuid.UUID
) -> Response:
    """Revoked in the database and forgotten by this process's key cache, so it fails at once here
    (and within `engine_auth.TTL_SECONDS` in other processes)."""
    key = auth.revoke_engine_key(session, signed_in.principal.workspace_id, key_id, now=now)
    _cache_of(request).forget_after_commit(session, key.key_hash)
    sessions.set_flash(signed_in.row, f"Revoked the {key.kind.value} key “{key.name}” ({key.hint}).")
    return redirect(KEYS_PATH)


@router.get("/settings/tokens/{token_id}/revoke", name="admin_settings_tokens_revoke")
def confirm_revoke_workspace_token(
    request: Request, session: DbSession, signed_in: SettingsPage, token_id: uuid.UUID
) -> Response:
    token = auth.get_token_or_raise(session, signed_in.principal.workspace_id, token_id)
    owner = auth.get_user_or_raise(session, token.workspace_id, token.user_id)
    return _confirm_revoke(
        request,
        signed_in,
        what=f"the token “{token.name}” ({token.hint}) of {owner.email}",
        lines=[
            "The JSON API and the OData feed refuse it at once (401): reports in Excel or Power BI "
            "that use it stop refreshing."
        ],
        revoked_at=token.revoked_at,
        action=f"/admin/settings/tokens/{token.id}/revoke",
        cancel=KEYS_PATH,
        timezone=workspace_timezone(session, signed_in),
        current=KEYS_PATH,
    )


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_workspace_token(
    session: DbSession, signed_in: SettingsPage, now: Now, token_id: uuid.UUID
) -> Response:
    token = auth.revoke_token(session, signed_in.principal.workspace_id, token_id, now=now)
    sessions.set_flash(signed_in.row, f"Revoked the token “{token.name}” ({token.hint}).")
    return redirect(KEYS_PATH)


def _confirm_revoke(
    request: Request,
    signed_in: SignedIn,
    *,
    what: str,
    lines: list[str],
    revoked_at: datetime | None,
    action: str,
    cancel: str,
    timezone: str,
    current: str | None = None,
) -> Response:
    when = local_time(revoked_at, timezone, "minute") if revoked_at else None
    context: dict[str, Any] = {
        "heading": f"Revoke {what}?",
        "lines": [*lines, "Revoking cannot be undone: create a new one to replace it."],
        "blocked": f"It was already revoked on {when}." if when else None,
        "action": action,
        "button": "Revoke",
        "cancel": cancel,
    }
    return page(request, "admin/settings/confirm.html", signed_in, context, current=current)


# Account → personal access tokens ---------------------------------------------------------------------


def account_page(
    request: Request,
    session: Session,
    signed_in: SignedIn,
    *,
    new_token: NewCredential | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The account page: who is signed in, what their role allows, their own tokens, and a form to
    change their password."""
    principal = signed_in.principal
    context = {
        "permissions": [(PERMISSION_SUMMARIES[p], p.value) for p in Permission if p in principal.permissions],
        "tokens": auth.list_tokens(session, principal.workspace_id, user_id=principal.user_id),
        "new_token": new_token,
        "values": values or {"name": ""},
        "errors": errors or {},
        "password_errors": password_errors or {},
        "timezone": workspace_timezone(session, signed_in),
        "api_base": str(request.base_url).rstrip("/"),
    }
    return page(
        request, "admin/account.html", signed_in, context, status_code=status_code, current=ACCOUNT_PATH
    )


@router.post("/account/tokens", name="admin_account_tokens")
def create_own_token(
    request: Request, session: DbSession, signed_in: AnyUserPage, now: Now, name: FormText = ""
) -> Response:
    """The answer page shows the new token, once."""
    values = {"name": name}
    try:
        data = parse_form(TokenCreate, values)
    except Invalid as invalid:
        return account_page(
            request, session, signed_in, values=values, errors=errors_by_field(invalid), status_code=422
        )
    principal = signed_in.principal
    user = auth.get_user_or_raise(session, principal.workspace_id, principal.user_id)
    token = auth.create_token(session, user, data, now=now)
    return account_page(
        request, session, signed_in, new_token=NewCredential(f"Token “{data.name}”", token, ACCOUNT_PATH)
    )


@router.post("/account/password", name="admin_account_password")
def change_own_password(
    request: Request,
    session: DbSession,
    signed_in: AnyUserPage,
    current_password: FormText = "",
    new_password: FormText = "",
    confirm_password: FormText = "",
) -> Response:
    """Change the signed-in user's password (with the current one); their other sessions end."""
    principal = signed_in.principal
    typed = {
        "current_password": current_password,
        "new_password": new_password,
        "confirm_password": confirm_password,
    }
    try:
        data = parse_form(PasswordChange, typed)
        user = auth.get_user_or_raise(session, principal.workspace_id, principal.user_id)
        ended = auth.change_password(session, user, data, keep_session=signed_in.row.id)
    except Invalid as invalid:  # nothing typed is shown again: a password never goes back into a page
        return account_page(
            request, session, signed_in, password_errors=errors_by_field(invalid), status_code=422
        )
    others = f" Your {ended} other session{'' if ended == 1 else 's'} ended." if ended else ""
    sessions.set_flash(signed_in.row, f"Your password is changed.{others}")
    return redirect(ACCOUNT_PATH)


@router.get("/account/tokens/{token_id}/revoke", name="admin_account_tokens_revoke")
def confirm_revoke_own_token(
    request: Request, session: DbSession, signed_in: AnyUserPage, token_id: uuid.UUID
) -> Response:
    principal = signed_in.principal
    token = auth.get_token_or_raise(session, principal.workspace_id, token_id, user_id=principal.user_id)
    return _confirm_revoke(
        request,
        signed_in,
        what=f"your token “{token.name}” ({token.hint})",
        lines=[
            "The JSON API and the OData feed refuse it at once (401): scripts and reports that use it "
            "stop working."
        ],
        revoked_at=token.revoked_at,
        action=f"{ACCOUNT_PATH}/tokens/{token.id}/revoke",
        cancel=ACCOUNT_PATH,
        timezone=workspace_timezone(session, signed_in),
        current=ACCOUNT_PATH,
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token(session: DbSession, signed_in: AnyUserPage, now: Now, token_id: uuid.UUID) -> Response:
    principal = signed_in.principal
    token = auth.revoke_token(session, principal.workspace_id, token_id, now=now, user_id=principal.user_id)
    sessions.set_flash(signed_in.row, f"Revoked your token “{token.name}” ({token.hint}).")
    return redirect(ACCOUNT_PATH)
