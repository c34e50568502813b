"""The Engine API's input and output shapes, and the pure checks of SPEC §4 on each item.

`parse_events` / `parse_conversions` turn a decoded JSON body into items, or raise `Invalid` listing
every problem as `{index, field, message}`; nothing of a refused batch goes further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from comerix.conversions.records import OutcomeRecord
from comerix.errors import FieldProblem, Invalid, problems_from_pydantic
from comerix.text import json_bytes, no_nul, nul_free_json, path_deeper_than, valid_unicode
from comerix.vocabulary import (
    CLIENT_ID_LENGTH,
    FLOW_STEP_LABEL_LENGTH,
    MAX_STEPS,
    BaseValueSource,
    FlowStepType,
    GoalKind,
    Source,
)

MAX_BATCH = 500
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_NESTING = 8
LONE_SURROGATE = "must not contain a lone surrogate (\\ud800 to \\udfff without its pair): it is no character"
MAX_FUTURE = timedelta(minutes=5)
# The earliest time accepted (SPEC §4): no chat platform's event is older, and with it every time stored,
# and every attribution window reaching back from one, stays far inside what each backend represents.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")

ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=CLIENT_ID_LENGTH), AfterValidator(no_nul)
]
EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=CLIENT_ID_LENGTH), AfterValidator(no_nul)
]
StepKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def _label(value: str) -> str:
    """A step's label: no NUL, and no space to start or end it (one check: it runs for every step)."""
    if value != value.strip():
        raise ValueError("must not start or end with a space")
    return no_nul(value)


class StepIn(BaseModel):
    """An analytics step the event marks (SPEC §10): what a designer sees in the Step Explorer."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[
        str,
        StringConstraints(min_length=1, max_length=FLOW_STEP_LABEL_LENGTH),
        AfterValidator(_label),
    ]
    type: FlowStepType = FlowStepType.NODE
    id: ClientId | None = Field(default=None, description="a stable id for the step; default: its label")


class _ItemFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: ClientId | None = None
    timestamp: str | None = Field(default=None, description="RFC 3339 with offset; default: time received")
    conversation_id: ClientId | None = None
    contact_id: ClientId | None = None
    flow_id: ClientId | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    step: StepIn | None = None


class EventIn(_ItemFields):
    name: EventName


class ConversionIn(_ItemFields):
    event: EventName | None = Field(default=None, description="an event name, matched like telemetry")
    goal: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="a goal code, recorded directly without trigger matching"
    )
    steps: list[StepKey] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STEPS,
        description="with `goal`, a multi-step goal: the keys of the steps reached, in the order reached",
    )


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class ConversionBatch(BaseModel):
    conversions: list[ConversionIn] = Field(min_length=1, max_length=MAX_BATCH)


@dataclass(frozen=True)
class Item:
    """One validated event or conversion, ready for the pipeline."""

    index: int
    source: Source
    name: str
    timestamp: datetime
    event_id: str | None
    conversation_id: str | None
    contact_id: str | None
    flow_id: str | None
    properties: dict[str, Any]
    goal_code: str | None = None  # a conversion that names its goal: recorded without matching
    properties_json: str | None = None  # the properties serialised once, as they are stored
    steps: tuple[str, ...] | None = None  # with `goal_code`: the keys of the steps reached, in order
    step: FlowStep | None = None  # the analytics step the event marks


class FlowStep(msgspec.Struct, frozen=True, gc=False):
    """An analytics step as an event marks it: `id` identifies it in its flow, `label` may change. A
    msgspec Struct: a batch crosses to the writer process pickled, and a Struct pickles and unpickles
    faster than a dataclass (docs/benchmarks.md, 2026-12-07, evening)."""

    id: str
    label: str
    type: FlowStepType


def _deeper_than(value: Any, limit: int) -> bool:
    """True when `value` nests objects or lists more than `limit` levels deep (stops at the first)."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    if limit == 0:
        return True
    return any(isinstance(item, dict | list) and _deeper_than(item, limit - 1) for item in value)


def _timestamp(raw: str | None, now: datetime, index: int, problems: list[FieldProblem]) -> datetime:
    if raw is None:
        return now
    if not RFC3339.match(raw):
        problems.append(
            FieldProblem("timestamp", "must be RFC 3339 with an offset, e.g. 2026-11-21T10:00:00Z", index)
        )
        return now
    try:
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        problems.append(FieldProblem("timestamp", "is not a real date and time", index))
        return now
    if moment - now > MAX_FUTURE:
        problems.append(FieldProblem("timestamp", "is more than 5 minutes in the future", index))
        return now
    if moment < EARLIEST:
        problems.append(
            FieldProblem("timestamp", "is before 2000-01-01T00:00:00Z, the earliest accepted", index)
        )
        return now
    return moment


