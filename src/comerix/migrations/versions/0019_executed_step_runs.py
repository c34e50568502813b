"""The executed steps stored a run a row: `executed_step_runs` holds the steps one ingestion group
executed in a conversation as a JSON array (`telemetry.models.ExecutedStepRun`), and `executed_steps`
becomes a view of it, an entry a row, with the columns the table had: a row per step cost ingestion
more than a writer could spare (docs/benchmarks.md, 2026-12-07, evening).

The upgrade moves each stored step into a run of its own, which says the same as a longer run would.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

CLIENT_ID = sa.String(128)
UTC_TIMESTAMP = sa.DateTime(timezone=True)

# An entry: [step_id, flow_id, parent_step_id, executed_at, event_ref]; null once erased. The time and
# the id as SQLite keeps them in columns ("YYYY-MM-DD HH:MM:SS.ffffff" in UTC, 32 hex digits), and on
# PostgreSQL as RFC 3339 with its offset and a hyphenated UUID (what orjson and json_build_array write).
VIEW = {
    "sqlite": """
CREATE VIEW executed_steps AS
SELECT run.workspace_id AS workspace_id,
       run.conversation_id AS conversation_id,
       run.position + entry.key AS position,
       json_extract(entry.value, '$[1]') AS flow_id,
       json_extract(entry.value, '$[0]') AS step_id,
       json_extract(entry.value, '$[2]') AS parent_step_id,
       json_extract(entry.value, '$[3]') AS executed_at,
       json_extract(entry.value, '$[4]') AS event_ref
FROM executed_step_runs AS run, json_each(run.steps) AS entry
WHERE entry.type = 'array'
""",
    "postgresql": """
CREATE VIEW executed_steps AS
SELECT run.workspace_id AS workspace_id,
       run.conversation_id AS conversation_id,
       run.position + CAST(entry.ordinality AS integer) - 1 AS position,
       CAST(entry.value ->> 1 AS varchar(128)) AS flow_id,
       CAST(entry.value ->> 0 AS varchar(128)) AS step_id,
       CAST(entry.value ->> 2 AS varchar(128)) AS parent_step_id,
       CAST(entry.value ->> 3 AS timestamptz) AS executed_at,
       CAST(entry.value ->> 4 AS uuid) AS event_ref
FROM executed_step_runs AS run
CROSS JOIN LATERAL json_array_elements(CAST(run.steps AS json)) WITH ORDINALITY AS entry(value, ordinality)
WHERE json_typeof(entry.value) = 'array'
""",
}
MOVE = {
    "sqlite": """
INSERT INTO executed_step_runs (workspace_id, conversation_id, position, steps)
SELECT workspace_id, conversation_id, position,
       json_array(json_array(step_id, flow_id, parent_step_id, executed_at, event_ref))
FROM executed_steps_before
""",
    "postgresql": """
INSERT INTO executed_step_runs (workspace_id, conversation_id, position, steps)
SELECT workspace_id, conversation_id, position,
       CAST(json_build_array(json_build_array(step_id, flow_id, parent_step_id, executed_at, event_ref))
            AS text)
FROM executed_steps_before
""",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "executed_step_runs",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_executed_step_runs_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "conversation_id", "position", name=op.f("pk_executed_step_runs")
        ),
    )
    op.rename_table("executed_steps", "executed_steps_before")
    op.execute(MOVE[dialect])
    op.drop_table("executed_steps_before")
    op.execute(VIEW[dialect])


def downgrade() -> None:
    op.execute("DROP VIEW executed_steps")
    op.rename_table("executed_step_runs", "executed_step_runs_before")
    op.execute(VIEW[op.get_bind().dialect.name].replace("executed_step_runs", "executed_step_runs_before"))
    op.create_table(
        "executed_steps_table",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", CLIENT_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("flow_id", CLIENT_ID, nullable=False),
        sa.Column("step_id", CLIENT_ID, nullable=False),
        sa.Column("parent_step_id", CLIENT_ID, nullable=True),
        sa.Column("executed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("event_ref", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_executed_steps_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "conversation_id", "position", name=op.f("pk_executed_steps")
        ),
        sqlite_with_rowid=False,
    )
    op.execute("INSERT INTO executed_steps_table SELECT * FROM executed_steps")
    op.execute("DROP VIEW executed_steps")
    op.drop_table("executed_step_runs_before")
    op.rename_table("executed_steps_table", "executed_steps")
