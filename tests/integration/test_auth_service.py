"""Users, tokens and Engine keys on each backend: hashing, uniqueness, and which credential opens what."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.auth import service
from comerix.auth.errors import InvalidCredential, UserEmailTaken, UserNotFound
from comerix.auth.models import EngineKey, EngineKeyKind, PersonalAccessToken, User
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from tests.factories import make_engine_key, make_member, make_user, make_workspace


def test_a_token_authenticates_its_user(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now(), role=Role.ANALYST)
    principal = service.authenticate_token(session, member.token)
    assert (principal.user_id, principal.workspace_id, principal.role) == (
        member.user.id,
        member.workspace.id,
        Role.ANALYST,
    )


def test_tokens_and_keys_are_stored_only_as_hashes(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    key = make_engine_key(session, member.workspace, clock.now())
    stored = (
        session.scalars(select(PersonalAccessToken.token_hash)).all()
        + session.scalars(select(EngineKey.key_hash)).all()
    )
    assert member.token not in stored
    assert key not in stored
    assert all(len(value) == 64 for value in stored)


def test_passwords_are_stored_as_argon2_hashes(session: Session, clock: FixedClock) -> None:
    user = make_user(session, make_workspace(session, clock.now()), clock.now(), password="correct horse")
    assert session.scalar(select(User.password_hash).where(User.id == user.id)).startswith("$argon2id$")


def test_a_revoked_token_is_refused(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    for row in session.scalars(select(PersonalAccessToken)):
        row.revoked_at = clock.now()
    with pytest.raises(InvalidCredential):
        service.authenticate_token(session, member.token)


def test_a_forged_token_for_a_real_workspace_is_refused(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    forged = member.token[:-4] + ("aaaa" if not member.token.endswith("aaaa") else "bbbb")
    with pytest.raises(InvalidCredential):
        service.authenticate_token(session, forged)


def test_engine_keys_do_not_open_the_admin_api(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    for kind in EngineKeyKind:
        with pytest.raises(InvalidCredential):
            service.authenticate_token(session, make_engine_key(session, member.workspace, clock.now(), kind))


def test_admin_tokens_do_not_open_the_engine_api(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    with pytest.raises(InvalidCredential):
        service.authenticate_engine_key(session, member.token)


def test_engine_keys_authenticate_with_their_kind(session: Session, clock: FixedClock) -> None:
    workspace = make_workspace(session, clock.now())
    for kind in EngineKeyKind:
        client = service.authenticate_engine_key(
            session, make_engine_key(session, workspace, clock.now(), kind)
        )
        assert (client.workspace_id, client.kind) == (workspace.id, kind)


def test_an_email_is_unique_within_a_workspace_only(session: Session, clock: FixedClock) -> None:
    first, second = make_workspace(session, clock.now()), make_workspace(session, clock.now())
    make_user(session, first, clock.now(), email="ann@shop.example")
    with pytest.raises(UserEmailTaken):
        make_user(session, first, clock.now(), email="ANN@shop.example")
    assert make_user(session, second, clock.now(), email="ann@shop.example").email == "ann@shop.example"


def test_users_are_found_by_email_within_their_workspace(session: Session, clock: FixedClock) -> None:
    first, second = make_workspace(session, clock.now()), make_workspace(session, clock.now())
    user = make_user(session, first, clock.now(), email="ann@shop.example")
    assert service.get_user_by_email(session, first.id, " Ann@Shop.example ").id == user.id
    with pytest.raises(UserNotFound):
        service.get_user_by_email(session, second.id, "ann@shop.example")
