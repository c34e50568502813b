"""Dependencies of the admin pages: who is signed in, what they may see, and the CSRF check.

Every page takes `page_for(permission)`: no session → redirect to the sign-in form; a session without
the permission → the 403 page; a POST without the session's CSRF token (form field `csrf_token`, or the
`X-CSRF-Token` header for the pages' own scripts) → the 403 page, and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from comerix.admin.errors import CsrfRejected, SignInRequired
from comerix.auth import sessions
from comerix.auth.roles import Permission
from comerix.auth.sessions import SignedIn
from comerix.http import DbSession, Now

SESSION_COOKIE = "comerix_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def signed_in_user(request: Request, session: DbSession, now: Now) -> SignedIn:
    """The signed-in user of this browser, or `SignInRequired` (which redirects to the sign-in form)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    signed_in = sessions.resolve(session, cookie, now=now) if cookie else None
    if signed_in is None:
        raise SignInRequired(_return_path(request))
    request.state.signed_in = signed_in  # the error pages show the menu too
    return signed_in


def _return_path(request: Request) -> str:
    """Where to go back after signing in: the page asked for; for a form sent after the session ended,
    the page the form was on (its same-origin Referer), since its address only takes POSTs."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    same_origin = referer.netloc == request.url.netloc and referer.scheme in ("http", "https")
    if same_origin and referer.path.startswith("/admin") and not referer.path.startswith("/admin/login"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/admin"


async def check_csrf(request: Request, signed_in: SignedIn) -> None:
    """Refuse a state-changing request that does not carry the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not sessions.csrf_matches(signed_in, submitted):
        raise CsrfRejected()


SignedInUser = Annotated[SignedIn, Depends(signed_in_user)]


def page_for(permission: Permission | None) -> Callable[[Request, SignedIn], Awaitable[SignedIn]]:
    """A dependency letting through a signed-in user with `permission` (None: any signed-in user),
    after the CSRF check on POSTs."""

    async def dependency(request: Request, signed_in: SignedInUser) -> SignedIn:
        if permission is not None:
            signed_in.principal.require(permission)
        await check_csrf(request, signed_in)
        return signed_in

    return dependency


AnyUserPage = Annotated[SignedIn, Depends(page_for(None))]
GoalsPage = Annotated[SignedIn, Depends(page_for(Permission.GOALS_MANAGE))]
TelemetryPage = Annotated[SignedIn, Depends(page_for(Permission.TELEMETRY))]
AnalyticsPage = Annotated[SignedIn, Depends(page_for(Permission.ANALYTICS_VIEW))]
ContactsPage = Annotated[SignedIn, Depends(page_for(Permission.CONTACTS_MANAGE))]
SettingsPage = Annotated[SignedIn, Depends(page_for(Permission.SETTINGS_MANAGE))]
