"""The steps a cycle reached kept in the cycle's own row (`goal_cycles.reached_at`: by step slot, the
time it was reached) instead of a row each in `goal_events`: ingestion writes one row per cycle moved
on, and OData's `GoalEvents` reads the steps out of the cycles (docs/decisions.md, "Multi-step goals").

The upgrade copies every step reached into its cycle, then drops `goal_events`. The downgrade builds
`goal_events` again from the cycles: each step's time, conversation and contact as the cycle kept
them, its worth as the step stands now (the cycles keep their sums, not each step's share), and the
event that reached it looked up by its time in the cycle's conversation, or its contact's events.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import uuid_utils.compat
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")
CLIENT_ID = sa.String(128)

# A step's time in `reached_at`: UTC, as SQLite stores every timestamp ("2026-12-06 09:30:00.000000").
_SQLITE_STEPS = (
    "SELECT json_group_object(CAST(e.step_slot AS TEXT), e.occurred_at) FROM goal_events AS e"
    " WHERE e.workspace_id = goal_cycles.workspace_id AND e.cycle_id = goal_cycles.id"
)
_POSTGRESQL_STEPS = (
    "SELECT jsonb_object_agg(e.step_slot::text,"
    " to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')) FROM goal_events AS e"
    " WHERE e.workspace_id = goal_cycles.workspace_id AND e.cycle_id = goal_cycles.id"
)


def upgrade() -> None:
    with op.batch_alter_table("goal_cycles") as batch:
        batch.add_column(sa.Column("reached_at", JSON_DOCUMENT, nullable=False, server_default="{}"))
    steps = _SQLITE_STEPS if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL_STEPS
    op.execute(f"UPDATE goal_cycles SET reached_at = COALESCE(({steps}), '{{}}')")  # noqa: S608
    with op.batch_alter_table("goal_cycles") as batch:
        batch.alter_column("reached_at", existing_type=JSON_DOCUMENT, server_default=None)
    op.drop_table("goal_events")


def downgrade() -> None:
    hits = op.create_table(
        "goal_events",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("step_key", sa.String(64), nullable=False),
        sa.Column("step_slot", sa.Integer(), nullable=False),
        sa.Column("event_ref", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("contact_id", CLIENT_ID, nullable=True),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("time_saved_seconds", sa.BigInteger(), nullable=False),
        sa.Column("cost_savings", EXACT_DECIMAL, nullable=False),
        sa.Column("revenue_earned", EXACT_DECIMAL, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_goal_events")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_goal_events_workspace_id_workspaces")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "goal_id"],
            ["goals.workspace_id", "goals.id"],
            name=op.f("fk_goal_events_workspace_id_goal_id_goals"),
        ),
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
    _copy_steps_back(hits)
    with op.batch_alter_table("goal_cycles") as batch:
        batch.drop_column("reached_at")


_CYCLES = sa.table(
    "goal_cycles",
    *(sa.column(name, sa.Uuid()) for name in ("workspace_id", "id", "goal_id")),
    *(sa.column(name, CLIENT_ID) for name in ("conversation_id", "contact_id")),
    sa.column("started_at", UTC_TIMESTAMP),
    sa.column("reached", sa.Integer()),
    sa.column("reached_at", JSON_DOCUMENT),
)
_STEPS = sa.table(
    "goal_steps",
    *(sa.column(name, sa.Uuid()) for name in ("workspace_id", "goal_id")),
    sa.column("key", sa.String(64)),
    sa.column("slot", sa.Integer()),
    sa.column("time_saved_seconds", sa.BigInteger()),
    *(sa.column(name, EXACT_DECIMAL) for name in ("cost_savings", "revenue_earned")),
)
_EVENTS = sa.table(
    "events",
    *(sa.column(name, sa.Uuid()) for name in ("workspace_id", "id")),
    *(sa.column(name, CLIENT_ID) for name in ("conversation_id", "contact_id")),
    sa.column("timestamp", UTC_TIMESTAMP),
)


def _copy_steps_back(hits: sa.Table) -> None:
    """A `goal_events` row for each step each cycle reached (see the module's docstring)."""
    connection = op.get_bind()
    cycles, steps, events = _CYCLES, _STEPS, _EVENTS
    found = connection.execute(
        sa.select(
            cycles.c.workspace_id,
            cycles.c.id,
            cycles.c.goal_id,
            cycles.c.conversation_id,
            cycles.c.contact_id,
            cycles.c.started_at,
            cycles.c.reached_at,
            steps.c.key,
            steps.c.slot,
            steps.c.time_saved_seconds,
            steps.c.cost_savings,
            steps.c.revenue_earned,
        )
        .join(
            steps,
            sa.and_(
                steps.c.workspace_id == cycles.c.workspace_id,
                steps.c.goal_id == cycles.c.goal_id,
                cycles.c.reached.op("&")(sa.literal(1).op("<<")(steps.c.slot)) != 0,
            ),
        )
        .order_by(cycles.c.workspace_id, cycles.c.id, steps.c.slot)
    ).mappings()
    for row in found:
        at_text = row["reached_at"].get(str(row["slot"])) if row["reached_at"] else None
        at = datetime.fromisoformat(at_text).replace(tzinfo=UTC) if at_text else row["started_at"]
        scope = sa.and_(events.c.workspace_id == row["workspace_id"], events.c.timestamp == at)
        where = events.c.conversation_id == row["conversation_id"]
        if row["contact_id"] is not None:
            where = sa.or_(where, events.c.contact_id == row["contact_id"])
        found_event = sa.select(events.c.id).where(scope, where).order_by(events.c.id).limit(1)
        event_ref = connection.scalar(found_event)
        connection.execute(
            hits.insert().values(
                workspace_id=row["workspace_id"],
                id=uuid_utils.compat.uuid7(),
                goal_id=row["goal_id"],
                cycle_id=row["id"],
                step_key=row["key"],
                step_slot=row["slot"],
                # none found (an event whose time the cycle did not keep): the cycle names it
                event_ref=event_ref if event_ref is not None else row["id"],
                conversation_id=row["conversation_id"],
                contact_id=row["contact_id"],
                occurred_at=at,
                time_saved_seconds=row["time_saved_seconds"],
                cost_savings=row["cost_savings"],
                revenue_earned=row["revenue_earned"],
            )
        )
