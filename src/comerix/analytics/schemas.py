"""The shapes of the Analytics Hub's JSON answers (SPEC §6, the goals report of §9, and the analytics
steps' catalogue and path tree of §10)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from comerix.vocabulary import BaseValueSource, FlowStepType


class Money(BaseModel):
    currency: str
    value: Decimal


class FallbackAmount(BaseModel):
    currency: str = Field(description="the display currency")
    value: Decimal = Field(description="the display values summed, in that currency")
    outcomes: int


class Totals(BaseModel):
    conversations: int = Field(description="conversations started in the range (of the flow, when filtered)")
    conversions: int
    engagements: int
    custom: int
    converting_conversations: int = Field(
        description="of those conversations, the ones credited with at least one outcome of kind conversion"
    )
    conversion_rate: float = Field(description="converting_conversations / conversations, 0 without any")
    revenue: list[Money] = Field(description="sum of outcome values, per display currency")
    base_revenue: list[Money] = Field(description="sum of base values, per base currency")
    chat_driven_base_revenue: list[Money] = Field(description="base revenue attributed to a conversation")
    unattributed_base_revenue: list[Money]
    display_fallback: list[FallbackAmount] = Field(
        description="outcomes whose base value is their display value, for want of an exchange rate on "
        "their date (`base_value_source` display_fallback): their display values per currency. They "
        "are in base_revenue as they are; empty when every base value is explained"
    )


class GoalRow(BaseModel):
    goal: str
    name: str
    kind: str
    is_primary: bool
    status: str
    outcomes: int
    conversations: int = Field(description="conversations started in the range credited with this goal")
    revenue: list[Money]
    base_revenue: list[Money]


class FlowRow(BaseModel):
    flow: str | None
    outcomes: int
    conversations: int = Field(description="conversations of the flow started in the range")
    converting_conversations: int = Field(
        description="of those, the ones credited with at least one outcome of kind conversion"
    )
    conversion_rate: float = Field(description="converting_conversations / conversations, 0 without any")
    revenue: list[Money]
    base_revenue: list[Money]
    base_revenue_per_conversation: list[Money] = Field(
        description="base_revenue / conversations, per base currency, to the millionth (half even); "
        "empty without conversations"
    )


class CurrencyRow(BaseModel):
    currency: str
    outcomes: int
    revenue: Decimal


class AttributionRow(BaseModel):
    attribution: str
    outcomes: int
    base_revenue: list[Money]


class SeriesPoint(BaseModel):
    period: date = Field(description="the local date that starts the period")
    conversions: int
    engagements: int
    custom: int
    base_revenue: list[Money]


class PreviousPeriod(BaseModel):
    """The period a report is compared with: the same length, ending the day before the report's."""

    from_: date = Field(alias="from")
    to: date
    totals: Totals
    series: list[SeriesPoint] = Field(description="its periods, for a chart to lay over the report's")
    by_goal: list[GoalRow] = Field(default=[], description="its goals' figures, for each goal's change")

    model_config = {"populate_by_name": True}


class Summary(BaseModel):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    base_currency: str
    interval: str
    filters: dict[str, str | None]
    totals: Totals
    by_goal: list[GoalRow]
    by_flow: list[FlowRow]
    by_currency: list[CurrencyRow]
    by_attribution: list[AttributionRow]
    series: list[SeriesPoint]
    previous: PreviousPeriod | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="with `compare=previous`: the previous period's dates, totals and series",
    )

    model_config = {"populate_by_name": True}


# --- the goals report (SPEC §9) -------------------------------------------------------------------------


class FunnelStep(BaseModel):
    key: str
    name: str
    type: str = Field(description="start, step or completion")
    retired: bool
    reached: int = Field(description="cycles started in the range that reached this step")
    share: Decimal = Field(description="reached / started, to 4 decimal places; 0 without cycles")
    drop_off: int = Field(
        description="cycles not completed whose last step reached, in the goal's current order, is this one"
    )


