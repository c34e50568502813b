"""Users, tokens and Engine keys on each backend: hashing, uniqueness, which credential opens what, and
listing, changing, removing and revoking them within a workspace only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.auth import credentials, service, sessions
from comerix.auth.errors import (
    EngineKeyNotFound,
    InvalidCredential,
    OwnAccountProtected,
    TokenNotFound,
    UserEmailTaken,
    UserIdNotFound,
    UserNotFound,
)
from comerix.auth.models import EngineKey, EngineKeyKind, PersonalAccessToken, User
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals.models import GoalRevision
from comerix.telemetry.engine_auth import EngineKeyCache
from tests import aio
from tests.factories import make_engine_key, make_goal, make_member, make_user, make_workspace


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


# Listing, changing and revoking (the settings pages' services) ---------------------------------------


def test_users_are_listed_oldest_first_within_their_workspace(session: Session, clock: FixedClock) -> None:
    workspace = make_workspace(session, clock.now())
    first = make_user(session, workspace, clock.now())
    clock.advance(timedelta(minutes=1))
    second = make_user(session, workspace, clock.now(), role=Role.VIEWER)
    make_user(session, make_workspace(session, clock.now()), clock.now())
    listed = service.list_users(session, workspace.id)
    assert [(u.id, u.role) for u in listed] == [(first.id, Role.ADMIN), (second.id, Role.VIEWER)]


def test_set_role_changes_what_the_users_token_may_do(session: Session, clock: FixedClock) -> None:
    admin = make_member(session, clock.now())
    other = make_member(session, clock.now(), role=Role.DESIGNER, workspace=admin.workspace)
    service.set_role(session, admin.principal, other.user.id, Role.VIEWER)
    assert service.authenticate_token(session, other.token).role is Role.VIEWER


def test_an_admin_cannot_change_their_own_role(session: Session, clock: FixedClock) -> None:
    admin = make_member(session, clock.now())
    with pytest.raises(OwnAccountProtected) as refused:
        service.set_role(session, admin.principal, admin.user.id, Role.VIEWER)
    assert refused.value.details == [{"field": "role", "message": refused.value.message}]
    assert service.set_role(session, admin.principal, admin.user.id, Role.ADMIN).role is Role.ADMIN
    assert service.authenticate_token(session, admin.token).role is Role.ADMIN


def test_another_workspaces_user_is_not_found_and_untouched(session: Session, clock: FixedClock) -> None:
    admin = make_member(session, clock.now())
    stranger = make_member(session, clock.now())
    with pytest.raises(UserIdNotFound):
        service.set_role(session, admin.principal, stranger.user.id, Role.VIEWER)
    with pytest.raises(UserIdNotFound):
        service.remove_user(session, admin.principal, stranger.user.id)
    assert service.authenticate_token(session, stranger.token).role is Role.ADMIN


def test_removing_a_user_ends_their_sessions_and_tokens_and_keeps_their_email_in_goal_history(
    session: Session, clock: FixedClock
) -> None:
    admin = make_member(session, clock.now())
    leaver = make_member(session, clock.now(), role=Role.DESIGNER, workspace=admin.workspace)
    goal = make_goal(session, leaver.principal, clock.now())
    cookie = sessions.open_session(session, leaver.user, now=clock.now())

    removed = service.remove_user(session, admin.principal, leaver.user.id)

    assert removed.email == leaver.user.email
    assert sessions.resolve(session, cookie, now=clock.now()) is None
    with pytest.raises(InvalidCredential):
        service.authenticate_token(session, leaver.token)
    assert [u.id for u in service.list_users(session, admin.workspace.id)] == [admin.user.id]
    revision = session.scalars(select(GoalRevision).where(GoalRevision.goal_id == goal.id)).one()
    assert (revision.actor_user_id, revision.actor_email) == (None, leaver.user.email)


def test_an_admin_cannot_remove_themselves(session: Session, clock: FixedClock) -> None:
    admin = make_member(session, clock.now())
    with pytest.raises(OwnAccountProtected):
        service.remove_user(session, admin.principal, admin.user.id)
    assert service.authenticate_token(session, admin.token).user_id == admin.user.id


def test_tokens_are_listed_with_their_user_newest_first(session: Session, clock: FixedClock) -> None:
    admin = make_member(session, clock.now())
    clock.advance(timedelta(minutes=1))
    analyst = make_member(session, clock.now(), role=Role.ANALYST, workspace=admin.workspace)
    make_member(session, clock.now())  # another workspace
    listed = service.list_tokens(session, admin.workspace.id)
    assert [(t.user_email, t.hint) for t in listed] == [
        (analyst.user.email, credentials.hint(analyst.token)),
        (admin.user.email, credentials.hint(admin.token)),
    ]
    mine = service.list_tokens(session, admin.workspace.id, user_id=admin.user.id)
    assert [t.user_id for t in mine] == [admin.user.id]


def test_a_revoked_token_stays_listed_and_opens_nothing(session: Session, clock: FixedClock) -> None:
    member = make_member(session, clock.now())
    [token] = service.list_tokens(session, member.workspace.id)
    service.revoke_token(session, member.workspace.id, token.id, now=clock.now())
    clock.advance(timedelta(hours=1))
    service.revoke_token(session, member.workspace.id, token.id, now=clock.now())  # again: no change
    with pytest.raises(InvalidCredential):
        service.authenticate_token(session, member.token)
    [listed] = service.list_tokens(session, member.workspace.id)
    assert listed.revoked_at == clock.now() - timedelta(hours=1)


def test_a_token_is_revoked_only_in_its_workspace_and_for_its_user(
    session: Session, clock: FixedClock
) -> None:
    member = make_member(session, clock.now())
    colleague = make_member(session, clock.now(), workspace=member.workspace)
    stranger = make_member(session, clock.now())
    [stranger_token] = service.list_tokens(session, stranger.workspace.id)
    with pytest.raises(TokenNotFound):
        service.revoke_token(session, member.workspace.id, stranger_token.id, now=clock.now())
    [colleague_token] = service.list_tokens(session, member.workspace.id, user_id=colleague.user.id)
    with pytest.raises(TokenNotFound):
        service.revoke_token(
            session, member.workspace.id, colleague_token.id, now=clock.now(), user_id=member.user.id
        )
    assert service.authenticate_token(session, stranger.token).user_id == stranger.user.id
    assert service.authenticate_token(session, colleague.token).user_id == colleague.user.id


def test_engine_keys_are_listed_and_revoked_within_their_workspace(
    session: Session, clock: FixedClock
) -> None:
    workspace, other = make_workspace(session, clock.now()), make_workspace(session, clock.now())
    key = make_engine_key(session, workspace, clock.now(), EngineKeyKind.PUBLIC)
    other_key = make_engine_key(session, other, clock.now())
    [listed] = service.list_engine_keys(session, workspace.id)
    assert (listed.kind, listed.hint, listed.revoked_at) == (
        EngineKeyKind.PUBLIC,
        credentials.hint(key),
        None,
    )
    [other_listed] = service.list_engine_keys(session, other.id)
    with pytest.raises(EngineKeyNotFound):
        service.revoke_engine_key(session, workspace.id, other_listed.id, now=clock.now())
    assert service.authenticate_engine_key(session, other_key).workspace_id == other.id

    revoked = service.revoke_engine_key(session, workspace.id, listed.id, now=clock.now())
    assert revoked.key_hash == credentials.digest(key)
    with pytest.raises(InvalidCredential):
        service.authenticate_engine_key(session, key)
    assert service.list_engine_keys(session, workspace.id)[0].revoked_at == clock.now()


def test_the_key_cache_forgets_a_key_once_its_revocation_commits(db: Database, clock: FixedClock) -> None:
    """A request that reads the key between the revocation and its commit must not keep it cached."""
    with db.transaction() as session:
        workspace = make_workspace(session, clock.now())
        key = make_engine_key(session, workspace, clock.now())
    cache = EngineKeyCache(db)
    aio.run(cache.authenticate(key))  # remembered

    with db.transaction() as session:
        key_id = service.list_engine_keys(session, workspace.id)[0].id
        revoked = service.revoke_engine_key(session, workspace.id, key_id, now=clock.now())
        cache.forget_after_commit(session, revoked.key_hash)
        aio.run(cache.authenticate(key))  # another request, before the commit: still valid, cached again
    with pytest.raises(InvalidCredential):
        aio.run(cache.authenticate(key))
