"""The closed sets and sizes that several packages name: a goal's kind, status and value mode, where an
event came from, how long a client's id may be, the ranges of recent days the Event Explorer and the
goal preview look back over.

They sit at the bottom of the dependency order (docs/architecture.md), with no import of their own, so
that pure modules (valuation, the outcome record) and every package above can use them without loading
the database layer.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

CLIENT_ID_LENGTH = 128
"""The longest id a client may send: event, conversation, contact and flow ids."""


class GoalKind(StrEnum):
    CONVERSION = "conversion"
    ENGAGEMENT = "engagement"
    CUSTOM = "custom"


class GoalStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class ValueMode(StrEnum):
    NONE = "none"
    FIXED = "fixed"
    FROM_PROPERTY = "from_property"


class CycleState(StrEnum):
    """Where a cycle of a multi-step goal stands (SPEC §9)."""

    INCOMPLETE = "incomplete"  # only the start step
    PARTIAL = "partial"  # the start step and at least one other, no completion
    COMPLETED = "completed"  # a completion step closed it


class StepType(StrEnum):
    """A step's part in its goal: the first step starts a cycle, a completion step closes it."""

    START = "start"
    STEP = "step"
    COMPLETION = "completion"


class FlowStepType(StrEnum):
    """What an analytics step of a flow marks (SPEC §10): a point of the flow, or an intent recognised."""

    NODE = "node"
    INTENT = "intent"


FLOW_STEP_LABEL_LENGTH = 128
"""The longest label (and id) of an analytics step."""

MAX_STEPS = 20
"""The most steps a multi-step goal holds, retired ones included (a step is never deleted)."""


class BaseValueSource(StrEnum):
    """How an outcome's base value was found (SPEC §11)."""

    EVENT = "event"  # the event sent it
    SAME_CURRENCY = "same_currency"  # the display currency is the base currency
    RATE = "rate"  # converted with an exchange rate (`fx_rate`, `fx_date`)
    DISPLAY_FALLBACK = "display_fallback"  # no rate known: the display value taken as is


class Source(StrEnum):
    """Which Engine API route an event came through."""

    WIDGET = "widget"  # POST /events
    SERVER = "server"  # POST /conversions


# How far back from now the Event Explorer and the goal preview look, by arrival. (No docstring: it
# would become the description of the `Range` schema in the OpenAPI document.)
class Range(StrEnum):
    D7 = "7d"
    D30 = "30d"
    D90 = "90d"

    @property
    def span(self) -> timedelta:
        return timedelta(days=int(self.value.removesuffix("d")))
