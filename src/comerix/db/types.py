"""Column types shared by every domain: ids, UTC timestamps, exact decimals, JSON.

Traps these types exist for:
- SQLite has no timestamp with time zone: `UTCDateTime` stores naive UTC and hands back aware UTC.
- SQLite has no exact decimal (SQLAlchemy's Numeric goes through float there): `ExactDecimal` stores
  the decimal's text on SQLite and NUMERIC on PostgreSQL, so money round-trips unchanged.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import uuid_utils.compat
from sqlalchemy import JSON, CheckConstraint, Dialect, Enum, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine


def new_id() -> uuid.UUID:
    """A time-ordered UUIDv7: new rows land at the end of the index, which keeps inserts fast."""
    return uuid_utils.compat.uuid7()


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always stored and returned in UTC. Naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly: NUMERIC on PostgreSQL, canonical text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON value: JSONB on PostgreSQL, JSON text on SQLite."""


def text_enum(enum: type[StrEnum], name: str, *, constraint: bool = True) -> Enum:
    """A closed set stored as its readable value, guarded by a CHECK constraint on both backends
    (`constraint=False`: the table spells the check out itself, with `one_of`)."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=constraint,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


def one_of(column: str, enum: type[StrEnum], name: str) -> CheckConstraint:
    """The CHECK of a `text_enum(…, constraint=False)` column, spelt `c = 'a' OR c = 'b' OR …`.

    It says what `text_enum`'s own `c IN ('a', 'b', …)` says, but SQLite checks an IN list of more than
    two constants through an ephemeral index it builds again at every execution of the statement, that
    is for every row of an `executemany`. On the ingestion hot path (`outcomes`, two such columns) that
    is paid for every row inserted; the equalities cost next to nothing."""
    values = [member.value for member in enum]
    if any("'" in value for value in values):  # values come from the code; never quote one of them
        raise ValueError(f"{enum.__name__} has a value with a quote")
    return CheckConstraint(" OR ".join(f"{column} = '{value}'" for value in values), name=name)