def _properties(properties: dict[str, Any], index: int, problems: list[FieldProblem]) -> str:
    """The properties serialised (what is stored), after checking size, nesting and characters."""
    try:
        serialised = orjson.dumps(properties)
    except orjson.JSONEncodeError:
        # orjson refuses an integer beyond 64 bits (written exactly by the standard library, below), more
        # than 255 levels (which the standard library would follow until its recursion limit, so the
        # bounded walk decides first) and a lone surrogate, which is no character (and no UTF-8).
        if _deeper_than(properties, MAX_NESTING):
            problems.append(FieldProblem("properties", f"nests deeper than {MAX_NESTING} levels", index))
            return ""
        if not valid_unicode(properties):
            problems.append(FieldProblem("properties", LONE_SURROGATE, index))
            return ""
        serialised = json_bytes(properties)
    size = len(serialised)
    if size > MAX_PROPERTIES_BYTES:
        problems.append(FieldProblem("properties", f"is {size} bytes serialized; at most 16 KiB", index))
    # Each level of nesting opens a bracket, so fewer brackets than levels allowed settle it at once
    # (a bracket inside a string only adds to the count); only a document with more is walked.
    brackets = serialised.count(b"{") + serialised.count(b"[")
    if brackets > MAX_NESTING and _deeper_than(properties, MAX_NESTING):
        problems.append(FieldProblem("properties", f"nests deeper than {MAX_NESTING} levels", index))
    if b"\\u0000" in serialised and not nul_free_json(properties):
        problems.append(FieldProblem("properties", "must not contain the NUL character (\\u0000)", index))
    return serialised.decode()


def _items(raw: Any, plural: str) -> list[Any]:
    if isinstance(raw, dict) and plural in raw:
        items = raw[plural]
        if not isinstance(items, list):
            raise Invalid.of([FieldProblem(plural, "must be a list", None)])
        if not 1 <= len(items) <= MAX_BATCH:
            raise Invalid.of([FieldProblem(plural, f"must hold 1 to {MAX_BATCH} items (got {len(items)})")])
        return items
    if isinstance(raw, dict):
        return [raw]
    raise Invalid.of([FieldProblem("body", f'must be one object or {{"{plural}": [...]}}')])


def _parse(raw: Any, plural: str, model: type[_ItemFields], source: Source, now: datetime) -> list[Item]:
    problems: list[FieldProblem] = []
    items: list[Item] = []
    for index, entry in enumerate(_items(raw, plural)):
        try:
            fields = model.model_validate(entry)
        except ValidationError as exc:
            problems.extend(
                FieldProblem(_indexed(p.field), p.message, index)
                for p in problems_from_pydantic(exc.errors())
            )
            continue
        name, goal_code = _name_of(fields, index, problems)
        moment = _timestamp(fields.timestamp, now, index, problems)
        properties_json = _properties(fields.properties, index, problems)
        items.append(
            Item(
                index=index,
                source=source,
                name=name,
                timestamp=moment,
                event_id=fields.event_id,
                conversation_id=fields.conversation_id,
                contact_id=fields.contact_id,
                flow_id=fields.flow_id,
                properties=fields.properties,
                goal_code=goal_code,
                properties_json=properties_json,
                steps=_steps_of(fields, index, problems),
                step=_step_of(fields.step),
            )
        )
    if problems:
        raise Invalid.of(problems)
    return items


def _indexed(field: str) -> str:
    """A field of a list's item named as the API names it: `steps.2` → `steps[2]`."""
    name, _, rest = field.partition(".")
    position, _, tail = rest.partition(".")
    if not position.isdigit():
        return field
    return f"{name}[{position}]" + (f".{tail}" if tail else "")


def _steps_of(fields: _ItemFields, index: int, problems: list[FieldProblem]) -> tuple[str, ...] | None:
    """The steps an item names: only with `goal` (whether that goal has them is the pipeline's check)."""
    if not isinstance(fields, ConversionIn) or fields.steps is None:
        return None
    if fields.goal is None:
        problems.append(
            FieldProblem("steps", "`steps` goes with `goal`, the code of a multi-step goal", index)
        )
        return None
    return tuple(fields.steps)


def _step_of(step: StepIn | None) -> FlowStep | None:
    if step is None:
        return None
    return FlowStep(step.label if step.id is None else step.id, step.label, step.type)


