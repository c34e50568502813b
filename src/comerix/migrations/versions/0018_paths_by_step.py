"""The paths of steps by the steps they hold, on PostgreSQL (`ix_conversation_paths_seen`, GIN,
`jsonb_path_ops`): the Conversation Explorer's "contains step" finds the chats of a rare step without
reading every path. SQLite has no such index; there the list searches each path's text.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            op.f("ix_conversation_paths_seen"),
            "conversation_paths",
            ["seen"],
            postgresql_using="gin",
            postgresql_ops={"seen": "jsonb_path_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(op.f("ix_conversation_paths_seen"), table_name="conversation_paths")
