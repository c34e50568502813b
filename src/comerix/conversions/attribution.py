"""Which chat gets the credit for an outcome: the pure choice of SPEC §3.

- `conversation`: the event names its conversation; credited to it and its flow, whatever the window.
- `window`: no conversation, but a contact. Candidates are the contact's conversations that started
  no later than the outcome and whose last activity is no earlier than `window` hours before it (both
  ends inclusive). The one that started last wins (ties: the greater conversation id, so the choice
  is stable). A conversation still going on at the outcome's time is a candidate: it was active
  within the window.
- `none`: no candidate, or no contact. The outcome is still recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class AttributionKind(StrEnum):
    CONVERSATION = "conversation"
    WINDOW = "window"
    NONE = "none"


@dataclass(frozen=True)
class Candidate:
    conversation_id: str
    flow_id: str | None
    started_at: datetime
    last_activity_at: datetime


@dataclass(frozen=True)
class Attribution:
    kind: AttributionKind
    conversation_id: str | None = None
    flow_id: str | None = None


NOT_ATTRIBUTED = Attribution(AttributionKind.NONE)


def window_start(at: datetime, window: timedelta) -> datetime:
    """`window` before `at`; the earliest time there is when that would be before year 1. The API
    refuses such times (SPEC §4), but the arithmetic must not fail on one that gets this far."""
    try:
        return at - window
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC if at.tzinfo is not None else None)


def is_candidate(candidate: Candidate, at: datetime, window: timedelta) -> bool:
    return candidate.started_at <= at and candidate.last_activity_at >= window_start(at, window)


def choose(candidates: Iterable[Candidate], at: datetime, window_hours: int) -> Candidate | None:
    """The conversation that gets the credit for an outcome at `at`, or None."""
    window = timedelta(hours=window_hours)
    eligible = [c for c in candidates if is_candidate(c, at, window)]
    if not eligible:
        return None
    return max(eligible, key=lambda c: (c.started_at, c.conversation_id))


def attribute(
    *,
    conversation: Candidate | None,
    contact_candidates: Iterable[Candidate],
    at: datetime,
    window_hours: int,
) -> Attribution:
    """The attribution of one outcome. `conversation` is the event's own conversation, if it named one."""
    if conversation is not None:
        return Attribution(AttributionKind.CONVERSATION, conversation.conversation_id, conversation.flow_id)
    chosen = choose(contact_candidates, at, window_hours)
    if chosen is None:
        return NOT_ATTRIBUTED
    return Attribution(AttributionKind.WINDOW, chosen.conversation_id, chosen.flow_id)
