"""The CHECKs on `outcomes.kind` and `outcomes.attribution` spelt `c = 'a' OR …` instead of `c IN (…)`.

Both say the same. But SQLite checks an IN list of more than two constants through an ephemeral index
that it builds again at every execution of the statement, and ingestion inserts outcomes with one
`executemany`, one execution a row: two such indexes an outcome (`db.types.one_of`). SQLite cannot
alter a constraint, so there the table is copied (batch mode); PostgreSQL drops and adds the two
constraints.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECKS = (
    ("outcome_kind", "kind", ("conversion", "engagement", "custom")),
    ("attribution_kind", "attribution", ("conversation", "window", "none")),
)


def _spelt_out(column: str, values: tuple[str, ...]) -> str:
    return " OR ".join(f"{column} = '{value}'" for value in values)


def _listed(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace(spell: Callable[[str, tuple[str, ...]], str]) -> None:
    with op.batch_alter_table("outcomes") as batch:
        for name, column, values in CHECKS:
            batch.drop_constraint(op.f(f"ck_outcomes_{name}"), type_="check")
            batch.create_check_constraint(name, spell(column, values))


def upgrade() -> None:
    _replace(_spelt_out)


def downgrade() -> None:
    _replace(_listed)
