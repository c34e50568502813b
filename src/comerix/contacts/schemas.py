"""Output shapes of contacts: the profile of SPEC §7 and what an erasure removed. Money is exact Decimal,
written in JSON as a decimal string."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from comerix.vocabulary import GoalKind


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


class ContactProfile(BaseModel):
    contact_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    conversations: list[ContactConversation] = Field(description="newest first")
    goals: list[ContactGoal] = Field(description="primary goals first, then by name")


class ErasureResult(BaseModel):
    contact_id: str
    events_deleted: int
    conversations_deleted: int
    outcomes_anonymised: int
