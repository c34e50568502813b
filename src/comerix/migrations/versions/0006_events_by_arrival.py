"""Events indexed by arrival (`received_at`) instead of by their own `timestamp`.

The Event Explorer and the goal preview list events as they arrived, newest first. An event's own
timestamp comes from the client: widgets' clocks are off, queued events are sent late and a shop's
backend reports a sale days after it happened. So new events landed all over an index on `timestamp`,
and every one of them rewrote a page of each of the two: on SQLite, ingestion's commit grew with the
database. New `received_at` values land at the end of the index, a few pages a commit, whatever the
volume. `id` (time-ordered) orders the events of one request, so neither database sorts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_workspace_id_received_at_id"), "events", ["workspace_id", "received_at", "id"]
    )
    op.create_index(
        op.f("ix_events_workspace_id_name_received_at_id"),
        "events",
        ["workspace_id", "name", "received_at", "id"],
    )
    op.drop_index(op.f("ix_events_workspace_id_name_timestamp"), table_name="events")
    op.drop_index(op.f("ix_events_workspace_id_timestamp"), table_name="events")


def downgrade() -> None:
    op.create_index(op.f("ix_events_workspace_id_timestamp"), "events", ["workspace_id", "timestamp"])
    op.create_index(
        op.f("ix_events_workspace_id_name_timestamp"), "events", ["workspace_id", "name", "timestamp"]
    )
    op.drop_index(op.f("ix_events_workspace_id_name_received_at_id"), table_name="events")
    op.drop_index(op.f("ix_events_workspace_id_received_at_id"), table_name="events")
