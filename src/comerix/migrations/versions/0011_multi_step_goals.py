"""Multi-step goals (SPEC §9): their steps, the cycles of each conversation with the steps they
reached, and the rollups of cycles the goals report reads (by flow, and summed over flows); a multi-step
goal has no trigger event.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")
CLIENT_ID = sa.String(128)


def scoped(table: str) -> list[Any]:
    """The (workspace_id, id) key, the workspace's foreign key and the goal's, as every row of a goal has."""
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "goal_id"],
            ["goals.workspace_id", "goals.id"],
            name=op.f(f"fk_{table}_workspace_id_goal_id_goals"),
        ),
    ]


def metrics() -> list[sa.Column[Any]]:
    return [
        sa.Column("time_saved_seconds", sa.BigInteger(), nullable=False),
        sa.Column("cost_savings", EXACT_DECIMAL, nullable=False),
        sa.Column("revenue_earned", EXACT_DECIMAL, nullable=False),
    ]


def cycle_sums() -> list[sa.Column[Any]]:
    """A cycle rollup's state and mask of steps reached (the last of its key), and what it adds up."""
    return [
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reached", sa.BigInteger(), nullable=False),
        sa.Column("cycles", sa.BigInteger(), nullable=False),
        sa.Column("time_saved_seconds", sa.BigInteger(), nullable=False),
        sa.Column("cost_savings_high", sa.BigInteger(), nullable=False),
        sa.Column("cost_savings_low", sa.BigInteger(), nullable=False),
        sa.Column("revenue_earned_high", sa.BigInteger(), nullable=False),
        sa.Column("revenue_earned_low", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("goals") as batch:
        batch.alter_column("trigger_event", existing_type=sa.String(128), nullable=True)
    op.create_table(
        "goal_steps",
        *scoped("goal_steps"),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("trigger_event", sa.String(128), nullable=False),
        sa.Column("match_conditions", JSON_DOCUMENT, nullable=False),
        sa.Column("completion", sa.Boolean(), nullable=False),
        *metrics(),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.UniqueConstraint(
            "workspace_id", "goal_id", "key", name=op.f("uq_goal_steps_workspace_id_goal_id_key")
        ),
        sa.UniqueConstraint(
            "workspace_id", "goal_id", "slot", name=op.f("uq_goal_steps_workspace_id_goal_id_slot")
        ),
    )
    op.create_table(
        "goal_cycles",
        *scoped("goal_cycles"),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("open_for", CLIENT_ID, nullable=True),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("flow_id", CLIENT_ID, nullable=True),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_step_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("ended_at", UTC_TIMESTAMP, nullable=True),
        sa.Column(
            "state",
            sa.Enum("incomplete", "partial", "completed", name="cycle_state", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("steps_reached", sa.Integer(), nullable=False),
        *metrics(),
        sa.Column("outcome_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "state = 'incomplete' OR state = 'partial' OR state = 'completed'",
            name=op.f("ck_goal_cycles_cycle_state"),
        ),
        sa.UniqueConstraint(
            "workspace_id", "goal_id", "open_for", name=op.f("uq_goal_cycles_workspace_id_goal_id_open_for")
        ),
    )
    op.create_index(
        op.f("ix_goal_cycles_workspace_id_contact_id"), "goal_cycles", ["workspace_id", "contact_id"]
    )
    op.create_index(
        op.f("ix_goal_cycles_workspace_id_conversation_id_goal_id"),
        "goal_cycles",
        ["workspace_id", "conversation_id", "goal_id"],
    )
    op.create_index(
        op.f("ix_goal_cycles_workspace_id_started_at"), "goal_cycles", ["workspace_id", "started_at"]
    )
    op.create_table(
        "goal_events",
        *scoped("goal_events"),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("step_key", sa.String(64), nullable=False),
        sa.Column("step_slot", sa.Integer(), nullable=False),
        sa.Column("event_ref", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        *metrics(),
        sa.UniqueConstraint(
            "workspace_id",
            "cycle_id",
            "step_slot",
            name=op.f("uq_goal_events_workspace_id_cycle_id_step_slot"),
        ),
    )
    op.create_index(
        op.f("ix_goal_events_workspace_id_contact_id"), "goal_events", ["workspace_id", "contact_id"]
    )
    op.create_index(
        op.f("ix_goal_events_workspace_id_occurred_at"), "goal_events", ["workspace_id", "occurred_at"]
    )
    op.create_index(
        op.f("ix_goal_events_workspace_id_goal_id_occurred_at"),
        "goal_events",
        ["workspace_id", "goal_id", "occurred_at"],
    )
    op.create_table(
        "goal_cycle_rollups",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("goal_id", sa.String(32), nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        *cycle_sums(),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "day",
            "goal_id",
            "flow_id",
            "state",
            "reached",
            name=op.f("pk_goal_cycle_rollups"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_goal_cycle_rollups_workspace_id_workspaces")
        ),
    )
    # The same without the flow, for reports not filtered by flow; SQLite stores it in key order.
    op.create_table(
        "goal_cycle_day_rollups",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("goal_id", sa.String(32), nullable=False),
        *cycle_sums(),
        sa.PrimaryKeyConstraint(
            "workspace_id", "day", "goal_id", "state", "reached", name=op.f("pk_goal_cycle_day_rollups")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_goal_cycle_day_rollups_workspace_id_workspaces"),
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("goal_cycle_day_rollups")
    op.drop_table("goal_cycle_rollups")
    op.drop_table("goal_events")
    op.drop_table("goal_cycles")
    op.drop_table("goal_steps")
    with op.batch_alter_table("goals") as batch:
        batch.alter_column("trigger_event", existing_type=sa.String(128), nullable=False)
