"""The plan a database would run a query with: for tests that hold a query to an index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.orm import Session


def query_plan(session: Session, query: Select[Any]) -> str:
    """EXPLAIN (QUERY PLAN) of the query, one line per step joined by ` | `.

    On PostgreSQL sequential scans are turned off for the transaction first: the tests' tables are
    small, and PostgreSQL would rather scan them; this asks for the plan it has with an index."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        return " | ".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return " | ".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))
