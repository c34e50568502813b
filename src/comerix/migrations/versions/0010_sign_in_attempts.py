"""Sign-in attempts kept in the database (shared by every process, kept across restarts), and the
table `/healthz` probes writes with.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "email",
                "address",
                name="sign_in_attempt_key",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(
        op.f("ix_sign_in_attempts_kind_key_attempted_at"), "sign_in_attempts", ["kind", "key", "attempted_at"]
    )
    op.create_index(op.f("ix_sign_in_attempts_attempted_at"), "sign_in_attempts", ["attempted_at"])
    op.create_table(
        "storage_probes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_probes")),
    )


def downgrade() -> None:
    op.drop_table("storage_probes")
    op.drop_index(op.f("ix_sign_in_attempts_attempted_at"), table_name="sign_in_attempts")
    op.drop_index(op.f("ix_sign_in_attempts_kind_key_attempted_at"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
