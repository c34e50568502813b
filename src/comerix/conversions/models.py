"""The `outcomes` table: one recorded achievement of a goal."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from comerix.conversions.attribution import AttributionKind
from comerix.db.base import Base, WorkspaceScoped
from comerix.db.types import ExactDecimal, UTCDateTime, one_of, text_enum
from comerix.vocabulary import CLIENT_ID_LENGTH, GoalKind, Source


class Outcome(WorkspaceScoped, Base):
    """A goal achieved by one event. `event_ref` is the event's row id; it has no foreign key because
    erasing a contact deletes their events while their outcomes stay (without the contact) in reports."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_ref", "goal_id"),
        ForeignKeyConstraint(["workspace_id", "goal_id"], ["goals.workspace_id", "goals.id"]),
        Index(None, "workspace_id", "occurred_at"),
        Index(None, "workspace_id", "contact_id", "goal_id"),
        one_of("kind", GoalKind, "outcome_kind"),  # spelt out: see `one_of` (ingestion writes these)
        one_of("attribution", AttributionKind, "attribution_kind"),
    )

    goal_id: Mapped[uuid.UUID]
    goal_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[GoalKind] = mapped_column(text_enum(GoalKind, "outcome_kind", constraint=False))
    event_ref: Mapped[uuid.UUID]
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    currency: Mapped[str | None] = mapped_column(String(3))
    base_value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    base_currency: Mapped[str | None] = mapped_column(String(3))
    value_error: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[AttributionKind] = mapped_column(
        text_enum(AttributionKind, "attribution_kind", constraint=False)
    )
    conversation_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    flow_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    contact_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    source: Mapped[Source] = mapped_column(text_enum(Source, "outcome_source"))
