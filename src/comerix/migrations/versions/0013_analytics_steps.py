"""Analytics steps (SPEC §10): the steps each conversation executed, what they come to per
conversation (count, first steps, distinct steps), the conversations by path of first steps (what the
Step Explorer reads), and the steps' catalogue with its daily counts.

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


def upgrade() -> None:
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
    for table in (
        "flow_step_days",
        "flow_steps",
        "step_path_rollups",
        "conversation_paths",
        "executed_steps",
    ):
        op.drop_table(table)
