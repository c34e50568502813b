"""The entity sets of the OData feed: their tables, keys, properties and EDM types, and rows as JSON.

Property names are those of the JSON API (`GoalRead`, `OutcomeRead`, `EventRead`, and the columns of a
conversation). The sets of multi-step goals (SPEC §9) follow the same habits: a goal is named by its code
(`goal`) and a step by its key (`step`), as `OutcomeRead` names its goal; rows named by id keep the
`_id` suffix (`conversation_id`, `cycle_id`). Their rows hold the goal's id, so those sets read their table
joined to `goals` (`EntitySet.source`). The analytics steps (§10) name a step by `step_id` and its flow
(`flow`, null for none), and the step before one by `parent`; a set keyed by several columns has an `id`
joining their text with `:` (`sales:ask`, `chat-1:3`; a `:` or `%` inside one is written `%3A`, `%25`).
Each property's EDM type follows from its column's type, chosen for what Excel and Power BI read
without help:

- ids (UUIDs and client ids) are `Edm.String`; closed sets (kind, status, source, ...) are `Edm.String`
  holding the readable value, as in the JSON API;
- money is `Edm.Decimal` (variable scale), written as an exact JSON number, or as a string when the
  client asks for `IEEE754Compatible=true`; so is a 64-bit integer (`Edm.Int64`: time saved, in seconds);
- dates (a rate's) are `Edm.Date` (`2026-11-02`);
- timestamps are `Edm.DateTimeOffset` in UTC with a `Z` (`2026-11-02T09:30:00Z`, microseconds when any);
- `match_conditions` and `properties` are `Edm.String` holding the JSON document (compact). Open types
  and dynamic properties are poorly supported by Power BI and Excel, while a JSON text column can be
  expanded there with `Json.Document`. These two cannot be used in `$filter` or `$orderby` (the
  metadata says so): their stored text differs between SQLite and PostgreSQL.

Traps the SQL expressions below exist for:
- UUIDs are 32 hex digits on SQLite and native on PostgreSQL: filters on an id compare its
  hyphenated text, the same string the feed shows, on both.
- Exact decimals are text on SQLite: they are compared and sorted as numbers through a cast, so there
  as 64-bit floats (exact to 15 significant digits, far beyond any price); PostgreSQL compares NUMERIC.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from functools import cached_property
from typing import Any

from sqlalchemy import (
    JSON,
    TIMESTAMP,
    BigInteger,
    Boolean,
    Date,
    FromClause,
    Integer,
    Numeric,
    String,
    Uuid,
    and_,
    case,
    cast,
    func,
    join,
    literal_column,
    outerjoin,
    type_coerce,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

from comerix.analytics.models import FlowStepEntry
from comerix.conversions.models import GoalCycle, Outcome
from comerix.db.base import Base
from comerix.db.types import ExactDecimal, UTCDateTime
from comerix.goals.models import Goal, GoalStep
from comerix.telemetry.models import Conversation, ConversationPath, Event, ExecutedStep
from comerix.text import json_text
from comerix.vocabulary import StepType

NAMESPACE = "Comerix"


class Edm(StrEnum):
    STRING = "Edm.String"
    BOOLEAN = "Edm.Boolean"
    INT32 = "Edm.Int32"
    INT64 = "Edm.Int64"
    DECIMAL = "Edm.Decimal"
    DATE_TIME_OFFSET = "Edm.DateTimeOffset"
    DATE = "Edm.Date"


class Storage(StrEnum):
    """How a property's column is stored, which decides its EDM type and its SQL expressions."""

    TEXT = "text"
    UUID = "uuid"
    ENUM = "enum"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    BIG_INTEGER = "big_integer"
    DECIMAL = "decimal"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"


EDM_OF: dict[Storage, Edm] = {
    Storage.TEXT: Edm.STRING,
    Storage.UUID: Edm.STRING,
    Storage.ENUM: Edm.STRING,
    Storage.JSON: Edm.STRING,
    Storage.BOOLEAN: Edm.BOOLEAN,
    Storage.INTEGER: Edm.INT32,
    Storage.BIG_INTEGER: Edm.INT64,
    Storage.DECIMAL: Edm.DECIMAL,
    Storage.TIMESTAMP: Edm.DATE_TIME_OFFSET,
    Storage.DATE: Edm.DATE,
}


