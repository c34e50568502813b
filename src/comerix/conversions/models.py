"""The `outcomes` table (one recorded achievement of a goal), and the cycles of multi-step goals
(`goal_cycles`), each with the steps it reached."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from comerix.conversions.attribution import AttributionKind
from comerix.db.base import Base, WorkspaceScoped
from comerix.db.types import ExactDecimal, JSONDocument, UTCDateTime, one_of, text_enum
from comerix.vocabulary import CLIENT_ID_LENGTH, BaseValueSource, CycleState, GoalKind, Source


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
        one_of("base_value_source", BaseValueSource, "base_value_source"),
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
    # How the base value was found (SPEC §11); for `rate`, the rate (units of `currency` per unit of
    # `base_currency`) and the date of its quote.
    base_value_source: Mapped[BaseValueSource | None] = mapped_column(
        text_enum(BaseValueSource, "base_value_source", constraint=False)
    )
    fx_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    fx_date: Mapped[date | None] = mapped_column(Date)
    value_error: Mapped[str | None] = mapped_column(Text)
    attribution: Mapped[AttributionKind] = mapped_column(
        text_enum(AttributionKind, "attribution_kind", constraint=False)
    )
    conversation_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    flow_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    contact_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    source: Mapped[Source] = mapped_column(text_enum(Source, "outcome_source"))


class GoalCycle(WorkspaceScoped, Base):
    """One attempt at a multi-step goal in one conversation (SPEC §9): opened by its start step, moved
    on by the others, closed by a completion step.

    `reached` holds a bit per step reached (the step's `slot`), so reports can tell the funnel and the
    drop-off in whatever order the steps stand today; `reached_at` the time each was reached, by slot
    (`{"0": "2026-12-06 09:30:00.000000", …}`, UTC), which OData's `GoalEvents` lists. They live in the
    cycle's row rather than a row each: ingestion writes one row per cycle it moves on, and a step's
    time is merged into it in the same upsert (docs/decisions.md). The metrics are the sums over the
    steps reached, counted only once the cycle is partial or completed (an incomplete cycle's are 0).
    `open_for` is the conversation id while the cycle is open and NULL once completed: the unique key on
    (conversation, goal, `open_for`) lets at most one cycle per goal and conversation be open, whichever
    writer opens it, and is also the index that finds a conversation's cycles, open or all. A cycle's
    contact is its conversation's (or none, while the conversation has none), so a contact's cycles are
    found through their conversations, and `contact_id` has no index of its own: each index keyed by a
    random id costs ingestion a page written per cycle (docs/decisions.md). Nor does `workspace_id`
    refer to `workspaces` on its own: the key to the goal carries it, and the goal's own key refers to
    the workspace, so a second check per cycle written would prove nothing more."""

    __tablename__ = "goal_cycles"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "goal_id"], ["goals.workspace_id", "goals.id"]),
        UniqueConstraint("workspace_id", "conversation_id", "goal_id", "open_for"),
        CheckConstraint("open_for IS NULL OR open_for = conversation_id", name="open_in_own_conversation"),
        Index(None, "workspace_id", "started_at"),
        one_of("state", CycleState, "cycle_state"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # checked through the goal
    goal_id: Mapped[uuid.UUID]
    conversation_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH))
    open_for: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    contact_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    flow_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_step_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when completed
    state: Mapped[CycleState] = mapped_column(text_enum(CycleState, "cycle_state", constraint=False))
    reached: Mapped[int] = mapped_column(Integer)  # a bit per step reached, by the step's slot
    steps_reached: Mapped[int] = mapped_column(Integer)
    time_saved_seconds: Mapped[int] = mapped_column(BigInteger)
    cost_savings: Mapped[Decimal] = mapped_column(ExactDecimal())
    revenue_earned: Mapped[Decimal] = mapped_column(ExactDecimal())
    outcome_id: Mapped[uuid.UUID | None]  # the outcome its completion recorded
    reached_at: Mapped[dict[str, str]] = mapped_column(JSONDocument)

    def step_times(self) -> dict[int, datetime]:
        """When each step was reached, by its slot."""
        return {int(slot): parse_step_time(at) for slot, at in self.reached_at.items()}


STEP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
"""A step's time in `GoalCycle.reached_at`: UTC without its offset, as SQLite keeps every timestamp, on
both backends, so that the same text compares in time order and OData reads it as a timestamp."""


def step_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(STEP_TIME_FORMAT)


def parse_step_time(text: str) -> datetime:
    return datetime.strptime(text, STEP_TIME_FORMAT).replace(tzinfo=UTC)
