"""Input and output shapes of goals, with every field rule of SPEC §1 and §9 (multi-step goals).

Field rules live in the types below; the rules that tie fields together (what each value mode needs, a
trigger or steps, how steps fit together) live in `definition_problems`, which names the field at fault
(`steps[2].key`, as pydantic's own problems with a step are named too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from comerix.errors import FieldProblem
from comerix.goals.models import GoalStep, RevisionAction
from comerix.money import AMOUNT_RANGE, MAX_DECIMALS, in_range, kept_amount
from comerix.text import no_nul
from comerix.vocabulary import MAX_STEPS, GoalKind, GoalStatus, StepType, ValueMode
from comerix.workspaces.schemas import CurrencyCode

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_MATCH_CONDITIONS = 20
MAX_PATH_LENGTH = 255
MAX_CONDITION_STRING = 1000
DEFAULT_WINDOW_HOURS = 168
MIN_STEPS = 2
MAX_TIME_SAVED = 10**9
"""The most seconds one step may save (about 31 years): sums over many cycles stay far inside 64 bits."""


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
StepKey = Annotated[str, AfterValidator(check_code)]  # a step's key follows the pattern of a goal's code
TimeSaved = Annotated[int, Field(ge=0, le=MAX_TIME_SAVED)]
StepAmount = Annotated[Decimal, Field(ge=0, decimal_places=6), AfterValidator(check_fixed_value)]


def step_type(position: int, completion: bool) -> StepType:
    """A step's part in its goal: the first one starts a cycle, whatever its `completion` says."""
    if position == 0:
        return StepType.START
    return StepType.COMPLETION if completion else StepType.STEP


class StepDefinition(BaseModel):
    """One step of a multi-step goal (SPEC §9), as its author writes it. Its place in `steps` is its
    order; `type` and `position`, which a fetched goal shows, may be sent back if they agree with it."""

    model_config = ConfigDict(extra="forbid")

    key: StepKey = Field(description="unique in its goal and immutable: it names the step for good")
    name: GoalName
    description: Description | None = None
    trigger_event: EventName
    match_conditions: MatchConditions = Field(default_factory=dict)
    completion: StrictBool = Field(
        False, description="reaching it completes the cycle; never the first step, the start step"
    )
    time_saved_seconds: TimeSaved = 0
    cost_savings: StepAmount = Field(Decimal(0), description="in the workspace's base currency")
    revenue_earned: StepAmount = Field(Decimal(0), description="in the workspace's base currency")
    retired: StrictBool = Field(
        False, description="a retired step matches nothing new and keeps its history; steps are never deleted"
    )
    type: StepType | None = Field(None, description="read-only: follows from the place and `completion`")
    position: int | None = Field(None, description="read-only: the step's place in `steps`, from 0")


Steps = Annotated[list[StepDefinition], Field(max_length=MAX_STEPS)]
STEP_FIELDS = frozenset(StepDefinition.model_fields) - {"key", "type", "position"}
"""What an edit may change of a stored step: all but its key (immutable) and what its place decides."""


class GoalDefinition(BaseModel):
    """Everything about a goal that its author decides, except its code."""

    model_config = ConfigDict(extra="forbid")

    name: GoalName
    description: Description | None = None
    kind: GoalKind
    is_primary: StrictBool = False
    trigger_event: EventName | None = Field(None, description="a single-step goal's trigger; null with steps")
    match_conditions: MatchConditions = Field(default_factory=dict)
    steps: Steps = Field(
        default_factory=list,
        description=f"a multi-step goal's steps in order, {MIN_STEPS} to {MAX_STEPS} (retired ones "
        "included), the first being the start step; empty for a single-step goal",
    )
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
    steps: Steps | None = Field(
        None,
        description="the whole new list of steps, in order: a stored step is found by its key (keys "
        "never change), a new key adds a step, a stored key left out is refused (retire it instead)",
    )
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


