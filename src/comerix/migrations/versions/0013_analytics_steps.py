"""Analytics steps and the Conversation Explorer (SPEC §10): the steps each conversation executed, what
they come to per conversation (count, first steps, distinct steps), the conversations by path of first
steps (what the Step Explorer reads), and the steps' catalogue with its daily counts; each conversation
keeps its count of events and the row ids of its first events (its timeline), and the conversations
get an index by start, newest first. The upgrade counts the stored events into their conversations.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CLIENT_ID = sa.String(128)


def _workspace(table: str) -> list[Any]:
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
        ),
    ]


# A conversation's events, as ingestion keeps them (`telemetry.stages.TIMELINE_EVENTS`): the first 1,000
# row ids, 32 hex digits each, comma-separated, in time order.
_SQLITE_EVENTS = (
    "UPDATE conversations SET events = (SELECT count(*) FROM events AS e"
    " WHERE e.workspace_id = conversations.workspace_id AND e.conversation_id = conversations.id),"
    " event_refs = coalesce((SELECT group_concat(id, ',') FROM (SELECT e.id FROM events AS e"
    " WHERE e.workspace_id = conversations.workspace_id AND e.conversation_id = conversations.id"
    " ORDER BY e.timestamp, e.id LIMIT 1000)), '')"
)
_POSTGRESQL_EVENTS = (
    "UPDATE conversations SET events = (SELECT count(*) FROM events AS e"
    " WHERE e.workspace_id = conversations.workspace_id AND e.conversation_id = conversations.id),"
    " event_refs = coalesce((SELECT string_agg(replace(first.id::text, '-', ''), ','"
    " ORDER BY first.timestamp, first.id) FROM (SELECT e.id, e.timestamp FROM events AS e"
    " WHERE e.workspace_id = conversations.workspace_id AND e.conversation_id = conversations.id"
    " ORDER BY e.timestamp, e.id LIMIT 1000) AS first), '')"
)


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("events", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("event_refs", sa.Text(), nullable=False, server_default=""))
    op.execute(_SQLITE_EVENTS if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL_EVENTS)
    with op.batch_alter_table("conversations") as batch:
        batch.alter_column("events", existing_type=sa.BigInteger(), server_default=None)
        batch.alter_column("event_refs", existing_type=sa.Text(), server_default=None)
    op.create_index(
        op.f("ix_conversations_workspace_id_started_at"), "conversations", ["workspace_id", "started_at"]
    )
    op.create_table(
        "executed_steps",
        *_workspace("executed_steps"),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("step_id", CLIENT_ID, nullable=False),
        sa.Column("parent_step_id", CLIENT_ID, nullable=True),
        sa.Column("executed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("event_ref", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "conversation_id", "position", name=op.f("pk_executed_steps")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "conversation_paths",
        *_workspace("conversation_paths"),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("first_step_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("path", JSON_DOCUMENT, nullable=False),
        sa.Column("seen", JSON_DOCUMENT, nullable=False),
        sa.Column("last_step_id", CLIENT_ID, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "conversation_id", name=op.f("pk_conversation_paths")),
    )
    op.create_table(
        "step_path_rollups",
        *_workspace("step_path_rollups"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("path_key", sa.String(32), nullable=False),
        sa.Column("path", JSON_DOCUMENT, nullable=False),
        sa.Column("conversations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "day", "flow_id", "path_key", name=op.f("pk_step_path_rollups")
        ),
    )
    op.create_table(
        "flow_steps",
        *_workspace("flow_steps"),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("id", CLIENT_ID, nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "node", "intent", name="flow_step_type", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("labelled_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("first_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "flow_id", "id", name=op.f("pk_flow_steps")),
    )
    op.create_table(
        "flow_step_days",
        *_workspace("flow_step_days"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("step_id", CLIENT_ID, nullable=False),
        sa.Column("executions", sa.BigInteger(), nullable=False),
        sa.Column("conversations", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "day", "flow_id", "step_id", name=op.f("pk_flow_step_days")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_workspace_id_started_at"), table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("event_refs")
        batch.drop_column("events")
    for table in (
        "flow_step_days",
        "flow_steps",
        "step_path_rollups",
        "conversation_paths",
        "executed_steps",
    ):
        op.drop_table(table)
