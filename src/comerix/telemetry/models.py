"""The `events`, `conversations`, `contacts` tables, the event-name catalogue, and the analytics steps
the conversations executed (SPEC §10)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base, WorkspaceScoped
from comerix.db.types import JSONDocument, UTCDateTime, text_enum
from comerix.vocabulary import CLIENT_ID_LENGTH, Source


class Event(WorkspaceScoped, Base):
    """One telemetry record, as received. `event_id` is the client's idempotency key."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        # The Explorer and the goal preview read by arrival: new rows land at the end of these two.
        Index(None, "workspace_id", "received_at", "id"),
        Index(None, "workspace_id", "name", "received_at", "id"),
        Index(None, "workspace_id", "contact_id"),
    )

    event_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH + 5))  # "goal:" + a goal code, at most
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    conversation_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    contact_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    flow_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    source: Mapped[Source] = mapped_column(text_enum(Source, "event_source"))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDocument)


class Conversation(Base):
    """One chat, keyed by the client's conversation id, kept up to date by the events that name it."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index(None, "workspace_id", "contact_id", "started_at"),
        Index(None, "workspace_id", "started_at"),  # the Conversation Explorer: newest first
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    contact_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    flow_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LENGTH))
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    # The row ids (32 hex digits, comma-separated, in time order within each group) of its first events
    # (`telemetry.stages.TIMELINE_EVENTS`), which its timeline reads by key: an index of events by
    # conversation would cost every event its upkeep (docs/decisions.md).
    event_refs: Mapped[str] = mapped_column(Text, default="")


class Contact(Base):
    """An end customer as the events know them: when first and last seen."""

    __tablename__ = "contacts"
    __table_args__ = (Index(None, "workspace_id", "last_seen_at"),)  # the Contacts page: most recent first

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventNameDay(Base):
    """How many events of a name arrived on a UTC day (by `received_at`): the catalogue's counts, kept
    by ingestion."""

    __tablename__ = "event_name_days"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH + 5), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventPropertyKey(Base):
    """A property path seen on events of a name, so goal authors can copy exact keys."""

    __tablename__ = "event_property_keys"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH + 5), primary_key=True)
    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExecutedStepRun(Base):
    """The analytics steps (SPEC §10) one ingestion group executed in a conversation, in one row: a row
    per step cost the writer far more (docs/benchmarks.md, 2026-12-07, evening). `position` is its
    first step's place in the conversation (0, 1, 2, ... in the order they arrived); `steps` is JSON
    text, an array with an entry for each step in order: `[step_id, flow_id ('' for none),
    parent_step_id (the step executed before it, or null), executed_at, event_ref (its event's row
    id)]`, or null once erasure has removed it (its neighbours keep their places and parents). The
    time and the id are as each backend's view reads them: on SQLite as it keeps them in columns
    (naive UTC text, 32 hex digits), on PostgreSQL as RFC 3339 with its offset and a hyphenated UUID.

    Text rather than JSONB: ingestion writes it and never looks inside, and PostgreSQL would parse each
    run on the way in. Readers see a step a row through the `executed_steps` view."""

    __tablename__ = "executed_step_runs"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    steps: Mapped[str] = mapped_column(Text)


VIEWS = MetaData()
"""The views (made by the migrations, per backend): not in `Base.metadata`, which Alembic compares
with the tables."""


class ExecutedStep(Base):
    """An analytics step one event of a conversation marked (SPEC §10), with the step executed before it
    in that conversation (`parent_step_id`): loops and repeats are kept, `position` 0, 1, 2, ... in the
    order they arrived. A read-only view of `executed_step_runs`, an entry a row (migration 0019).
    `event_ref` is the event's row id (no foreign key, as for outcomes), through which erasure finds a
    contact's steps in a chat not theirs."""

    __table__ = Table(
        "executed_steps",
        VIEWS,
        Column("workspace_id", Uuid(), primary_key=True),
        Column("conversation_id", String(CLIENT_ID_LENGTH), primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("flow_id", String(CLIENT_ID_LENGTH)),  # '' for none, as the catalogue keys it
        Column("step_id", String(CLIENT_ID_LENGTH)),
        Column("parent_step_id", String(CLIENT_ID_LENGTH)),
        Column("executed_at", UTCDateTime()),
        Column("event_ref", Uuid()),
    )

    workspace_id: Mapped[uuid.UUID]
    conversation_id: Mapped[str]
    position: Mapped[int]
    flow_id: Mapped[str]
    step_id: Mapped[str]
    parent_step_id: Mapped[str | None]
    executed_at: Mapped[datetime]
    event_ref: Mapped[uuid.UUID]


class ConversationPath(Base):
    """What a conversation's executed steps come to: how many, the first `telemetry.steps.PATH_LENGTH`
    of them (the path the Step Explorer counts, under the local day and the flow of its first step), the
    distinct steps it executed (in the order first executed), and its last one (the next one's parent)."""

    __tablename__ = "conversation_paths"
    __table_args__ = (
        # The Conversation Explorer's "contains step" on PostgreSQL: the paths of a workspace holding a
        # rare step, found without reading the others (the function: migration 0018; SQLite searches
        # the text instead: `analytics.contains_step`).
        Index(
            "ix_conversation_paths_steps",
            literal_column("comerix_path_steps(workspace_id, seen)").label("steps_in_workspace"),
            postgresql_using="gin",
            postgresql_ops={"steps_in_workspace": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    first_step_at: Mapped[datetime] = mapped_column(UTCDateTime())
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH))  # its first step's, '' for none
    steps: Mapped[int] = mapped_column(Integer)
    path: Mapped[list[str]] = mapped_column(JSONDocument)
    # Written only through `db.bulk` (`json_text`: characters as they are, not `\u` escapes): the
    # Conversation Explorer searches this text for a step's JSON string before parsing it.
    seen: Mapped[list[str]] = mapped_column(JSONDocument)
    last_step_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH))