def definition_problems(definition: GoalDefinition, explicit: set[str]) -> list[FieldProblem]:
    """Every rule that ties a goal's fields together: its value mode's, and its shape's (SPEC §9)."""
    return value_mode_problems(definition, explicit) + shape_problems(definition)


def shape_problems(definition: GoalDefinition) -> list[FieldProblem]:
    """A goal has a trigger (single-step) or steps (multi-step), never both nor neither."""
    if not definition.steps:
        if definition.trigger_event is None:
            return [FieldProblem("trigger_event", "is required (or steps, for a multi-step goal)")]
        return []
    problems = []
    if definition.trigger_event is not None:
        problems.append(
            FieldProblem("trigger_event", "must be null when the goal has steps: each step has its own")
        )
    if definition.match_conditions:
        problems.append(
            FieldProblem("match_conditions", "must be empty when the goal has steps: each step has its own")
        )
    return problems + step_problems(definition.steps)


def step_problems(steps: Sequence[StepDefinition]) -> list[FieldProblem]:
    """How a multi-step goal's steps must fit together (each step's own fields are checked already)."""
    problems = []
    if len(steps) < MIN_STEPS:
        problems.append(FieldProblem("steps", f"must hold {MIN_STEPS} to {MAX_STEPS} steps"))
    first_at: dict[str, int] = {}
    for index, step in enumerate(steps):
        at = f"steps[{index}]"
        if step.key in first_at:
            problems.append(FieldProblem(f"{at}.key", f"is already the key of steps[{first_at[step.key]}]"))
        first_at.setdefault(step.key, index)
        if step.position is not None and step.position != index:
            problems.append(
                FieldProblem(f"{at}.position", f"is read-only: it is the step's place in steps ({index})")
            )
        kind = step_type(index, step.completion)
        if step.type is not None and step.type is not kind:
            problems.append(
                FieldProblem(
                    f"{at}.type",
                    f"is read-only: the first step starts, and completion decides the others ({kind.value})",
                )
            )
    start = steps[0]
    if start.completion:
        problems.append(
            FieldProblem("steps[0].completion", "must be false: the first step is the start step")
        )
    if start.retired:
        problems.append(
            FieldProblem(
                "steps[0].retired",
                "must be false: the start step cannot be retired (put another step first, or pause the goal)",
            )
        )
    if not any(step.completion and not step.retired for step in steps[1:]):
        problems.append(FieldProblem("steps", "need a completion step, not retired, after the start step"))
    return problems


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: GoalStatus


class StepRead(BaseModel):
    """A step as the API shows it: money as decimal strings in the workspace's base currency."""

    key: str
    name: str
    description: str | None
    trigger_event: str
    match_conditions: dict[str, Any]
    completion: bool
    type: StepType
    time_saved_seconds: int
    cost_savings: Decimal
    revenue_earned: Decimal
    retired: bool
    position: int

    @classmethod
    def of(cls, step: GoalStep) -> StepRead:
        return cls.model_validate(
            {name: getattr(step, name) for name in cls.model_fields if name != "type"}
            | {"type": step_type(step.position, step.completion)}
        )


class GoalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    code: str
    name: str
    description: str | None
    kind: GoalKind
    is_primary: bool
    status: GoalStatus
    trigger_event: str | None = Field(description="null for a multi-step goal")
    match_conditions: dict[str, Any]
    steps: list[StepRead] = Field(
        description="a multi-step goal's steps in order; empty for a single-step one"
    )
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
    def of(cls, goal: Any, steps: Sequence[GoalStep] = ()) -> GoalRead:
        """`goal` with its `steps`, which a multi-step goal must be given (`service.steps_of`)."""
        ordered = sorted(steps, key=lambda step: step.position)
        return cls.model_validate(
            {**_columns(goal), "id": str(goal.id), "steps": [StepRead.of(step) for step in ordered]}
        )


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
