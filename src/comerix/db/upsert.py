"""Dialect-aware INSERT … ON CONFLICT, and the two-argument min/max that upserts need.

SQLite and PostgreSQL share the ON CONFLICT syntax but not the function names: SQLite's scalar
`min(a, b)`/`max(a, b)` are PostgreSQL's `LEAST`/`GREATEST`. Timestamps compare correctly on SQLite
because SQLAlchemy always writes them in one fixed-width text format.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement


def insert_for(dialect: str, table: Any) -> Any:
    """An INSERT for `table` that supports `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database {dialect!r}")


def least(dialect: str, left: Any, right: Any) -> ColumnElement[Any]:
    return func.least(left, right) if dialect == "postgresql" else func.min(left, right)


def greatest(dialect: str, left: Any, right: Any) -> ColumnElement[Any]:
    return func.greatest(left, right) if dialect == "postgresql" else func.max(left, right)