def _name_of(fields: _ItemFields, index: int, problems: list[FieldProblem]) -> tuple[str, str | None]:
    if isinstance(fields, EventIn):
        return fields.name, None
    assert isinstance(fields, ConversionIn)
    if (fields.event is None) == (fields.goal is None):
        problems.append(
            FieldProblem(
                "event", "give exactly one of `event` (an event name) or `goal` (a goal code)", index
            )
        )
        return "", None
    if fields.goal is not None:
        return f"goal:{fields.goal}", fields.goal
    return str(fields.event), None


# The deepest a body the API accepts can nest: `{"events": [{"properties": ...}]}` around the properties.
_DEEPEST_BODY = 3 + MAX_NESTING


def nested_too_deep(body: bytes | bytearray, plural: str) -> Invalid:
    """The refusal of a body nested deeper than the JSON parsers follow (a thousand levels or so): the
    item and field where it first nests deeper than any body the API accepts, as parsing would say."""
    path = path_deeper_than(body, _DEEPEST_BODY) or []
    index = 0
    if len(path) > 2 and path[0] == plural and isinstance(path[1], int):  # a batch: on by item and field
        index, field = path[1], path[2]
        if isinstance(field, int):
            return Invalid.of([FieldProblem(plural, "each item must be an object", index)])
    elif path and isinstance(path[0], str):
        field = path[0]
    else:  # the body is an array
        return Invalid.of([FieldProblem("body", f'must be one object or {{"{plural}": [...]}}', None)])
    if field == "properties":
        return Invalid.of([FieldProblem(field, f"nests deeper than {MAX_NESTING} levels", index)])
    # Any other field holds no array or object at all; the name is the client's, told back only as text.
    name = field.encode(errors="replace").decode()[:CLIENT_ID_LENGTH]
    return Invalid.of([FieldProblem(name, "nests arrays or objects where none belong", index)])


def parse_events(raw: Any, now: datetime) -> list[Item]:
    """The items of a `POST /events` body, or `Invalid` with every problem."""
    return _parse(raw, "events", EventIn, Source.WIDGET, now)


def parse_conversions(raw: Any, now: datetime) -> list[Item]:
    """The items of a `POST /conversions` body, or `Invalid` with every problem."""
    return _parse(raw, "conversions", ConversionIn, Source.SERVER, now)


# The 202 answer. Plain dataclasses rather than pydantic models: the writer builds one per item of every
# batch, from values it made itself, so there is nothing to validate and no reason to pay for it on every
# item; `IngestResult.to_json` writes exactly what pydantic would (a test holds it to that).


@dataclass(slots=True)
class OutcomeRead:
    """An outcome as the API shows it: the public part of `OutcomeRecord`, the goal by its code."""

    id: str
    goal: str
    kind: GoalKind
    occurred_at: datetime
    value: Decimal | None
    currency: str | None
    base_value: Decimal | None
    base_currency: str | None
    base_value_source: BaseValueSource | None
    fx_rate: Decimal | None
    fx_date: date | None
    value_error: str | None
    attribution: str
    conversation_id: str | None
    flow_id: str | None
    contact_id: str | None
    source: Source

    @classmethod
    def of(cls, outcome: OutcomeRecord) -> OutcomeRead:
        return cls(
            id=str(outcome.id),
            goal=outcome.goal_code,
            kind=outcome.kind,
            occurred_at=outcome.occurred_at,
            value=outcome.value,
            currency=outcome.currency,
            base_value=outcome.base_value,
            base_currency=outcome.base_currency,
            base_value_source=outcome.base_value_source,
            fx_rate=outcome.fx_rate,
            fx_date=outcome.fx_date,
            value_error=outcome.value_error,
            attribution=outcome.attribution.value,
            conversation_id=outcome.conversation_id,
            flow_id=outcome.flow_id,
            contact_id=outcome.contact_id,
            source=outcome.source,
        )


@dataclass(slots=True)
class ItemResult:
    index: int
    event_id: str | None
    status: Annotated[str, Field(description="accepted, duplicate or ignored")]
    reason: str | None = None
    outcomes: list[OutcomeRead] = dataclass_field(default_factory=list)


@dataclass(slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    results: list[ItemResult]

    def to_json(self) -> bytes:
        """The answer's JSON: decimals as strings, times in RFC 3339 with `Z` for UTC."""
        return orjson.dumps(self, default=_decimal_text, option=orjson.OPT_UTC_Z)


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of an ingestion answer")
