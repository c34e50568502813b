"""Signing in and out: `/admin/login`, `/admin/logout`, and `/admin`, which sends a user to their first page.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie: the form carries the
same random value as a short-lived cookie only this path receives. Failed attempts are throttled per
email and per client address (`admin.throttle`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from comerix.admin import credentials
from comerix.admin.dependencies import CSRF_FIELD, SESSION_COOKIE, AnyUserPage
from comerix.admin.pages import home_path, page, redirect
from comerix.admin.throttle import LoginThrottle
from comerix.auth import sessions
from comerix.auth.service import principal_of
from comerix.auth.sessions import SESSION_LIFETIME
from comerix.http import DbSession, Now
from comerix.settings import Settings

router = APIRouter(prefix="/admin", include_in_schema=False)

LOGIN_CSRF_COOKIE = "comerix_login_csrf"
LOGIN_PATH = "/admin/login"


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path of the admin pages (never another site), else None."""
    if target and target.startswith("/admin") and not target.startswith(("//", "/admin/login")):
        return target
    return None


def _login_form(
    request: Request,
    *,
    email: str = "",
    next_path: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in form; `next_path` (default: the `next` query parameter) is where a success leads."""
    token = secrets.token_urlsafe(32)
    context = {
        "email": email,
        "error": error,
        "notice": notice,
        "login_csrf": token,
        "next": safe_next(next_path or request.query_params.get("next") or None) or "",
    }
    response = page(request, "admin/login.html", None, context, status_code=status)
    settings: Settings = request.app.state.settings
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_PATH,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("", name="admin_home")
def home(signed_in: AnyUserPage) -> Response:
    return redirect(home_path(signed_in.principal))


@router.get("/login", name="admin_login")
def login_form(request: Request, session: DbSession, now: Now) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    signed_in = sessions.resolve(session, cookie, now=now) if cookie else None
    if signed_in is not None:
        return redirect(safe_next(request.query_params.get("next")) or home_path(signed_in.principal))
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    return _login_form(request, notice=notice)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    now: Now,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_form(
            request,
            email=email,
            next_path=next_path,
            error="The form had expired. Please sign in again.",
            status=403,
        )
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    attempt = throttle.attempt(email, address, now)
    user = sessions.authenticate_password(session, email, password) if email and password else None
    if user is None:
        return _login_form(
            request,
            email=email,
            next_path=next_path,
            error="The email or the password is wrong.",
            status=401,
        )
    throttle.succeeded(attempt)
    cookie = sessions.open_session(session, user, now=now)
    response = redirect(safe_next(next_path) or home_path(principal_of(user)))
    settings: Settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/admin",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.get("/logout", name="admin_logout")
def logout_form(request: Request, signed_in: AnyUserPage) -> Response:
    return page(request, "admin/logout.html", signed_in)


@router.post("/logout")
def logout(session: DbSession, signed_in: AnyUserPage) -> Response:
    sessions.close_session(session, signed_in.row)
    response = redirect(f"{LOGIN_PATH}?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


@router.get("/account", name="admin_account")
def account(request: Request, session: DbSession, signed_in: AnyUserPage) -> Response:
    """Who is signed in, their role and what it allows, and their personal access tokens (created and
    revoked by `admin.credentials`)."""
    return credentials.account_page(request, session, signed_in)
