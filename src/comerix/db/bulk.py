"""Multi-row INSERT … ON CONFLICT for the ingestion hot path, straight to the driver.

SQLAlchemy's per-row bind processing costs more than the database's own work at tens of thousands of
rows a second, so ingestion builds its rows already in the driver's terms (a `Codec` per backend) and
sends one statement per table and batch. Everything else in the service goes through the ORM.

One `executemany` per table and batch measured faster on SQLite than a multi-row VALUES statement,
and much faster than one with RETURNING.

The storage formats match what SQLAlchemy's own types write, so the ORM reads these rows back as usual:
on SQLite a UUID is 32 hex digits and a timestamp the text "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC);
on PostgreSQL both are native. JSON is serialised by orjson.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection

from comerix.text import json_text


class Codec:
    """How one backend wants each kind of value, and how it spells the pieces of an upsert."""

    def __init__(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r}")
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.placeholder = "?" if self.sqlite else "%s"
        self.json_placeholder = "?" if self.sqlite else "CAST(%s AS JSONB)"
        self.least = "min" if self.sqlite else "LEAST"
        self.greatest = "max" if self.sqlite else "GREATEST"

    def id(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    def id_back(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value) if isinstance(value, str) else value

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else value

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def decimal(self, value: Decimal | None) -> Any:
        if value is None:
            return None
        return str(value) if self.sqlite else value

    def json(self, value: Any) -> str:
        return json_text(value)


@cache
def _statement(
    codec: Codec, table: str, columns: tuple[str, ...], json_columns: frozenset[str], tail: str, rows: int
) -> str:
    one = (
        "("
        + ", ".join(codec.json_placeholder if c in json_columns else codec.placeholder for c in columns)
        + ")"
    )
    # Names and clauses come from the code, never from input; values always travel as parameters.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)} {tail}"  # noqa: S608


# PostgreSQL takes at most 65,535 parameters in a statement.
MAX_PARAMETERS = 30_000


def insert_rows(
    connection: Connection,
    codec: Codec,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    tail: str = "",
    json_columns: frozenset[str] = frozenset(),
) -> int:
    """INSERT `rows` (values already in `codec`'s terms) with the SQL `tail` (ON CONFLICT …).
    Returns how many rows were written.

    SQLite runs one `executemany` in C; PostgreSQL gets multi-row statements, since executemany costs
    it one round trip's worth of work per row."""
    if not rows:
        return 0
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if codec.sqlite:
            cursor.executemany(_statement(codec, table, columns, json_columns, tail, 1), rows)
            return int(cursor.rowcount)
        written = 0
        per_statement = max(1, MAX_PARAMETERS // len(columns))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                _statement(codec, table, columns, json_columns, tail, len(chunk)),
                [value for row in chunk for value in row],
            )
            written += int(cursor.rowcount)
        return written
    finally:
        cursor.close()


@cache
def codec_for(dialect: str) -> Codec:
    return Codec(dialect)


def insert_returning(
    connection: Connection,
    codec: Codec,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    tail: str,
) -> list[tuple[Any, ...]]:
    """INSERT `rows` as one multi-row statement whose `tail` ends in RETURNING; the returned rows.

    For the few rows where knowing exactly which were written matters more than speed (with
    ON CONFLICT DO NOTHING, concurrent writers in other processes may have written some first).
    """
    one = "(" + ", ".join([codec.placeholder] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(rows))} {tail}"  # noqa: S608
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, [value for row in rows for value in row])
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