def storage_of(column_type: TypeEngine[Any]) -> Storage:
    """The storage of a column type; the order matters (an SQL Enum is also a String, a BigInteger an
    Integer)."""
    checks: list[tuple[type[Any], Storage]] = [
        (UTCDateTime, Storage.TIMESTAMP),
        (Date, Storage.DATE),
        (ExactDecimal, Storage.DECIMAL),
        (Uuid, Storage.UUID),
        (SqlEnum, Storage.ENUM),
        (JSON, Storage.JSON),
        (Boolean, Storage.BOOLEAN),
        (BigInteger, Storage.BIG_INTEGER),
        (Integer, Storage.INTEGER),
        (String, Storage.TEXT),
    ]
    for klass, storage in checks:
        if isinstance(column_type, klass):
            return storage
    raise TypeError(f"no OData type for the column type {column_type!r}")


class Int64(int):
    """An `Edm.Int64` value as the feed writes it: a JSON number, or a string under `IEEE754Compatible=true`
    (`payload.dumps`), as OData's JSON format asks for 64-bit integers."""


@dataclass(frozen=True)
class Property:
    """One property of an entity type: its OData name and the column (or SQL expression) it reads."""

    name: str
    column: InstrumentedAttribute[Any] | ColumnElement[Any]
    storage: Storage
    nullable: bool
    max_length: int | None = None

    @property
    def edm(self) -> Edm:
        return EDM_OF[self.storage]

    @property
    def queryable(self) -> bool:
        """Whether `$filter` and `$orderby` may use it (JSON text may not)."""
        return self.storage is not Storage.JSON

    def filter_expression(self, dialect: str) -> ColumnElement[Any]:
        """The value as `$filter` compares it: the text of an id, the number of a decimal."""
        column: ColumnElement[Any] = self.column.expression
        if self.storage is Storage.UUID:
            return _uuid_text(column, dialect)
        if self.storage is Storage.ENUM:
            return type_coerce(column, String())
        if self.storage is Storage.DECIMAL and dialect == "sqlite":
            return cast(column, Numeric())
        return column

    def sort_expression(self, dialect: str) -> ColumnElement[Any]:
        """The value as `$orderby` sorts it. A UUID sorts as its text does, on both backends."""
        if self.storage is Storage.DECIMAL and dialect == "sqlite":
            return cast(self.column.expression, Numeric())
        expression: ColumnElement[Any] = self.column.expression
        return expression

    def to_json(self, value: Any) -> Any:
        """A stored value as the feed writes it (a Decimal stays a Decimal: the writer keeps it exact)."""
        if value is None:
            return None
        if self.storage is Storage.UUID:
            return str(value)
        if self.storage is Storage.ENUM:
            return value.value if isinstance(value, Enum) else str(value)
        if self.storage is Storage.TIMESTAMP:
            return timestamp_text(value)
        if self.storage is Storage.DATE:
            return value.isoformat()
        if self.storage is Storage.JSON:
            return json_text(value)
        if self.storage is Storage.BIG_INTEGER:
            return Int64(value)
        return value


