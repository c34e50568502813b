"""Multi-row INSERT … ON CONFLICT for the ingestion hot path, straight to the driver.

SQLAlchemy's per-row bind processing costs more than the database's own work at tens of thousands of
rows a second, so ingestion builds its rows already in the driver's terms (a `Codec` per backend) and
sends one statement per table and group. Everything else in the service goes through the ORM.

- SQLite: INSERTs of 50 rows each (`SQLITE_ROWS_A_STATEMENT`), and one `executemany` of a one-row
  INSERT for the rest. Every execution of a writing statement inside a transaction opens and closes a
  statement savepoint in SQLite; 50 rows share one. The text of each is always the same, so the
  driver compiles it once and caches it.
- PostgreSQL: `INSERT … SELECT … FROM unnest(…)` with one array per column, sent in binary: the same
  short text for any number of rows, which psycopg converts once and caches. A multi-row VALUES
  statement is new text for every row count, too long for psycopg's cache, so psycopg would parse it
  again on every call.

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

import uuid_utils
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from comerix.db.base import Base
from comerix.db.types import new_id
from comerix.text import json_text


class Codec:
    """How one backend wants each kind of value, and how it spells the pieces of an upsert.

    A codec remembers the text of each moment it wrote (`time_text`, which on SQLite is every time):
    ingestion writes an event's time for the event, and again for its conversation, its contact and its
    outcomes. Ingestion makes a codec for each workspace of each group (`Codec(dialect)`), so what it
    remembers is those events' times; a codec kept longer (`codec_for`) forgets everything once it
    holds `MAX_REMEMBERED` of them."""

    MAX_REMEMBERED = 100_000

    def __init__(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r}")
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.least = "min" if self.sqlite else "LEAST"
        self.greatest = "max" if self.sqlite else "GREATEST"
        self._times: dict[datetime, str] = {}

    def id(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    def new_id(self) -> Any:
        """A new row id (a UUIDv7, as `db.types.new_id` makes) in this backend's terms; on SQLite its
        hex straight from uuid_utils, without the `uuid.UUID` that `new_id` builds in Python."""
        return uuid_utils.uuid7().hex if self.sqlite else new_id()

    def id_back(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value) if isinstance(value, str) else value

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if not self.sqlite:
            return value if value.tzinfo is UTC else value.astimezone(UTC)
        text = self._times.get(value)  # equal moments in other zones are equal keys, with equal text
        return text if text is not None else self._remember(value)

    def time_text(self, value: datetime) -> str:
        """The moment as SQLite keeps it, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC, on either backend: the
        text JSON documents hold a time in (`conversions.models.STEP_TIME_FORMAT`)."""
        text = self._times.get(value)
        return text if text is not None else self._remember(value)

    def _remember(self, value: datetime) -> str:
        if len(self._times) >= self.MAX_REMEMBERED:
            self._times.clear()
        # the text up to the offset ("+00:00"), which SQLAlchemy reads back as naive UTC
        text = self._times[value] = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
        return text

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def decimal(self, value: Decimal | None) -> Any:
        if value is None:
            return None
        return str(value) if self.sqlite else value

    def json(self, value: Any) -> str:
        return json_text(value)


# SQLite: rows a multi-row INSERT carries (see `insert_rows`): enough for many rows to share one
# statement savepoint, and the exact number matters little (docs/benchmarks.md, "SQLite storage"); a
# fixed number keeps the statement's text, and so its compiled form in the driver's cache, the same.
SQLITE_ROWS_A_STATEMENT = 50


@cache
def _values_statement(table: str, columns: tuple[str, ...], tail: str, rows: int = 1) -> str:
    """SQLite: INSERT … VALUES with `rows` rows of `?` (JSON travels as text)."""
    one = "(" + ", ".join(["?"] * len(columns)) + ")"
    # Names and clauses come from the code, never from input; values always travel as parameters.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)} {tail}"  # noqa: S608


@cache
def _unnest_statement(
    dialect: Dialect, table: str, columns: tuple[str, ...], json_columns: frozenset[str], tail: str
) -> str:
    """PostgreSQL: one INSERT … SELECT FROM unnest() with an array per column, whatever the number of
    rows. The text stays short and the same, so psycopg converts it once and caches it; a multi-row
    VALUES statement is new text for every row count, and psycopg would parse it again on every
    call."""
    columns_of = Base.metadata.tables[table].columns
    arrays = ", ".join(
        "CAST(%b AS TEXT[])"
        if c in json_columns
        else f"CAST(%b AS {columns_of[c].type.compile(dialect=dialect)}[])"
        for c in columns
    )
    picks = ", ".join(f"CAST(batch.{c} AS JSONB)" if c in json_columns else f"batch.{c}" for c in columns)
    names = ", ".join(columns)
    # Names and clauses come from the code, never from input; values always travel as parameters.
    return f"INSERT INTO {table} ({names}) SELECT {picks} FROM unnest({arrays}) AS batch({names}) {tail}"  # noqa: S608


def _arrays(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows (at least one) to columns: one list per column, for `unnest`."""
    return [list(column) for column in zip(*rows, strict=True)]


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

    SQLite takes them 50 to a statement (the rest in one `executemany`), in order, so that a row
    conflicting with an earlier one of the same call sees it, as one row at a time would. PostgreSQL
    gets one statement with an array per column, since executemany costs it one round trip's worth
    of work per row."""
    if not rows:
        return 0
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if codec.sqlite:
            return _sqlite_insert(cursor, table, columns, rows, tail)
        cursor.execute(
            _unnest_statement(connection.dialect, table, columns, json_columns, tail), _arrays(rows)
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _sqlite_insert(
    cursor: Any, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]], tail: str
) -> int:
    size = SQLITE_ROWS_A_STATEMENT
    whole = len(rows) - len(rows) % size
    written = 0
    if whole:
        statement = _values_statement(table, columns, tail, size)
        for low in range(0, whole, size):
            cursor.execute(statement, [value for row in rows[low : low + size] for value in row])
            written += cursor.rowcount
    if whole < len(rows):
        cursor.executemany(_values_statement(table, columns, tail), rows[whole:])
        written += cursor.rowcount
    return written


@cache
def codec_for(dialect: str) -> Codec:
    return Codec(dialect)
