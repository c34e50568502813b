"""Try a goal before saving it: which stored events it would have matched, what each would be worth,
and the closest misses with the conditions that failed.

Matching here is the very function ingestion uses (`goals.matching`), run over the events of the
trigger name that arrived in the range, the latest first (an index range scan), so a preview can
never disagree with ingestion. At most `SCAN_LIMIT` events are read; `truncated` says when there were more.

A multi-step goal is tried step by step, each step's trigger and conditions alone (`steps`): which
events each step would have matched, not how cycles would have formed. Its steps share `SCAN_LIMIT`,
and steps with one trigger share its events.

It reads stored events, so it lives with telemetry, above goals and conversions whose rules it applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.conversions.valuation import valuate
from comerix.goals.matching import MISSING, failures, read_path
from comerix.goals.rules import ValueRule
from comerix.goals.schemas import GoalDefinition, step_type
from comerix.rates.book import RateBook
from comerix.rates.service import RATES, revision_of
from comerix.telemetry.explorer import EventFilter, arrivals
from comerix.telemetry.models import Event, EventNameDay
from comerix.vocabulary import BaseValueSource, Range, StepType, ValueMode
from comerix.workspaces.models import Workspace

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
    base_value_source: BaseValueSource | None = Field(
        description="how the base value would be found: event, same_currency, rate or display_fallback"
    )
    fx_rate: Decimal | None = Field(description="with `rate`: units of the currency per unit of the base")
    fx_date: date | None = Field(description="with `rate`: the date of the rate's quote")
    value_error: str | None


class FailedCondition(BaseModel):
    key: str
    expected: Any
    actual: Any = Field(description="the event's value at that path; absent when the path is missing")
    missing: bool


class PreviewMiss(BaseModel):
    event: PreviewEvent
    failed: list[FailedCondition]


class StepPreview(BaseModel):
    """What one step of a multi-step goal, alone, would have matched."""

    key: str
    name: str
    type: StepType
    retired: bool = Field(description="a retired step matches nothing: it is listed, not tried")
    trigger_event: str
    scanned: int = Field(description="events of the step's trigger name in the range that were examined")
    matched: int
    truncated: bool = Field(description="true when the range held more events than were examined")
    samples: list[PreviewMatch] = Field(
        description="the latest matches; valued by the goal's value rule on a completion step (which "
        "records the outcome), without a value on the others"
    )
    closest_misses: list[PreviewMiss]
    similar_names: list[str] = Field(description="event names that differ only in case, when none match")


class GoalPreview(BaseModel):
    range: Range
    trigger_event: str | None = Field(description="null for a multi-step goal: see `steps`")
    scanned: int = Field(
        description="events of the trigger name in the range that were examined (a multi-step goal: "
        "the sum over its steps)"
    )
    matched: int = Field(description="a multi-step goal: the sum over its steps")
    truncated: bool = Field(
        description="true when the range held more events than were examined (a multi-step goal: for "
        "any of its steps)"
    )
    samples: list[PreviewMatch] = Field(description="empty for a multi-step goal: see `steps`")
    closest_misses: list[PreviewMiss] = Field(description="empty for a multi-step goal: see `steps`")
    similar_names: list[str] = Field(description="event names that differ only in case, when none match")
    steps: list[StepPreview] = Field(
        default_factory=list,
        description="a multi-step goal's steps in order, each tried alone; empty for a single-step goal",
    )


@dataclass(frozen=True)
class _Trial:
    """What one trigger and its conditions matched among the events of the range."""

    scanned: int
    matched: int
    truncated: bool
    samples: list[PreviewMatch]
    closest_misses: list[PreviewMiss]
    similar_names: list[str]


_NOT_TRIED = _Trial(0, 0, False, [], [], [])


def preview(
    session: Session,
    workspace_id: uuid.UUID,
    goal: GoalDefinition,
    range_: Range,
    *,
    base_currency: str,
    now: datetime,
) -> GoalPreview:
    tried = {step.trigger_event for step in goal.steps if not step.retired}
    rows = _Rows(session, workspace_id, now - range_.span, max(1, len(tried)))
    terms = _Terms.of(session, workspace_id, base_currency)
    if goal.trigger_event is not None:
        trial = _try(rows, goal.trigger_event, goal.match_conditions, ValueRule.of(goal), terms)
        return GoalPreview(range=range_, trigger_event=goal.trigger_event, **vars(trial))
    steps = []
    no_value = ValueRule(ValueMode.NONE)
    for position, step in enumerate(goal.steps):
        rule = ValueRule.of(goal) if step.completion else no_value
        trial = (
            _NOT_TRIED if step.retired else _try(rows, step.trigger_event, step.match_conditions, rule, terms)
        )
        steps.append(
            StepPreview(
                key=step.key,
                name=step.name,
                type=step_type(position, step.completion),
                retired=step.retired,
                trigger_event=step.trigger_event,
                **vars(trial),
            )
        )
    return GoalPreview(
        range=range_,
        trigger_event=None,
        scanned=sum(step.scanned for step in steps),
        matched=sum(step.matched for step in steps),
        truncated=any(step.truncated for step in steps),
        samples=[],
        closest_misses=[],
        similar_names=[],
        steps=steps,
    )


class _Rows:
    """The events of each trigger name in the range, read once per name; `names` names share
    `SCAN_LIMIT` between them."""

    def __init__(self, session: Session, workspace_id: uuid.UUID, since: datetime, names: int) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.since = since
        self.limit = SCAN_LIMIT // names
        self._read: dict[str, tuple[list[Event], bool]] = {}

    def of(self, name: str) -> tuple[list[Event], bool]:
        """The latest events named `name` (at most the limit), and whether there were more."""
        if name not in self._read:
            query = arrivals(self.workspace_id, self.since, EventFilter(name=name)).limit(self.limit + 1)
            rows = list(self.session.scalars(query).all())
            self._read[name] = (rows[: self.limit], len(rows) > self.limit)
        return self._read[name]


@dataclass(frozen=True)
class _Terms:
    """What valuing a sample takes, as ingestion would value it: the base currency and the rates."""

    base_currency: str
    rates: RateBook

    @classmethod
    def of(cls, session: Session, workspace_id: uuid.UUID, base_currency: str) -> _Terms:
        timezone, revision = session.execute(
            select(Workspace.timezone, revision_of(Workspace.id)).where(Workspace.id == workspace_id)
        ).one()
        return cls(
            base_currency, RATES.for_workspace(session, workspace_id, base_currency, timezone, revision)
        )


def _try(rows_of: _Rows, name: str, conditions: Mapping[str, Any], rule: ValueRule, terms: _Terms) -> _Trial:
    rows, truncated = rows_of.of(name)
    matched = 0
    samples: list[PreviewMatch] = []
    misses: list[tuple[int, Event, list[str]]] = []
    for row in rows:
        failed = failures(conditions, row.properties)
        if not failed:
            matched += 1
            if len(samples) < SAMPLES:
                samples.append(_match(row, rule, terms))
        else:
            misses.append((len(failed), row, failed))
    misses.sort(key=lambda miss: miss[0])  # stable: among equals, the newest stays first
    return _Trial(
        scanned=len(rows),
        matched=matched,
        truncated=truncated,
        samples=samples,
        closest_misses=[_miss(row, conditions, failed) for _, row, failed in misses[:MISSES]],
        similar_names=[] if rows else _similar_names(rows_of.session, rows_of.workspace_id, name),
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


def _match(row: Event, rule: ValueRule, terms: _Terms) -> PreviewMatch:
    valuation = valuate(rule, row.properties, terms.base_currency, terms.rates, row.timestamp)
    return PreviewMatch(
        event=_event(row),
        value=valuation.value,
        currency=valuation.currency,
        base_value=valuation.base_value,
        base_currency=valuation.base_currency,
        base_value_source=valuation.base_value_source,
        fx_rate=valuation.fx_rate,
        fx_date=valuation.fx_date,
        value_error=valuation.value_error,
    )


def _miss(row: Event, conditions: Mapping[str, Any], failed: list[str]) -> PreviewMiss:
    shown = []
    for key in failed:
        actual = read_path(row.properties, key)
        shown.append(
            FailedCondition(
                key=key,
                expected=conditions[key],
                actual=None if actual is MISSING else actual,
                missing=actual is MISSING,
            )
        )
    return PreviewMiss(event=_event(row), failed=shown)


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