def _uuid_text(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect != "sqlite":
        return cast(column, String())
    # SQLite keeps 32 hex digits: put the hyphens back, as in 0191e3a4-5b6c-7d8e-9f00-112233445566.
    # The constants are written into the SQL, not bound: a filter naming the id thousands of times
    # would otherwise pass SQLite's limit of 32,766 parameters.
    parts = [
        func.substr(column, literal_column(str(start)), literal_column(str(length)))
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ]
    text: ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        text = text.concat(literal_column("'-'")).concat(part)
    return type_coerce(text, String())


def timestamp_text(moment: datetime) -> str:
    """An Edm.DateTimeOffset in UTC: `2026-11-02T09:30:00Z`, with microseconds only when there are any."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def prop(column: InstrumentedAttribute[Any], name: str | None = None) -> Property:
    """The property that reads `column`, named like the column unless the JSON API names it otherwise."""
    table_column = column.property.columns[0]
    storage = storage_of(table_column.type)
    length = getattr(table_column.type, "length", None) if storage is Storage.TEXT else None
    return Property(
        name=name or column.key,
        column=column,
        storage=storage,
        nullable=bool(table_column.nullable),
        max_length=length,
    )


def derived(name: str, expression: ColumnElement[Any], storage: Storage) -> Property:
    """A property computed from its row's columns (never null), such as a step's `type`. Write its
    constants into the SQL (`literal_column`), as `filters` does its own, so that a filter naming it
    often binds no parameter for it."""
    return Property(name=name, column=expression, storage=storage, nullable=False)


@dataclass(frozen=True)
class EntitySet:
    """An entity set and its entity type. Every row belongs to a workspace; `key` is `id` everywhere.

    `source` is what its rows are read from when some property reads another table (the goal's code):
    the model's table joined to it, one row of the other table per row of the model."""

    name: str
    type_name: str
    model: type[Base]
    properties: tuple[Property, ...]
    source: FromClause | None = None

    @property
    def from_clause(self) -> FromClause:
        return self.source if self.source is not None else self.model.__table__

    @property
    def key(self) -> Property:
        return self.properties[0]

    @property
    def qualified_type(self) -> str:
        return f"{NAMESPACE}.{self.type_name}"

    @property
    def workspace_column(self) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(self.model, "workspace_id")  # noqa: B009
        return column

    def property_named(self, name: str) -> Property | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> Mapping[str, Property]:
        return {p.name: p for p in self.properties}

    def row_json(self, row: Mapping[Any, Any], selected: tuple[Property, ...]) -> dict[str, Any]:
        """One row (a mapping of property name to stored value) as the feed's JSON object."""
        return {p.name: p.to_json(row[p.name]) for p in selected}

    def parse_key(self, text: str) -> Any | None:
        """The stored form of a key given in a URL, or None when no row can have it."""
        if self.key.storage is Storage.UUID:
            try:
                return uuid.UUID(text)
            except ValueError:
                return None
        return text


GOALS = EntitySet(
    "Goals",
    "Goal",
    Goal,
    (
        prop(Goal.id),
        prop(Goal.code),
        prop(Goal.name),
        prop(Goal.description),
        prop(Goal.kind),
        prop(Goal.is_primary),
        prop(Goal.status),
        prop(Goal.trigger_event),
        prop(Goal.match_conditions),
        prop(Goal.value_mode),
        prop(Goal.fixed_value),
        prop(Goal.value_property),
        prop(Goal.currency),
        prop(Goal.currency_property),
        prop(Goal.base_value_property),
        prop(Goal.base_currency_property),
        prop(Goal.attribution_window_hours),
        prop(Goal.created_at),
        prop(Goal.updated_at),
    ),
)

OUTCOMES = EntitySet(
    "Outcomes",
    "Outcome",
    Outcome,
    (
        prop(Outcome.id),
        prop(Outcome.goal_code, "goal"),
        prop(Outcome.kind),
        prop(Outcome.occurred_at),
        prop(Outcome.value),
        prop(Outcome.currency),
        prop(Outcome.base_value),
        prop(Outcome.base_currency),
        prop(Outcome.base_value_source),
        prop(Outcome.fx_rate),
        prop(Outcome.fx_date),
        prop(Outcome.value_error),
        prop(Outcome.attribution),
        prop(Outcome.conversation_id),
        prop(Outcome.flow_id),
        prop(Outcome.contact_id),
        prop(Outcome.source),
    ),
)

# A conversation's path of analytics steps (SPEC §10) is a row of its own, which a chat without steps
# has not: the conversations are read joined to their paths, the path null where there is none.
STEP_PATH = Property(
    name="step_path",
    column=ConversationPath.path,
    storage=Storage.JSON,
    nullable=True,
)

CONVERSATIONS = EntitySet(
    "Conversations",
    "Conversation",
    Conversation,
    (
        prop(Conversation.id),
        prop(Conversation.started_at),
        prop(Conversation.last_activity_at),
        prop(Conversation.ended_at),
        prop(Conversation.contact_id),
        prop(Conversation.flow_id),
        STEP_PATH,
    ),
    source=outerjoin(
        Conversation,
        ConversationPath,
        and_(
            ConversationPath.workspace_id == Conversation.workspace_id,
            ConversationPath.conversation_id == Conversation.id,
        ),
    ),
)

EVENTS = EntitySet(
    "Events",
    "Event",
    Event,
    (
        prop(Event.id),
        prop(Event.event_id),
        prop(Event.name),
        prop(Event.timestamp),
        prop(Event.received_at),
        prop(Event.conversation_id),
        prop(Event.contact_id),
        prop(Event.flow_id),
        prop(Event.source),
        prop(Event.properties),
    ),
)


def _with_goal(model: type[GoalStep] | type[GoalCycle]) -> FromClause:
    """The model's rows, each with its goal's (whose code names the goal in the feed)."""
    return join(model, Goal, and_(Goal.workspace_id == model.workspace_id, Goal.id == model.goal_id))


def _text(value: str) -> ColumnElement[Any]:
    return literal_column(f"'{value}'", String())


# A step's part in its goal, as `StepType` says: the first step (position 0) starts a cycle, and is never
# a completion step (SPEC §9).
STEP_TYPE = case(
    (GoalStep.position == literal_column("0"), _text(StepType.START.value)),
    (GoalStep.completion, _text(StepType.COMPLETION.value)),
    else_=_text(StepType.STEP.value),
)

GOAL_STEPS = EntitySet(
    "GoalSteps",
    "GoalStep",
    GoalStep,
    (
        prop(GoalStep.id),
        prop(Goal.code, "goal"),
        prop(GoalStep.key),
        prop(GoalStep.name),
        prop(GoalStep.position, "order"),
        derived("type", STEP_TYPE, Storage.TEXT),
        prop(GoalStep.time_saved_seconds),
        prop(GoalStep.cost_savings),
        prop(GoalStep.revenue_earned),
        prop(GoalStep.retired),
    ),
    source=_with_goal(GoalStep),
)

GOAL_CYCLES = EntitySet(
    "GoalCycles",
    "GoalCycle",
    GoalCycle,
    (
        prop(GoalCycle.id),
        prop(Goal.code, "goal"),
        prop(GoalCycle.conversation_id),
        prop(GoalCycle.contact_id),
        prop(GoalCycle.flow_id),
        prop(GoalCycle.started_at),
        prop(GoalCycle.ended_at),
        prop(GoalCycle.state),
        prop(GoalCycle.steps_reached),
        prop(GoalCycle.time_saved_seconds),
        prop(GoalCycle.cost_savings),
        prop(GoalCycle.revenue_earned),
    ),
    source=_with_goal(GoalCycle),
)


class _ByBackend(ColumnElement[Any]):
    """An expression each backend spells its own way (JSON is read differently by each)."""

    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own protocol: the parts its cache key covers)
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], postgresql: ColumnElement[Any]) -> None:
        self.sqlite, self.postgresql, self.type = sqlite, postgresql, sqlite.type


