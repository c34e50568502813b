"""One outcome, as one typed record from the moment ingestion matches it to every place it is read.

`OutcomeRecord` is what the pipeline builds (its `record` stage), what it stores (`row`, in the order
of `COLUMNS`, which are the columns of `outcomes`), what crosses the writer's pipe back to the serving
process, what the 202 answer and the API read (`telemetry.schemas.OutcomeRead.of`), what the rollups
count, and what the CSV export writes. Its fields are named once, here; everything else derives from
them.

A msgspec Struct rather than a dataclass: thousands cross the pipe a second, and a Struct is created
and pickled about as cheaply as a tuple (docs/decisions.md, "One typed record for an outcome"; the
measurement is in docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from operator import call
from typing import Any, get_type_hints

import msgspec
from msgspec.structs import astuple

from comerix.conversions.attribution import AttributionKind
from comerix.db.bulk import Codec
from comerix.vocabulary import BaseValueSource, GoalKind, Source


class OutcomeRecord(msgspec.Struct, frozen=True, gc=False):
    """A goal achieved by one event (SPEC §2, §3): a row of `outcomes`."""

    workspace_id: uuid.UUID
    id: uuid.UUID
    goal_id: uuid.UUID
    goal_code: str
    kind: GoalKind
    event_ref: uuid.UUID  # the event's row id (no foreign key: see `conversions.models.Outcome`)
    occurred_at: datetime
    recorded_at: datetime
    value: Decimal | None
    currency: str | None
    base_value: Decimal | None
    base_currency: str | None
    base_value_source: BaseValueSource | None  # None without a value (SPEC §11)
    fx_rate: Decimal | None  # with `rate`: units of `currency` per unit of `base_currency`
    fx_date: date | None  # with `rate`: the date of that rate's quote
    value_error: str | None
    attribution: AttributionKind
    conversation_id: str | None
    flow_id: str | None
    contact_id: str | None
    source: Source

    @classmethod
    def of_row(cls, row: Mapping[Any, Any]) -> OutcomeRecord:
        """A stored outcome (a row read by `COLUMNS`, through the ORM's types) as a record."""
        return cls(**{name: row[name] for name in COLUMNS})


COLUMNS: tuple[str, ...] = OutcomeRecord.__struct_fields__
"""The columns of `outcomes` that a record fills: all of them, in the order of its fields."""


def rows(records: Sequence[OutcomeRecord], codec: Codec) -> list[tuple[Any, ...]]:
    """`records` as rows of `outcomes` in `codec`'s terms, in the order of `COLUMNS`."""
    convert = _converters(codec)
    return [tuple(map(call, convert, astuple(record))) for record in records]


def _converters(codec: Codec) -> tuple[Callable[[Any], Any], ...]:
    """For each field of the record, what turns its value into `codec`'s terms."""
    by_kind: dict[str, Callable[[Any], Any]] = {
        "id": codec.id,
        "time": codec.time,
        "decimal": codec.decimal,
        "enum": str,  # a StrEnum's value; a driver may write an Enum by its name (psycopg does)
        "enum_or_none": _value_or_none,
        "day": _day_or_none(codec),
        "same": _same,
    }
    return tuple(by_kind[kind] for kind in _field_kinds())


@cache
def _field_kinds() -> tuple[str, ...]:
    """Each field's kind of value, by its type; a type not provided for fails here, at the first write,
    rather than reach the driver in the wrong terms."""
    hints = get_type_hints(OutcomeRecord)
    kinds = {
        uuid.UUID: "id",
        datetime: "time",
        Decimal | None: "decimal",
        date | None: "day",
        BaseValueSource | None: "enum_or_none",
        str: "same",
        str | None: "same",
    }
    found = []
    for name in COLUMNS:
        hint = hints[name]
        kind = "enum" if isinstance(hint, type) and issubclass(hint, StrEnum) else kinds.get(hint)
        if kind is None:
            raise TypeError(f"OutcomeRecord.{name}: no way to write a {hint} yet")
        found.append(kind)
    return tuple(found)


def _same(value: Any) -> Any:
    return value


def _value_or_none(member: StrEnum | None) -> str | None:
    return None if member is None else member.value


def _day_or_none(codec: Codec) -> Callable[[date | None], Any]:
    return lambda day: None if day is None else codec.day(day)
