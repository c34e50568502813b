"""The paths of steps by the steps they hold, and the catalogue by step, for the Conversation
Explorer's "contains step".

- On PostgreSQL, `comerix_path_steps(workspace_id, seen)`: a path's distinct steps under its
  workspace's id (`{"<workspace id>": ["<step id>", ...]}`), and a GIN index of the paths by them
  (`ix_conversation_paths_steps`, `jsonb_path_ops`: one key per workspace and step), so a rare step's
  paths are found without reading any other path, in this workspace or another. SQLite has neither;
  there the list searches each path's text.
- On both, `flow_step_days` by workspace, step and day: the list weighs a step by its counts.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Immutable, as an index's expression must be, and truly so: `jsonb_set` and a uuid's text depend on
# no setting. Not STRICT and one expression, so that PostgreSQL inlines it where it is called.
PATH_STEPS = """
CREATE FUNCTION comerix_path_steps(workspace uuid, seen jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.jsonb_set('{}'::jsonb, ARRAY[workspace::text], seen) $$
"""


def upgrade() -> None:
    op.create_index(
        op.f("ix_flow_step_days_workspace_id_step_id_day"),
        "flow_step_days",
        ["workspace_id", "step_id", "day"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PATH_STEPS)
        op.create_index(
            "ix_conversation_paths_steps",
            "conversation_paths",
            [sa.text("comerix_path_steps(workspace_id, seen) jsonb_path_ops")],
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_conversation_paths_steps", table_name="conversation_paths")
        op.execute("DROP FUNCTION comerix_path_steps(uuid, jsonb)")
    op.drop_index(op.f("ix_flow_step_days_workspace_id_step_id_day"), table_name="flow_step_days")