@compiles(_ByBackend)
def _sqlite_spelling(element: _ByBackend, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.sqlite, **kw)


@compiles(_ByBackend, "postgresql")
def _postgresql_spelling(element: _ByBackend, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.postgresql, **kw)


# A cycle keeps the steps it reached in its own row: a bit of `reached` and a time in `reached_at` per
# step, by slot (`GoalCycle`). A step reached is a cycle joined to each of its goal's steps whose bit it
# holds; its id is the cycle's and the step's key, its time read out of `reached_at`, which holds it as
# SQLite holds any timestamp (UTC text; PostgreSQL reads it back as a timestamp in UTC).
_SLOT = cast(GoalStep.slot, String())
_STEP_REACHED = join(
    GoalCycle,
    GoalStep,
    and_(
        GoalStep.workspace_id == GoalCycle.workspace_id,
        GoalStep.goal_id == GoalCycle.goal_id,
        GoalCycle.reached.op("&")(literal_column("1").op("<<")(GoalStep.slot)) != literal_column("0"),
    ),
).join(Goal, and_(Goal.workspace_id == GoalCycle.workspace_id, Goal.id == GoalCycle.goal_id))
STEP_REACHED_ID = _ByBackend(
    _uuid_text(GoalCycle.id.expression, "sqlite").concat(literal_column("':'")).concat(GoalStep.key),
    _uuid_text(GoalCycle.id.expression, "postgresql").concat(literal_column("':'")).concat(GoalStep.key),
)
STEP_REACHED_AT = _ByBackend(
    type_coerce(func.json_extract(GoalCycle.reached_at, literal_column("'$.'").concat(_SLOT)), UTCDateTime()),
    type_coerce(
        cast(GoalCycle.reached_at.op("->>")(_SLOT), TIMESTAMP()).op("AT TIME ZONE")(literal_column("'UTC'")),
        UTCDateTime(),
    ),
)

