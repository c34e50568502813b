"""A revision for each local day's path rollups (`step_path_days`), moved on by every change to them, so
that the Step Explorer keeps closed days' counts in memory and reads only what changed
(docs/decisions.md, "Analytics steps (SPEC §10)"). Days that already have rows start at revision 1.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_path_days",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_step_path_days_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "day", name=op.f("pk_step_path_days")),
    )
    op.execute(
        "INSERT INTO step_path_days (workspace_id, day, revision)"
        " SELECT DISTINCT workspace_id, day, 1 FROM step_path_rollups"
    )


def downgrade() -> None:
    op.drop_table("step_path_days")
