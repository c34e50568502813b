"""What a database is asked to do: the plan it would run a query with, for tests that hold a query to an
index, and the reads made while a block runs, for tests that count them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, event, text
from sqlalchemy.orm import Session

from comerix.db import Database


@contextmanager
def reads_made(db: Database, marker: str) -> Iterator[list[str]]:
    """The SELECT statements holding `marker` (a table's name, a condition) sent while the block runs."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if marker in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def query_plan(session: Session, query: Select[Any]) -> str:
    """EXPLAIN (QUERY PLAN) of the query, one line per step joined by ` | `.

    On PostgreSQL sequential scans, bitmap scans and sorts are turned off for the transaction first.
    The tests' tables hold a few rows, and for a few rows PostgreSQL would as soon scan the table, or
    fetch them through any index and sort them; which it picks turns on the statistics that other
    tests left behind. Turned off, each is still used when nothing else can answer the query, so a
    Sort in the plan means that no index gives the order asked for."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        return " | ".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    session.execute(text("SET LOCAL enable_sort = off"))
    return " | ".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))
