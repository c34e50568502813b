"""The storage layer on each backend: migrations, exact types, constraint names."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comerix.auth.service import principal_of
from comerix.db import Database
from comerix.db.constraints import violated_constraint
from comerix.db.migrate import current_revision, head_revision, is_current, upgrade
from comerix.goals.models import Goal
from comerix.models import metadata
from tests.factories import make_goal, make_user, make_workspace

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_migrations_build_exactly_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_migrating_again_is_harmless(db: Database) -> None:
    upgrade(db.engine)
    assert is_current(db.engine)
    assert current_revision(db.engine) == head_revision()


def test_decimals_round_trip_exactly(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW, value_mode="fixed", fixed_value="129.50")
    session.expire_all()
    stored = session.get(Goal, (goal.workspace_id, goal.id))
    assert stored is not None
    assert stored.fixed_value == Decimal("129.50")
    assert str(stored.fixed_value) == "129.50"


def test_timestamps_come_back_aware_and_in_utc(session: Session) -> None:
    berlin = timezone(timedelta(hours=1))
    workspace = make_workspace(session, datetime(2026, 11, 2, 10, 30, tzinfo=berlin))
    session.expire_all()
    assert workspace.created_at == NOW
    assert workspace.created_at.tzinfo is not None
    assert workspace.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        make_workspace(session, datetime(2026, 11, 2))  # noqa: DTZ001 - the point of the test


def test_match_conditions_keep_their_json_types(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    conditions = {"plan": "premium", "seats": 1, "ratio": 1.5, "trial": True, "coupon": None}
    goal = make_goal(session, admin, NOW, match_conditions=conditions)
    session.expire_all()
    assert session.scalar(select(Goal.match_conditions).where(Goal.id == goal.id)) == conditions


def test_unique_violations_are_told_by_constraint_name(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW, code="signup")
    row = {column.key: getattr(goal, column.key) for column in Goal.__table__.columns} | {"id": uuid.uuid4()}
    with pytest.raises(IntegrityError) as exc, session.begin_nested():
        session.execute(insert(Goal).values(**row))
    assert violated_constraint(exc.value, metadata) == "uq_goals_workspace_id_code"


def test_a_row_cannot_point_into_another_workspace(session: Session) -> None:
    """Foreign keys carry the workspace id, so a reference across tenants is impossible in the database."""
    from comerix.goals.models import GoalRevision, RevisionAction

    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW)
    other = make_workspace(session, NOW)
    session.add(
        GoalRevision(
            workspace_id=other.id,
            goal_id=goal.id,
            action=RevisionAction.UPDATED,
            changes={},
            actor_user_id=None,
            actor_email="x@y.example",
            at=NOW,
        )
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_a_database_without_autocheckpoint_is_checkpointed_by_its_owner(db: Database) -> None:
    """The writer process's database: commits leave the log alone; `checkpoint()` copies it back as
    far as no reader still needs it, and tells how much is left."""
    own = Database(db.url, autocheckpoint=False)
    try:
        if own.backend != "sqlite":
            assert own.checkpoint() == 0  # PostgreSQL has nothing of the kind to do
            return
        with own.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with own.transaction() as session:
            make_workspace(session, NOW)
        reader = sqlite3.connect(str(own.url.database), isolation_level=None)
        try:
            reader.execute("BEGIN")  # a read transaction: it holds its snapshot of the log
            reader.execute("SELECT count(*) FROM workspaces").fetchall()
            with own.transaction() as session:
                make_workspace(session, NOW)
            assert own.checkpoint() > 0  # the newer commit must stay in the log for now
        finally:
            reader.close()
        assert own.checkpoint() == 0  # reader gone: all of it copied back
    finally:
        own.dispose()
