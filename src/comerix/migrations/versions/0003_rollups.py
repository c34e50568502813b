"""Rollups for the Analytics Hub: outcomes, conversations, conversation marks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLIENT_ID = sa.String(128)


def keyed(table: str, *key: sa.Column[Any]) -> list[Any]:
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        *key,
        sa.PrimaryKeyConstraint("workspace_id", *(c.name for c in key), name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "outcome_rollups",
        *keyed(
            "outcome_rollups",
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("goal_id", sa.String(32), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("flow_id", CLIENT_ID, nullable=False),
            sa.Column("attribution", sa.String(16), nullable=False),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("base_currency", sa.String(3), nullable=False),
        ),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("base_value_micros", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "outcome_month_rollups",
        *keyed(
            "outcome_month_rollups",
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("goal_id", sa.String(32), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("flow_id", CLIENT_ID, nullable=False),
            sa.Column("attribution", sa.String(16), nullable=False),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("base_currency", sa.String(3), nullable=False),
        ),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("base_value_micros", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "outcome_day_series",
        *keyed(
            "outcome_day_series",
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("base_currency", sa.String(3), nullable=False),
        ),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("base_value_micros", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "conversation_rollups",
        *keyed(
            "conversation_rollups",
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("flow_id", CLIENT_ID, nullable=False),
        ),
        sa.Column("conversations", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "conversation_marks",
        *keyed(
            "conversation_marks",
            sa.Column("conversation_id", CLIENT_ID, nullable=False),
            sa.Column("goal_id", sa.String(32), nullable=False),
            sa.Column("attribution", sa.String(16), nullable=False),
        ),
    )
    op.create_table(
        "conversation_goal_rollups",
        *keyed(
            "conversation_goal_rollups",
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("flow_id", CLIENT_ID, nullable=False),
            sa.Column("goal_id", sa.String(32), nullable=False),
            sa.Column("attribution", sa.String(16), nullable=False),
        ),
        sa.Column("conversations", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "conversation_goal_rollups",
        "conversation_marks",
        "conversation_rollups",
        "outcome_rollups",
    ):
        op.drop_table(table)
