"""Output shapes of contacts: the profile of SPEC §7 and what an erasure removed. Money is exact Decimal,
written in JSON as a decimal string."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from comerix.conversions.attribution import AttributionKind
from comerix.vocabulary import BaseValueSource, CycleState, GoalKind, Source

PROFILE_CYCLES = 100
"""The most cycles a profile lists (the newest): a contact may go through a goal in every chat."""
PROFILE_OUTCOMES = 100
"""The most outcomes a profile lists (the newest); `goals` counts them all."""


class Amount(BaseModel):
    currency: str
    value: Decimal


class ContactConversation(BaseModel):
    id: str
    started_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    flow_id: str | None


class ContactGoal(BaseModel):
    goal: str = Field(description="the goal's code")
    name: str
    kind: GoalKind
    count: int
    first_completed_at: datetime
    last_completed_at: datetime
    base_value: list[Amount] = Field(description="the outcomes' base values summed per base currency")


class ContactOutcome(BaseModel):
    """One of the contact's outcomes: what it was worth, how its base value was found (SPEC §11), and
    the conversation it is credited to (a sale reported by the shop's backend names the chat the
    attribution window picked)."""

    id: str
    goal: str = Field(description="the goal's code")
    name: str = Field(description="the goal's name")
    kind: GoalKind
    occurred_at: datetime
    value: Decimal | None
    currency: str | None
    base_value: Decimal | None
    base_currency: str | None
    base_value_source: BaseValueSource | None
    fx_rate: Decimal | None = Field(description="with `rate`: units of `currency` per unit of the base")
    fx_date: date | None = Field(description="with `rate`: the date of that rate")
    value_error: str | None
    attribution: AttributionKind
    conversation_id: str | None = Field(description="the conversation credited with it")
    source: Source


class ContactCycle(BaseModel):
    """One cycle of a multi-step goal (SPEC §9) in one of the contact's conversations."""

    id: str
    goal: str = Field(description="the goal's code")
    name: str = Field(description="the goal's name")
    conversation_id: str
    flow_id: str | None
    state: CycleState
    started_at: datetime
    ended_at: datetime | None = Field(description="when a completion step closed it")
    steps: list[str] = Field(description="the keys of the steps reached, in the goal's current order")
    steps_reached: int
    time_saved_seconds: int = Field(description="the steps' sums, counted once the cycle is partial")
    cost_savings: Decimal = Field(description="in the workspace's base currency")
    revenue_earned: Decimal = Field(description="in the workspace's base currency")


class ContactProfile(BaseModel):
    contact_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    conversations: list[ContactConversation] = Field(description="newest first")
    goals: list[ContactGoal] = Field(description="primary goals first, then by name")
    outcomes: list[ContactOutcome] = Field(
        description=f"the contact's outcomes, newest first, at most {PROFILE_OUTCOMES}"
    )
    cycles: list[ContactCycle] = Field(
        description=f"the cycles of multi-step goals in the contact's conversations, newest first, at most "
        f"{PROFILE_CYCLES}"
    )


class ErasureResult(BaseModel):
    contact_id: str
    events_deleted: int
    conversations_deleted: int
    outcomes_anonymised: int
