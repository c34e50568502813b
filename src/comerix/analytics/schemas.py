"""The shapes of the Analytics Hub's JSON answers (SPEC §6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class Money(BaseModel):
    currency: str
    value: Decimal


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
    conversations: int
    revenue: list[Money]
    base_revenue: list[Money]


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

    model_config = {"populate_by_name": True}
