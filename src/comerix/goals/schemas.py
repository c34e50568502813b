"""Input and output shapes of goals, with every field rule of SPEC §1.

Field rules live in the types below; the rules that tie fields together (what each value mode needs)
live in `value_mode_problems`, which names the field at fault.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from comerix.errors import FieldProblem
from comerix.goals.models import RevisionAction
from comerix.money import AMOUNT_RANGE, MAX_DECIMALS, in_range, kept_amount
from comerix.text import no_nul
from comerix.vocabulary import GoalKind, GoalStatus, ValueMode
from comerix.workspaces.schemas import CurrencyCode

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_MATCH_CONDITIONS = 20
MAX_PATH_LENGTH = 255
MAX_CONDITION_STRING = 1000
DEFAULT_WINDOW_HOURS = 168


def check_code(value: str) -> str:
    if not CODE_PATTERN.match(value):
        raise ValueError(
            "must start with a lowercase letter and hold only lowercase letters, digits and underscores, "
            "64 characters at most (for example product_purchase)"
        )
    return value


def check_property_path(value: str) -> str:
    if not value or len(value) > MAX_PATH_LENGTH:
        raise ValueError(f"must be 1 to {MAX_PATH_LENGTH} characters")
    if any(segment == "" for segment in value.split(".")):
        raise ValueError(
            "must not start or end with a dot, nor hold two dots in a row (order.plan reads "
            "properties['order']['plan'])"
        )
    if any(ord(char) < 32 for char in value):
        raise ValueError("must not hold control characters")
    return value


def check_scalar(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        raise ValueError(
            "must be a string, number, boolean or null: nested objects and lists are not allowed"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if isinstance(value, str) and len(value) > MAX_CONDITION_STRING:
        raise ValueError(f"must be at most {MAX_CONDITION_STRING} characters")
    if isinstance(value, str):
        no_nul(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("must be a string, number, boolean or null")
    return value


def check_fixed_value(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if not in_range(value):
        raise ValueError(f"must be in the accepted range {AMOUNT_RANGE}")
    # `decimal_places` does not count trailing zeros, which PostgreSQL refuses beyond 16,383 places.
    kept = kept_amount(value)
    if kept is None:
        raise ValueError(f"must have at most {MAX_DECIMALS} decimal places")
    return kept


GoalCode = Annotated[str, AfterValidator(check_code)]
GoalName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(no_nul)
]
Description = Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(no_nul)]
PropertyPath = Annotated[str, AfterValidator(check_property_path)]
Scalar = Annotated[Any, AfterValidator(check_scalar)]
MatchConditions = Annotated[dict[PropertyPath, Scalar], Field(max_length=MAX_MATCH_CONDITIONS)]
FixedValue = Annotated[Decimal, Field(decimal_places=6), AfterValidator(check_fixed_value)]
WindowHours = Annotated[int, Field(ge=1, le=8760)]


class GoalDefinition(BaseModel):
    """Everything about a goal that its author decides, except its code."""

    model_config = ConfigDict(extra="forbid")

    name: GoalName
    description: Description | None = None
    kind: GoalKind
    is_primary: StrictBool = False
    trigger_event: EventName
    match_conditions: MatchConditions = Field(default_factory=dict)
    value_mode: ValueMode = ValueMode.NONE
    fixed_value: FixedValue | None = None
    value_property: PropertyPath | None = None
    currency: CurrencyCode | None = None
    currency_property: PropertyPath | None = None
    base_value_property: PropertyPath | None = None
    base_currency_property: PropertyPath | None = None
    attribution_window_hours: WindowHours = DEFAULT_WINDOW_HOURS


class GoalCreate(GoalDefinition):
    code: GoalCode


class GoalPreviewRequest(GoalDefinition):
    """A goal to try before saving: the body of a create; its code, if sent, is not checked."""

    code: str | None = None


class GoalUpdate(BaseModel):
    """A partial change: only the fields sent are changed. Read-only fields may be sent unchanged."""

    model_config = ConfigDict(extra="forbid")

    name: GoalName | None = None
    description: Description | None = None
    kind: GoalKind | None = None
    is_primary: StrictBool | None = None
    trigger_event: EventName | None = None
    match_conditions: MatchConditions | None = None
    value_mode: ValueMode | None = None
    fixed_value: FixedValue | None = None
    value_property: PropertyPath | None = None
    currency: CurrencyCode | None = None
    currency_property: PropertyPath | None = None
    base_value_property: PropertyPath | None = None
    base_currency_property: PropertyPath | None = None
    attribution_window_hours: WindowHours | None = None
    # Read-only: accepted only when equal to the stored value, so a fetched goal can be sent back whole.
    code: str | None = None
    id: str | None = None
    status: GoalStatus | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


READ_ONLY_FIELDS = ("code", "id", "status", "created_at", "updated_at")
MODE_FIELDS: dict[str, ValueMode] = {
    "fixed_value": ValueMode.FIXED,
    "value_property": ValueMode.FROM_PROPERTY,
}


def value_mode_problems(definition: GoalDefinition, explicit: set[str]) -> list[FieldProblem]:
    """What the chosen value mode lacks, and which mode-specific fields were sent for another mode.

    A mode-specific field that the client did not send in this request (it came from the stored goal)
    is cleared by the caller instead of refused.
    """
    problems = []
    if definition.value_mode is ValueMode.FIXED and definition.fixed_value is None:
        problems.append(FieldProblem("fixed_value", "is required when value_mode is fixed"))
    if definition.value_mode is ValueMode.FROM_PROPERTY and definition.value_property is None:
        problems.append(FieldProblem("value_property", "is required when value_mode is from_property"))
    for field_name, mode in MODE_FIELDS.items():
        if (
            field_name in explicit
            and getattr(definition, field_name) is not None
            and definition.value_mode is not mode
        ):
            problems.append(
                FieldProblem(
                    field_name,
                    f"is only used when value_mode is {mode.value}; "
                    f"value_mode is {definition.value_mode.value}",
                )
            )
    return problems


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: GoalStatus


class GoalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    code: str
    name: str
    description: str | None
    kind: GoalKind
    is_primary: bool
    status: GoalStatus
    trigger_event: str
    match_conditions: dict[str, Any]
    value_mode: ValueMode
    fixed_value: Decimal | None
    value_property: str | None
    currency: str | None
    currency_property: str | None
    base_value_property: str | None
    base_currency_property: str | None
    attribution_window_hours: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, goal: Any) -> GoalRead:
        return cls.model_validate({**_columns(goal), "id": str(goal.id)})


class GoalList(BaseModel):
    goals: list[GoalRead]


class Actor(BaseModel):
    user_id: str | None
    email: str


class GoalRevisionRead(BaseModel):
    id: str
    action: RevisionAction
    at: datetime
    actor: Actor
    changes: dict[str, Any] = Field(description='{field: {"from": old, "to": new}}, values as in GoalRead')


class GoalHistory(BaseModel):
    goal: str
    history: list[GoalRevisionRead]


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def definition_fields() -> tuple[str, ...]:
    return tuple(GoalDefinition.model_fields)
