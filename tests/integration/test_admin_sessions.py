"""Sign-in sessions of the admin pages on each backend: resolving a cookie, expiry, clean-up."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.auth import sessions
from comerix.auth.models import AdminSession
from comerix.auth.sessions import SESSION_LIFETIME
from comerix.clock import FixedClock
from tests.factories import make_user, make_workspace


def test_a_cookie_opens_its_session_until_it_expires(session: Session, clock: FixedClock) -> None:
    user = make_user(session, make_workspace(session, clock.now()), clock.now())
    cookie = sessions.open_session(session, user, now=clock.now())
    signed_in = sessions.resolve(session, cookie, now=clock.now() + SESSION_LIFETIME / 2)
    assert signed_in is not None
    assert signed_in.principal.user_id == user.id
    assert sessions.resolve(session, cookie, now=clock.now() + SESSION_LIFETIME) is None
    assert sessions.resolve(session, cookie + "x", now=clock.now()) is None
    assert sessions.resolve(session, "cx_pat_" + cookie.removeprefix("cx_ses_"), now=clock.now()) is None


def test_signing_in_again_clears_the_users_expired_sessions(session: Session, clock: FixedClock) -> None:
    user = make_user(session, make_workspace(session, clock.now()), clock.now())
    sessions.open_session(session, user, now=clock.now())
    sessions.open_session(session, user, now=clock.now() + SESSION_LIFETIME / 2)
    sessions.open_session(session, user, now=clock.now() + SESSION_LIFETIME)  # the first one has expired
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 2


def test_the_password_must_match_and_email_case_does_not_matter(session: Session, clock: FixedClock) -> None:
    user = make_user(session, make_workspace(session, clock.now()), clock.now())
    assert sessions.authenticate_password(session, user.email.upper(), "correct horse") == user
    assert sessions.authenticate_password(session, user.email, "wrong horse") is None
    assert sessions.authenticate_password(session, "nobody@shop.example", "correct horse") is None
