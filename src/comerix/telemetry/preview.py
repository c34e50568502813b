"""Try a goal before saving it: which stored events it would have matched, what each would be worth,
and the closest misses with the conditions that failed.

Matching here is the very function ingestion uses (`goals.matching`), run over the events of the
trigger name that arrived in the range, the latest first (an index range scan), so a preview can
never disagree with ingestion. At most `SCAN_LIMIT` events are read; `truncated` says when there were more.

It reads stored events, so it lives with telemetry, above goals and conversions whose rules it applies.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.conversions.valuation import valuate
from comerix.goals.matching import MISSING, failures, read_path
from comerix.goals.rules import ValueRule
from comerix.goals.schemas import GoalDefinition
from comerix.telemetry.explorer import arrivals
from comerix.telemetry.models import Event, EventNameDay
from comerix.vocabulary import Range

SCAN_LIMIT = 50_000
SAMPLES = 10
MISSES = 5


class PreviewEvent(BaseModel):
    id: str
    event_id: str | None
    timestamp: datetime
    conversation_id: str | None
    contact_id: str | None
    properties: dict[str, Any]


class PreviewMatch(BaseModel):
    event: PreviewEvent
    value: Decimal | None
    currency: str | None
    base_value: Decimal | None
    base_currency: str | None
    value_error: str | None


class FailedCondition(BaseModel):
    key: str
    expected: Any
    actual: Any = Field(description="the event's value at that path; absent when the path is missing")
    missing: bool


class PreviewMiss(BaseModel):
    event: PreviewEvent
    failed: list[FailedCondition]


class GoalPreview(BaseModel):
    range: Range
    trigger_event: str
    scanned: int = Field(description="events of the trigger name in the range that were examined")
    matched: int
    truncated: bool = Field(description="true when the range held more events than were examined")
    samples: list[PreviewMatch]
    closest_misses: list[PreviewMiss]
    similar_names: list[str] = Field(description="event names that differ only in case, when none match")


def preview(
    session: Session,
    workspace_id: uuid.UUID,
    goal: GoalDefinition,
    range_: Range,
    *,
    base_currency: str,
    now: datetime,
) -> GoalPreview:
    query = arrivals(workspace_id, now - range_.span, goal.trigger_event).limit(SCAN_LIMIT + 1)
    rows = session.scalars(query).all()
    truncated = len(rows) > SCAN_LIMIT
    rows = rows[:SCAN_LIMIT]
    rule = ValueRule.of(goal)
    matched = 0
    samples: list[PreviewMatch] = []
    misses: list[tuple[int, Event, list[str]]] = []
    for row in rows:
        failed = failures(goal.match_conditions, row.properties)
        if not failed:
            matched += 1
            if len(samples) < SAMPLES:
                samples.append(_match(row, rule, base_currency))
        else:
            misses.append((len(failed), row, failed))
    misses.sort(key=lambda miss: miss[0])  # stable: among equals, the newest stays first
    return GoalPreview(
        range=range_,
        trigger_event=goal.trigger_event,
        scanned=len(rows),
        matched=matched,
        truncated=truncated,
        samples=samples,
        closest_misses=[_miss(row, goal, failed) for _, row, failed in misses[:MISSES]],
        similar_names=[] if rows else _similar_names(session, workspace_id, goal.trigger_event),
    )


def _event(row: Event) -> PreviewEvent:
    return PreviewEvent(
        id=str(row.id),
        event_id=row.event_id,
        timestamp=row.timestamp,
        conversation_id=row.conversation_id,
        contact_id=row.contact_id,
        properties=row.properties,
    )


def _match(row: Event, rule: ValueRule, base_currency: str) -> PreviewMatch:
    valuation = valuate(rule, row.properties, base_currency)
    return PreviewMatch(
        event=_event(row),
        value=valuation.value,
        currency=valuation.currency,
        base_value=valuation.base_value,
        base_currency=valuation.base_currency,
        value_error=valuation.value_error,
    )


def _miss(row: Event, goal: GoalDefinition, failed: list[str]) -> PreviewMiss:
    conditions = []
    for key in failed:
        actual = read_path(row.properties, key)
        conditions.append(
            FailedCondition(
                key=key,
                expected=goal.match_conditions[key],
                actual=None if actual is MISSING else actual,
                missing=actual is MISSING,
            )
        )
    return PreviewMiss(event=_event(row), failed=conditions)


def _similar_names(session: Session, workspace_id: uuid.UUID, name: str) -> list[str]:
    found = session.scalars(
        select(EventNameDay.name)
        .distinct()
        .where(
            EventNameDay.workspace_id == workspace_id,
            func.lower(EventNameDay.name) == name.lower(),
            EventNameDay.name != name,
        )
        .limit(5)
    )
    return sorted(found)
