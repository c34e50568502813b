"""The engine: events, conversations, contacts, the event-name catalogue, outcomes; goals_revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")
CLIENT_ID = sa.String(128)
EVENT_NAME = sa.String(133)


def closed_set(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def keyed(table: str, *key: sa.Column[Any]) -> list[Any]:
    """The workspace column, the primary key (workspace_id, *key) and the workspace's foreign key."""
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        *key,
        sa.PrimaryKeyConstraint("workspace_id", *(c.name for c in key), name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
        ),
    ]


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("goals_revision", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "events",
        *keyed("events", sa.Column("id", sa.Uuid(), nullable=False)),
        sa.Column("event_id", CLIENT_ID, nullable=True),
        sa.Column("name", EVENT_NAME, nullable=False),
        sa.Column("timestamp", UTC_TIMESTAMP, nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("conversation_id", CLIENT_ID, nullable=True),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("flow_id", CLIENT_ID, nullable=True),
        sa.Column("source", closed_set("event_source", "widget", "server"), nullable=False),
        sa.Column("properties", JSON_DOCUMENT, nullable=False),
        sa.UniqueConstraint("workspace_id", "event_id", name=op.f("uq_events_workspace_id_event_id")),
    )
    op.create_index(op.f("ix_events_workspace_id_timestamp"), "events", ["workspace_id", "timestamp"])
    op.create_index(
        op.f("ix_events_workspace_id_name_timestamp"), "events", ["workspace_id", "name", "timestamp"]
    )
    op.create_index(op.f("ix_events_workspace_id_contact_id"), "events", ["workspace_id", "contact_id"])

    op.create_table(
        "conversations",
        *keyed("conversations", sa.Column("id", CLIENT_ID, nullable=False)),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_activity_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("ended_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("flow_id", CLIENT_ID, nullable=True),
    )
    op.create_index(
        op.f("ix_conversations_workspace_id_contact_id_started_at"),
        "conversations",
        ["workspace_id", "contact_id", "started_at"],
    )

    op.create_table(
        "contacts",
        *keyed("contacts", sa.Column("id", CLIENT_ID, nullable=False)),
        sa.Column("first_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
    )

    op.create_table(
        "event_name_days",
        *keyed(
            "event_name_days",
            sa.Column("name", EVENT_NAME, nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
    )

    op.create_table(
        "event_property_keys",
        *keyed(
            "event_property_keys",
            sa.Column("name", EVENT_NAME, nullable=False),
            sa.Column("path", sa.String(255), nullable=False),
        ),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
    )

    op.create_table(
        "outcomes",
        *keyed("outcomes", sa.Column("id", sa.Uuid(), nullable=False)),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column("goal_code", sa.String(64), nullable=False),
        sa.Column("kind", closed_set("outcome_kind", "conversion", "engagement", "custom"), nullable=False),
        sa.Column("event_ref", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("recorded_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("value", EXACT_DECIMAL, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("base_value", EXACT_DECIMAL, nullable=True),
        sa.Column("base_currency", sa.String(3), nullable=True),
        sa.Column("value_error", sa.Text(), nullable=True),
        sa.Column(
            "attribution", closed_set("attribution_kind", "conversation", "window", "none"), nullable=False
        ),
        sa.Column("conversation_id", CLIENT_ID, nullable=True),
        sa.Column("flow_id", CLIENT_ID, nullable=True),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("source", closed_set("outcome_source", "widget", "server"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "goal_id"],
            ["goals.workspace_id", "goals.id"],
            name=op.f("fk_outcomes_workspace_id_goal_id_goals"),
        ),
        sa.UniqueConstraint(
            "workspace_id", "event_ref", "goal_id", name=op.f("uq_outcomes_workspace_id_event_ref_goal_id")
        ),
    )
    op.create_index(op.f("ix_outcomes_workspace_id_occurred_at"), "outcomes", ["workspace_id", "occurred_at"])
    op.create_index(
        op.f("ix_outcomes_workspace_id_contact_id_goal_id"),
        "outcomes",
        ["workspace_id", "contact_id", "goal_id"],
    )


def downgrade() -> None:
    for table in (
        "outcomes",
        "event_property_keys",
        "event_name_days",
        "contacts",
        "conversations",
        "events",
    ):
        op.drop_table(table)
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("goals_revision")