GOAL_EVENTS = EntitySet(
    "GoalEvents",
    "GoalEvent",
    GoalCycle,
    (
        derived("id", STEP_REACHED_ID, Storage.TEXT),
        prop(Goal.code, "goal"),
        prop(GoalStep.key, "step"),
        prop(GoalCycle.id, "cycle_id"),
        prop(GoalCycle.conversation_id),
        derived("occurred_at", STEP_REACHED_AT, Storage.TIMESTAMP),
    ),
    source=_STEP_REACHED,
)


def _flow(column: InstrumentedAttribute[str]) -> Property:
    """A step's flow as the JSON API shows it: null for none (stored as '' in the keys)."""
    return Property(
        name="flow", column=func.nullif(column, literal_column("''")), storage=Storage.TEXT, nullable=True
    )


def _key(*parts: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """A key made of several columns' text, `:` between them; a `%` or `:` inside a part is written
    `%25` or `%3A`, so that two rows never share a key (flow `a`, step `b:c` and flow `a:b`, step `c`)."""
    escaped = [_escaped(part.expression) for part in parts]
    key = escaped[0]
    for part in escaped[1:]:
        key = key.concat(literal_column("':'")).concat(part)
    return type_coerce(key, String())


def _escaped(text: ColumnElement[Any]) -> ColumnElement[Any]:
    percent = func.replace(text, literal_column("'%'"), literal_column("'%25'"))
    return func.replace(percent, literal_column("':'"), literal_column("'%3A'"))


STEPS = EntitySet(
    "Steps",
    "Step",
    FlowStepEntry,
    (
        derived("id", _key(FlowStepEntry.flow_id, FlowStepEntry.id), Storage.TEXT),
        prop(FlowStepEntry.id, "step_id"),
        _flow(FlowStepEntry.flow_id),
        prop(FlowStepEntry.label),
        prop(FlowStepEntry.type),
        prop(FlowStepEntry.first_seen_at),
        prop(FlowStepEntry.last_seen_at),
    ),
)

EXECUTED_STEPS = EntitySet(
    "ExecutedSteps",
    "ExecutedStep",
    ExecutedStep,
    (
        derived(
            "id", _key(ExecutedStep.conversation_id, cast(ExecutedStep.position, String())), Storage.TEXT
        ),
        prop(ExecutedStep.conversation_id),
        prop(ExecutedStep.position),
        _flow(ExecutedStep.flow_id),
        prop(ExecutedStep.step_id),
        prop(ExecutedStep.parent_step_id, "parent"),
        prop(ExecutedStep.executed_at),
    ),
)

ENTITY_SETS: tuple[EntitySet, ...] = (
    GOALS,
    OUTCOMES,
    CONVERSATIONS,
    EVENTS,
    GOAL_STEPS,
    GOAL_CYCLES,
    GOAL_EVENTS,
    STEPS,
    EXECUTED_STEPS,
)
BY_NAME: dict[str, EntitySet] = {entity_set.name: entity_set for entity_set in ENTITY_SETS}
