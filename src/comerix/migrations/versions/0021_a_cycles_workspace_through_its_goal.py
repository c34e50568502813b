"""A cycle's workspace is checked through its goal: the foreign key from `goal_cycles.workspace_id` to
`workspaces` goes. The key to the goal is (workspace, goal), and the goal's own key refers to the
workspace, so every cycle still belongs to an existing workspace, and neither a goal nor a workspace
with cycles can be deleted; on PostgreSQL each cycle written ran one check fewer (docs/benchmarks.md,
2026-12-07, late).

SQLite cannot drop a constraint, so there the table is copied (batch mode).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

NAME = "fk_goal_cycles_workspace_id_workspaces"


def upgrade() -> None:
    with op.batch_alter_table("goal_cycles") as batch:
        batch.drop_constraint(op.f(NAME), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("goal_cycles") as batch:
        batch.create_foreign_key(op.f(NAME), "workspaces", ["workspace_id"], ["id"])
