"""When keys and tokens were last used (`auth.usage`), on each backend: uses noted in memory and
written in one flush, the newest time kept whatever order the writes come in, a write that fails keeping
its uses for the next flush, each workspace's listing showing only its own, the service writing what is
left as it stops, and a removed user's tokens taking their uses with them."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from comerix.app import create_app
from comerix.auth import service
from comerix.auth.models import CredentialUse
from comerix.auth.roles import Role
from comerix.auth.schemas import TokenRead
from comerix.auth.usage import CredentialUses
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.settings import Settings
from tests import aio
from tests.factories import Member, make_engine_key, make_member


def token_used_once(db: Database, clock: FixedClock) -> tuple[Member, TokenRead, CredentialUses]:
    """A member, their personal access token, and uses with one use of it noted, not yet written."""
    with db.transaction() as session:
        member = make_member(session, clock.now())
    with db.sessions() as session:
        (token,) = service.list_tokens(session, member.workspace.id)
    uses = CredentialUses(db)
    uses.used(member.workspace.id, token.id, clock.now())
    return member, token, uses


def test_uses_are_written_on_flush_and_the_newest_time_stays(db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        member = make_member(session, clock.now())
        make_engine_key(session, member.workspace, clock.now())
    with db.sessions() as session:
        (key,) = service.list_engine_keys(session, member.workspace.id)
        (token,) = service.list_tokens(session, member.workspace.id)
    assert (key.last_used_at, token.last_used_at) == (None, None)  # never used

    here, elsewhere = CredentialUses(db), CredentialUses(db)  # two serving processes
    later = clock.now() + timedelta(minutes=5)
    here.used(member.workspace.id, key.id, later)
    here.used(member.workspace.id, key.id, clock.now())  # an older use noted after a newer one
    here.used(member.workspace.id, token.id, clock.now())
    with db.sessions() as session:
        assert service.list_engine_keys(session, member.workspace.id)[0].last_used_at is None  # not yet
    assert here.flush() == 2
    assert here.flush() == 0  # nothing new
    elsewhere.used(member.workspace.id, key.id, clock.now() + timedelta(minutes=1))
    elsewhere.used(member.workspace.id, token.id, later)
    assert elsewhere.flush() == 2

    with db.sessions() as session:
        assert service.list_engine_keys(session, member.workspace.id)[0].last_used_at == later
        assert service.list_tokens(session, member.workspace.id)[0].last_used_at == later


def test_a_failed_write_keeps_its_uses_for_the_next_flush(db: Database, clock: FixedClock) -> None:
    member, token, uses = token_used_once(db, clock)
    with db.transaction() as session:  # the table gone for a moment: a real failure of the write
        session.execute(text("ALTER TABLE credential_uses RENAME TO credential_uses_away"))
    try:
        with pytest.raises(SQLAlchemyError):
            uses.flush()
        uses.used(member.workspace.id, token.id, clock.now() - timedelta(hours=1))  # older: does not win
    finally:
        with db.transaction() as session:
            session.execute(text("ALTER TABLE credential_uses_away RENAME TO credential_uses"))
    assert uses.flush() == 1
    with db.sessions() as session:
        assert service.list_tokens(session, member.workspace.id)[0].last_used_at == clock.now()


def test_a_workspace_sees_only_its_own_credentials_uses(db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        ours, theirs = make_member(session, clock.now()), make_member(session, clock.now())
    with db.sessions() as session:
        (their_token,) = service.list_tokens(session, theirs.workspace.id)
    uses = CredentialUses(db)
    uses.used(theirs.workspace.id, their_token.id, clock.now())
    uses.flush()
    with db.sessions() as session:
        assert [t.last_used_at for t in service.list_tokens(session, ours.workspace.id)] == [None]
        assert [t.last_used_at for t in service.list_tokens(session, theirs.workspace.id)] == [clock.now()]


def test_the_service_writes_the_uses_it_saw_when_it_stops(
    db: Database, settings: Settings, clock: FixedClock
) -> None:
    """No flush by hand: the app's lifespan writes what is left when the service stops."""
    with db.transaction() as session:
        member = make_member(session, clock.now())
        key = make_engine_key(session, member.workspace, clock.now())
    with TestClient(create_app(settings, clock=clock, database=db)) as client:
        sent = client.post("/events", json={"name": "hello"}, headers={"Authorization": f"Bearer {key}"})
        assert sent.status_code == 202, sent.text
        assert client.get("/api/v1/goals", headers=member.headers).status_code == 200
        with db.sessions() as session:
            assert service.list_engine_keys(session, member.workspace.id)[0].last_used_at is None  # not yet
    with db.sessions() as session:
        assert service.list_engine_keys(session, member.workspace.id)[0].last_used_at == clock.now()
        assert service.list_tokens(session, member.workspace.id)[0].last_used_at == clock.now()


def test_removing_a_user_removes_when_their_tokens_were_used(db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        leaver = make_member(session, clock.now(), role=Role.ANALYST, workspace=admin.workspace)
    with db.sessions() as session:
        tokens = {token.user_id: token.id for token in service.list_tokens(session, admin.workspace.id)}
    uses = CredentialUses(db)
    for token_id in tokens.values():
        uses.used(admin.workspace.id, token_id, clock.now())
    uses.flush()
    with db.transaction() as session:
        service.remove_user(session, admin.principal, leaver.user.id)
    with db.sessions() as session:
        left = set(session.scalars(select(CredentialUse.id)))
    assert tokens[admin.user.id] in left
    assert tokens[leaver.user.id] not in left


def test_flushing_on_a_timer_leaves_the_random_modules_state_alone(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer's spread is drawn from a generator of its own: a live service in the process (the
    browser tests') must not move the shared state while Hypothesis draws an example (it warns when the
    state moves then, and the suite fails on warnings)."""
    member, token, uses = token_used_once(db, clock)
    flushed = threading.Event()
    flush = uses.flush

    def flush_and_tell() -> int:
        written = flush()
        flushed.set()
        return written

    monkeypatch.setattr(uses, "flush", flush_and_tell)
    before = random.getstate()

    async def until_flushed() -> bool:
        timer = asyncio.ensure_future(uses.flush_every(0.01))
        try:
            return await asyncio.to_thread(flushed.wait, 10)
        finally:
            timer.cancel()

    assert aio.run(until_flushed())
    assert random.getstate() == before
    with db.sessions() as session:
        (written,) = service.list_tokens(session, member.workspace.id)
    assert (written.id, written.last_used_at) == (token.id, clock.now())  # the timer did flush