class CyclePoint(BaseModel):
    period: date = Field(description="the local date that starts the period")
    incomplete: int
    partial: int
    completed: int


class GoalCycles(BaseModel):
    goal: str
    name: str
    status: str
    is_primary: bool
    started: int = Field(description="cycles started in the range (local days)")
    incomplete: int
    partial: int
    completed: int
    completion_rate: Decimal = Field(description="completed / started, to 4 decimal places; 0 without cycles")
    time_saved_seconds: int = Field(description="summed over partial and completed cycles")
    cost_savings: Decimal = Field(description="base currency, summed over partial and completed cycles")
    revenue_earned: Decimal = Field(description="base currency, summed over partial and completed cycles")
    funnel: list[FunnelStep]
    series: list[CyclePoint]


class GoalsReport(BaseModel):
    from_: date = Field(alias="from")
    to: date
    timezone: str
    base_currency: str
    interval: str
    filters: dict[str, str | None]
    goals: list[GoalCycles]

    model_config = {"populate_by_name": True}


class StepRead(BaseModel):
    id: str
    flow: str | None
    label: str = Field(description="the latest label the events sent")
    type: FlowStepType
    executions: int = Field(description="in the range")
    conversations: int = Field(description="conversations that executed it for the first time in the range")
    last_seen: datetime


class StepCatalogue(BaseModel):
    range: str
    steps: list[StepRead]


class PathNodeRead(BaseModel):
    step: str | None = Field(description="the step's id; null for the node that folds the rest")
    label: str
    conversations: int
    share: Decimal = Field(description="of the parent's conversations (of all counted, for a root)")
    drop_off: int = Field(description="conversations whose path ends here")
    children: list[PathNodeRead]


class PathsReport(BaseModel):
    from_: date = Field(alias="from")
    to: date
    direction: str
    start: str | None
    contains: str | None
    flow: str | None
    conversations: int = Field(description="conversations counted, once filtered")
    nodes: list[PathNodeRead]

    model_config = {"populate_by_name": True}


class ConversationRow(BaseModel):
    id: str
    started_at: datetime
    last_activity_at: datetime
    contact_id: str | None
    flow_id: str | None
    events: int
    steps: int = Field(description="analytics steps executed")
    outcomes: list[str] = Field(description="the codes of the goals credited to the conversation")
    step_path: list[str] = Field(description="the labels of its first steps, in order")


class ConversationsPage(BaseModel):
    conversations: list[ConversationRow]
    next: str | None = Field(description="the cursor of the next page, null on the last")


class EventEntry(BaseModel):
    type: Literal["event"] = "event"
    at: datetime
    name: str
    event_id: str | None
    properties: dict[str, Any]


class StepEntry(BaseModel):
    type: Literal["step"] = "step"
    at: datetime
    step_id: str
    label: str
    position: int
    parent: str | None


class OutcomeEntry(BaseModel):
    type: Literal["outcome"] = "outcome"
    at: datetime
    goal: str
    kind: str
    value: Decimal | None
    currency: str | None
    base_value: Decimal | None
    base_currency: str | None
    base_value_source: BaseValueSource | None = Field(description="how the base value was found (SPEC §11)")
    fx_rate: Decimal | None = Field(description="with `rate`: units of `currency` per unit of the base")
    fx_date: date | None = Field(description="with `rate`: the date of that rate")
    attribution: str
    credited: bool = Field(description="whether the outcome is credited to this conversation")


class CycleEntry(BaseModel):
    type: Literal["cycle"] = "cycle"
    at: datetime
    goal: str
    state: str
    steps_reached: int
    ended_at: datetime | None


class ConversationDetail(BaseModel):
    id: str
    started_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    contact_id: str | None
    flow_id: str | None
    events: int
    steps: int
    timeline: list[EventEntry | StepEntry | OutcomeEntry | CycleEntry] = Field(description="in time order")
