"""The `goals` table, the `goal_steps` of multi-step goals, and the `goal_revisions` audit trail
(which lets go of a removed user's id by itself: `_forget_removed_actors`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    update,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from comerix.auth.models import User
from comerix.db.base import Base, WorkspaceScoped
from comerix.db.types import ExactDecimal, JSONDocument, UTCDateTime, text_enum
from comerix.vocabulary import GoalKind, GoalStatus, ValueMode


class RevisionAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"


class Goal(WorkspaceScoped, Base):
    __tablename__ = "goals"
    __table_args__ = (
        # Archived goals keep their code: a code is never reused within a workspace.
        UniqueConstraint("workspace_id", "code"),
        Index(None, "workspace_id", "status", "trigger_event"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[GoalKind] = mapped_column(text_enum(GoalKind, "goal_kind"))
    is_primary: Mapped[bool]
    status: Mapped[GoalStatus] = mapped_column(text_enum(GoalStatus, "goal_status"))
    # A single-step goal's trigger; None for a multi-step goal, whose steps carry theirs (SPEC §9).
    trigger_event: Mapped[str | None] = mapped_column(String(128))
    match_conditions: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    value_mode: Mapped[ValueMode] = mapped_column(text_enum(ValueMode, "value_mode"))
    fixed_value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    value_property: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    currency_property: Mapped[str | None] = mapped_column(String(255))
    base_value_property: Mapped[str | None] = mapped_column(String(255))
    base_currency_property: Mapped[str | None] = mapped_column(String(255))
    attribution_window_hours: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GoalStep(WorkspaceScoped, Base):
    """One step of a multi-step goal (SPEC §9). Never deleted: a retired step matches nothing new.

    `position` is its place in the goal's order (0 is the start step) and changes when steps are
    reordered; `slot` never changes once given: it is the step's bit in each cycle's `reached` mask, so
    stored cycles keep pointing at the right steps whatever the order becomes."""

    __tablename__ = "goal_steps"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "goal_id"], ["goals.workspace_id", "goals.id"]),
        UniqueConstraint("workspace_id", "goal_id", "key"),
        UniqueConstraint("workspace_id", "goal_id", "slot"),
    )

    goal_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    trigger_event: Mapped[str] = mapped_column(String(128))
    match_conditions: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    completion: Mapped[bool]
    time_saved_seconds: Mapped[int] = mapped_column(BigInteger)
    cost_savings: Mapped[Decimal] = mapped_column(ExactDecimal())
    revenue_earned: Mapped[Decimal] = mapped_column(ExactDecimal())
    retired: Mapped[bool]


class GoalRevision(WorkspaceScoped, Base):
    """One entry of a goal's audit trail: who did what to it, when, and which fields changed."""

    __tablename__ = "goal_revisions"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "goal_id"], ["goals.workspace_id", "goals.id"]),
        ForeignKeyConstraint(["workspace_id", "actor_user_id"], ["users.workspace_id", "users.id"]),
        Index(None, "workspace_id", "goal_id", "id"),
    )

    goal_id: Mapped[uuid.UUID]
    action: Mapped[RevisionAction] = mapped_column(text_enum(RevisionAction, "revision_action"))
    # {field: {"from": old, "to": new}} in JSON form; on creation every field, from null.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_email: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


@event.listens_for(Session, "before_flush")
def _forget_removed_actors(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """A user deleted in this flush leaves the goals' audit trail: their revisions keep the email and
    drop the id, so the foreign key to `users` lets the user go.

    The foreign key cannot do this itself: it holds the workspace id too (as every foreign key here
    does), and `ON DELETE SET NULL` would null that as well (SQLite cannot name the one column to
    null; PostgreSQL only from version 15). Listening here keeps `auth` from importing `goals`; the
    ORM update also corrects revisions already loaded in the session. Only `session.delete(user)`
    passes here: a bulk `delete(User)` would be refused by the foreign key."""
    for user in session.deleted:
        if isinstance(user, User):
            session.execute(
                update(GoalRevision)
                .where(GoalRevision.workspace_id == user.workspace_id, GoalRevision.actor_user_id == user.id)
                .values(actor_user_id=None)
            )
