"""The audit trail of each workspace's own exchange rates (`rate_changes`, SPEC §11): one row per rate
added, changed or removed through `PUT /api/v1/settings/rates` or Settings → Rates.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rate_changes",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("before", EXACT_DECIMAL, nullable=True),
        sa.Column("after", EXACT_DECIMAL, nullable=True),
        sa.Column("actor_email", sa.String(254), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_rate_changes_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_rate_changes")),
    )
    op.create_index(op.f("ix_rate_changes_workspace_id_at"), "rate_changes", ["workspace_id", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_changes_workspace_id_at"), table_name="rate_changes")
    op.drop_table("rate_changes")
