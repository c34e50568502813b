"""Signing in to the admin pages: browser sessions, their CSRF tokens and one-time flash messages.

A session is a row of `admin_sessions`; the browser holds a credential (`cx_ses_…`) of which only the
SHA-256 is stored, so a copy of the database opens no session. Each session carries its own CSRF token,
which every admin form sends back. Sessions end at sign-out or after `SESSION_LIFETIME`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from comerix.auth import credentials
from comerix.auth.credentials import CredentialKind
from comerix.auth.models import AdminSession, User
from comerix.auth.passwords import spend_verification, verify_password
from comerix.auth.service import Principal, principal_of

SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class SignedIn:
    """A browser's valid session: who is signed in, its CSRF token, and the session row (for the flash).
    The plain fields stay readable after the request's transaction has ended (error pages)."""

    principal: Principal
    csrf_token: str
    row: AdminSession


def authenticate_password(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, or None. With the same email in several workspaces,
    the oldest account whose password matches wins."""
    if "\x00" in email:  # no stored email holds one, and PostgreSQL refuses it in a query
        spend_verification()
        return None
    users = session.scalars(
        select(User).where(User.email == email.strip().lower()).order_by(User.created_at, User.id)
    ).all()
    if not users:
        spend_verification()
    return next((user for user in users if verify_password(user.password_hash, password)), None)


def open_session(session: Session, user: User, *, now: datetime) -> str:
    """A new session for `user`; returns the cookie value, which is never stored."""
    cookie, token_hash = credentials.issue(CredentialKind.SESSION, user.workspace_id)
    session.execute(  # the user's ended sessions are of no use to anyone: keep the table small
        delete(AdminSession).where(
            AdminSession.workspace_id == user.workspace_id,
            AdminSession.user_id == user.id,
            AdminSession.expires_at <= now,
        )
    )
    session.add(
        AdminSession(
            workspace_id=user.workspace_id,
            user_id=user.id,
            token_hash=token_hash,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return cookie


def resolve(session: Session, cookie: str, *, now: datetime) -> SignedIn | None:
    """The signed-in user behind a session cookie, or None when it is unknown, ended or expired."""
    parsed = credentials.parse(cookie)
    if parsed is None or parsed.kind is not CredentialKind.SESSION:
        return None
    found = session.execute(
        select(AdminSession, User)
        .join(User, (User.workspace_id == AdminSession.workspace_id) & (User.id == AdminSession.user_id))
        .where(
            AdminSession.workspace_id == parsed.workspace_id,
            AdminSession.token_hash == parsed.digest,
            AdminSession.expires_at > now,
        )
    ).first()
    if found is None:
        return None
    row, user = found
    return SignedIn(principal=principal_of(user), csrf_token=row.csrf_token, row=row)


def close_session(session: Session, row: AdminSession) -> None:
    session.delete(row)


def csrf_matches(signed_in: SignedIn, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(signed_in.csrf_token.encode(), submitted.encode())


def set_flash(row: AdminSession, message: str, *, level: str = "success") -> None:
    """A message for the next page the browser shows (post-redirect-get)."""
    row.flash = {"message": message, "level": level}


def take_flash(row: AdminSession) -> dict[str, Any] | None:
    flash, row.flash = row.flash, None
    return flash
