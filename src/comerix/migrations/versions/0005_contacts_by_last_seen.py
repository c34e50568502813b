"""Contacts by when they were last seen: the Contacts page lists the most recent first.

Without it, listing the most recent contacts sorted all of them; with it, the index gives them in
order. Ingestion pays one index entry per contact it touches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_contacts_workspace_id_last_seen_at"), "contacts", ["workspace_id", "last_seen_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contacts_workspace_id_last_seen_at"), table_name="contacts")
