"""`conversation_marks` keeps a conversation's own marks only: (goal, attribution), and whether any
outcome behind one was a conversion. The rows for any goal or any attribution ('') are worked out from
those (`analytics.credits.credits`), no longer stored: ingestion wrote four marks for most credited
outcomes, and now writes one (docs/decisions.md).

Upgrading sets `conversion` on each mark from its conversation's stored outcomes of that goal and
attribution (their kind as recorded), then drops the '' rows. Downgrading writes them back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_marks") as batch:
        batch.add_column(sa.Column("conversion", sa.Boolean(), server_default=sa.false(), nullable=False))
    postgresql = op.get_bind().dialect.name == "postgresql"
    # On SQLite both goal ids are 32 hex digits; on PostgreSQL the outcome's is a uuid.
    goal = "replace(CAST(o.goal_id AS TEXT), '-', '')" if postgresql else "o.goal_id"
    op.execute(
        "UPDATE conversation_marks SET conversion = TRUE "  # noqa: S608 (no input: the SQL is fixed)
        "WHERE goal_id <> '' AND attribution <> '' AND EXISTS (SELECT 1 FROM outcomes o "
        "WHERE o.workspace_id = conversation_marks.workspace_id "
        "AND o.conversation_id = conversation_marks.conversation_id "
        f"AND {goal} = conversation_marks.goal_id "
        "AND o.attribution = conversation_marks.attribution AND o.kind = 'conversion')"
    )
    op.execute("DELETE FROM conversation_marks WHERE goal_id = '' OR attribution = ''")


def downgrade() -> None:
    for goal, attribution, which in (
        ("goal_id", "''", ""),
        ("''", "attribution", "AND conversion"),
        ("''", "''", "AND conversion"),
    ):
        op.execute(
            "INSERT INTO conversation_marks (workspace_id, conversation_id, goal_id, attribution) "  # noqa: S608
            f"SELECT DISTINCT workspace_id, conversation_id, {goal}, {attribution} FROM conversation_marks "
            f"WHERE goal_id <> '' AND attribution <> '' {which}"
        )
    with op.batch_alter_table("conversation_marks") as batch:
        batch.drop_column("conversion")
