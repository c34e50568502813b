"""Foundation: workspaces, users, personal access tokens, Engine API keys, goals and their audit trail.

Every table but workspaces is keyed by (workspace_id, id); ids are UUIDv7, made by the application.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Plain types, frozen here on purpose: a revision must not change when the application's types do.
UTC_TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")


def closed_set(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def scoped_key(table: str) -> list[Any]:
    """The columns and keys every workspace-scoped table starts with."""
    return [
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("base_currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "users",
        *scoped_key("users"),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", closed_set("role", "admin", "designer", "analyst", "viewer"), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.UniqueConstraint("workspace_id", "email", name=op.f("uq_users_workspace_id_email")),
    )
    op.create_index(op.f("ix_users_email"), "users", ["email"])
    op.create_table(
        "personal_access_tokens",
        *scoped_key("personal_access_tokens"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(32), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id", "user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_personal_access_tokens_workspace_id_user_id_users"),
        ),
        sa.UniqueConstraint(
            "workspace_id", "token_hash", name=op.f("uq_personal_access_tokens_workspace_id_token_hash")
        ),
    )
    op.create_table(
        "engine_keys",
        *scoped_key("engine_keys"),
        sa.Column("kind", closed_set("engine_key_kind", "public", "secret"), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(32), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        sa.UniqueConstraint("workspace_id", "key_hash", name=op.f("uq_engine_keys_workspace_id_key_hash")),
    )
    op.create_table(
        "goals",
        *scoped_key("goals"),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", closed_set("goal_kind", "conversion", "engagement", "custom"), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("status", closed_set("goal_status", "active", "paused", "archived"), nullable=False),
        sa.Column("trigger_event", sa.String(128), nullable=False),
        sa.Column("match_conditions", JSON_DOCUMENT, nullable=False),
        sa.Column("value_mode", closed_set("value_mode", "none", "fixed", "from_property"), nullable=False),
        sa.Column("fixed_value", EXACT_DECIMAL, nullable=True),
        sa.Column("value_property", sa.String(255), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("currency_property", sa.String(255), nullable=True),
        sa.Column("base_value_property", sa.String(255), nullable=True),
        sa.Column("base_currency_property", sa.String(255), nullable=True),
        sa.Column("attribution_window_hours", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.UniqueConstraint("workspace_id", "code", name=op.f("uq_goals_workspace_id_code")),
    )
    op.create_index(
        op.f("ix_goals_workspace_id_status_trigger_event"),
        "goals",
        ["workspace_id", "status", "trigger_event"],
    )
    op.create_table(
        "goal_revisions",
        *scoped_key("goal_revisions"),
        sa.Column("goal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "action", closed_set("revision_action", "created", "updated", "status_changed"), nullable=False
        ),
        sa.Column("changes", JSON_DOCUMENT, nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_email", sa.String(254), nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "goal_id"],
            ["goals.workspace_id", "goals.id"],
            name=op.f("fk_goal_revisions_workspace_id_goal_id_goals"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "actor_user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_goal_revisions_workspace_id_actor_user_id_users"),
        ),
    )
    op.create_index(
        op.f("ix_goal_revisions_workspace_id_goal_id_id"), "goal_revisions", ["workspace_id", "goal_id", "id"]
    )


def downgrade() -> None:
    for table in ("goal_revisions", "goals", "engine_keys", "personal_access_tokens", "users", "workspaces"):
        op.drop_table(table)
