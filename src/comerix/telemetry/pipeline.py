"""Ingestion as a list of stages over one group of batches, in the caller's transaction (SPEC §4).

The group-commit writer hands over every batch of one transaction at once. They are split by
workspace, and each workspace's batches go through the stages together as one `Group`: one look-up,
one INSERT per table and rollup deltas summed over the group, while each batch keeps its own answer
(`Recorded`, then `answer`). A stage is a function from the group to the group with what it adds:

    validate → dedupe → conversation → (conversation rollups) → store_conversations → steps → match
    → cycles → (cycle rollups) → value → attribute → record → persist → (outcome rollups)
    → (step rollups) → catalogue

The list is `comerix.ingestion.STAGES`: telemetry's stages (`telemetry.stages`, `telemetry.steps`,
`telemetry.cycles`, `telemetry.catalogue`) and, in their places, those of the packages above it, which
telemetry must not import (docs/architecture.md). To add a stage, give `Group` a field for what it
adds, write the function, and put it in that list.

A batch refused whole (an unknown goal code or step key: `Invalid`) stores nothing and leaves the
others alone; an item that records nothing says why with a `Rejection`. Batches of one group are
taken in the order they arrived: an event id sent twice is stored for the earlier batch and is a
duplicate in the later.

What needs no database may be worked out ahead, in the serving process (`telemetry.batches.prepare`);
the stages consult each batch's `Prepared` as a cache, so a batch never prepared takes the same path.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from comerix.conversions.attribution import Attribution, Candidate
from comerix.conversions.records import OutcomeRecord
from comerix.conversions.valuation import Valuation
from comerix.db.bulk import Codec
from comerix.errors import DomainError, Invalid
from comerix.goals.index import GoalIndex, GoalSpec, WorkspaceGoals
from comerix.rates.book import RateBook
from comerix.rates.service import RATES, revision_of
from comerix.telemetry.batches import Batch
from comerix.telemetry.schemas import IngestResult, Item, ItemResult, OutcomeRead
from comerix.vocabulary import CycleState, FlowStepType
from comerix.workspaces.models import Workspace

CONVERSATION_ENDED = "conversation_ended"  # the event that says when a conversation ended


class Rejection(StrEnum):
    """Why an item of an accepted batch records nothing."""

    DUPLICATE = "duplicate"  # its event_id was stored before
    GOAL_PAUSED = "goal_paused"  # it names a paused goal
    GOAL_ARCHIVED = "goal_archived"  # it names an archived goal

    def reason(self, item: Item) -> str | None:
        """What the answer says of it (a duplicate needs no words)."""
        if self is Rejection.DUPLICATE:
            return None
        status = "paused" if self is Rejection.GOAL_PAUSED else "archived"
        return f"goal {item.goal_code!r} is {status}; it records nothing"


ItemRef = tuple[int, int]
"""An item of a group: its batch's position in the group, and its index in that batch."""


@dataclass(frozen=True, slots=True)
class Terms:
    """The workspace's settings that ingestion applies."""

    workspace_id: uuid.UUID
    base_currency: str
    timezone: str
    rates: RateBook  # its rates, to convert display values into base values (SPEC §11)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An item stored as a new event (`dedupe`): the only items the later stages see."""

    item: Item
    batch: int  # its batch's position in the group
    row_id: Any  # its row id, in the codec's terms


@dataclass(frozen=True, slots=True)
class Match:
    """A goal an event achieves (`match`): one outcome to be. A multi-step goal's completion
    (`telemetry.cycles`) comes with the conversation of its cycle as its credit, which `attribute`
    takes as it is, and with its outcome's id, named ahead for the cycle's row."""

    event: StoredEvent
    goal: GoalSpec
    credit: Attribution | None = None
    outcome_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a conversation stands: when it started, and its flow."""

    started_at: datetime
    flow_id: str | None


@dataclass(frozen=True, slots=True)
class ConversationChange:
    """A conversation the group created (`before` is None) or whose start or flow it changed."""

    conversation_id: str
    before: Place | None
    after: Place


class CycleTally(msgspec.Struct, frozen=True, gc=False):
    """What a cycle of a multi-step goal counts for in reports: its state, the steps it reached (a bit
    per step slot) and its metrics (0 while incomplete). A msgspec Struct, as `CycleChange`: ingestion
    makes a few for every cycle it moves, and a Struct costs less to make than a dataclass."""

    state: CycleState
    reached: int
    time_saved_seconds: int
    cost_savings: Decimal
    revenue_earned: Decimal


class CycleChange(msgspec.Struct, frozen=True, gc=False):
    """A cycle the group opened (`before` is None) or moved on; the rollups move it from `before` to
    `after` under the local day it started and its flow."""

    goal_id: uuid.UUID
    started_at: datetime
    flow_id: str | None
    before: CycleTally | None
    after: CycleTally


class PathChange(msgspec.Struct, frozen=True, gc=False):
    """A conversation whose path of first analytics steps the group started (`before` is None) or
    lengthened; the path rollups move it under the local day of its first step and that step's flow."""

    first_step_at: datetime
    flow_id: str  # '' for none
    before: tuple[str, ...] | None
    after: tuple[str, ...]


class StepCount(msgspec.Struct, gc=False):
    """What the group's events did with one analytics step (by flow and id) on one UTC day: how often
    it was executed, by how many conversations for the first time, its latest label, and when it was
    first and last executed."""

    executions: int
    conversations: int
    label: str
    type: FlowStepType
    labelled_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime


class ChatSeen:
    """What the group's events say of one conversation: when first and last active, when it ended,
    the first contact and flow named, and its events (how many, and their row ids as 32 hex digits, in
    time order: the conversation keeps them for its timeline)."""

    __slots__ = ("contact_id", "ended_at", "events", "first", "flow_id", "last")

    def __init__(self, at: datetime) -> None:
        self.first = self.last = at
        self.ended_at: datetime | None = None
        self.contact_id: str | None = None
        self.flow_id: str | None = None
        self.events: list[str] = []

    def saw(self, item: Item, ref: str) -> None:
        self.last = item.timestamp
        self.contact_id = self.contact_id or item.contact_id
        self.flow_id = self.flow_id or item.flow_id
        self.events.append(ref)
        if item.name == CONVERSATION_ENDED:
            self.ended_at = item.timestamp


@dataclass(frozen=True)
class Chats:
    """The conversations the group's events name, as they stand once it is stored (`standing`, by id),
    those it creates (`created`: no outcome has credited them yet), those it moves (`changes`), and
    what its events say of them and of their contacts."""

    standing: Mapping[str, Candidate] = field(default_factory=dict)
    created: frozenset[str] = frozenset()
    changes: tuple[ConversationChange, ...] = ()
    seen: Mapping[str, ChatSeen] = field(default_factory=dict)  # what to store of each
    contacts: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)  # first, last seen
    contact_of: Mapping[str, str | None] = field(default_factory=dict)  # each one's contact, as it stands


@dataclass(frozen=True)
class Group:
    """One workspace's batches on their way through the stages, and what each stage added.

    `value` and `attribute` add one entry per match, in the order of `matches`."""

    session: Session
    codec: Codec  # the group's own: it remembers the times it wrote
    terms: Terms
    goals: WorkspaceGoals
    batches: tuple[Batch, ...]
    refused: Mapping[int, Invalid] = field(default_factory=dict)  # validate: batches refused whole
    explicit: Mapping[ItemRef, GoalSpec] = field(default_factory=dict)  # validate: goals items name
    rejected: Mapping[ItemRef, Rejection] = field(default_factory=dict)  # validate, dedupe
    stored: tuple[StoredEvent, ...] = ()  # dedupe
    chats: Chats = field(default_factory=Chats)  # conversation
    matches: tuple[Match, ...] = ()  # match
    valuations: tuple[Valuation, ...] = ()  # value
    credits: tuple[Attribution, ...] = ()  # attribute
    outcomes: tuple[OutcomeRecord, ...] = ()  # record
    cycle_changes: tuple[CycleChange, ...] = ()  # cycles: those of multi-step goals opened or moved on
    # cycles: the contact's conversations read for an item with no conversation, by the window (hours)
    # they were read for, so that `attribute` need not read them again
    looked_up: Mapping[ItemRef, Mapping[int, Sequence[Candidate]]] = field(default_factory=dict)
    path_changes: tuple[PathChange, ...] = ()  # steps: the conversations whose path of steps grew
    step_counts: Mapping[tuple[date, str, str], StepCount] = field(default_factory=dict)  # steps: by
    # (UTC day, flow, step id)

    def accepted(self) -> list[tuple[int, Batch]]:
        """The batches not refused whole, with their positions."""
        return [
            (position, batch) for position, batch in enumerate(self.batches) if position not in self.refused
        ]


Stage = Callable[[Group], Group]
"""A stage: the group in, the group with what the stage adds out."""


# --- running the stages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What the stages stored of one batch: the group-commit writer process sends it back over its pipe,
    and the serving process writes the answer from it and the batch (`answer`).

    It crosses the pipe as msgspec JSON (`__reduce__`) rather than pickled: pickle rebuilds each UUID,
    time and amount of each outcome as an object, and the writer process, which sets the pace, would pay
    for it (docs/benchmarks.md). JSON, unlike MessagePack, keeps each time's offset."""

    rejected: dict[int, Rejection]  # by item index
    outcomes: dict[int, tuple[OutcomeRecord, ...]]  # by item index, for the items that achieved any

    @property
    def duplicates(self) -> int:
        return sum(reason is Rejection.DUPLICATE for reason in self.rejected.values())

    def __reduce__(self) -> tuple[Callable[[bytes], Recorded], tuple[bytes]]:
        return _recorded_from_wire, (_WIRE_ENCODER.encode(self),)


def _recorded_from_wire(data: bytes) -> Recorded:
    return _WIRE_DECODER.decode(data)


_WIRE_ENCODER = msgspec.json.Encoder()
_WIRE_DECODER = msgspec.json.Decoder(Recorded)


_WORKSPACE = select(
    Workspace.base_currency, Workspace.timezone, Workspace.goals_revision, revision_of(Workspace.id)
).where(Workspace.id == bindparam("workspace"))


def ingest(session: Session, batch: Batch, index: GoalIndex, stages: Sequence[Stage]) -> IngestResult:
    """Run one batch through `stages`. Raises `Invalid` (nothing written) for an unknown goal code."""
    (answered,) = ingest_group(session, [batch], index, stages)
    if isinstance(answered, DomainError):
        raise answered
    return answered


def ingest_group(
    session: Session, batches: list[Batch], index: GoalIndex, stages: Sequence[Stage]
) -> list[IngestResult | DomainError]:
    """Run `batches` through `stages` together; for each, its answer or why it was refused whole."""
    recorded = record_group(session, batches, index, stages)
    return [
        answer(batch, done) if isinstance(done, Recorded) else done
        for batch, done in zip(batches, recorded, strict=True)
    ]


def record_group(
    session: Session, batches: list[Batch], index: GoalIndex, stages: Sequence[Stage]
) -> list[Recorded | DomainError]:
    """`ingest_group` short of the answers: for each batch, what was recorded, or why it was refused."""
    answers: dict[int, Recorded | DomainError] = {}
    workspaces: dict[uuid.UUID, list[int]] = defaultdict(list)
    for position, batch in enumerate(batches):
        workspaces[batch.workspace_id].append(position)
    for workspace_id, positions in workspaces.items():
        group = start(session, workspace_id, [batches[p] for p in positions], index)
        for stage in stages:
            group = stage(group)
        answers.update(zip(positions, results_of(group), strict=True))
    return [answers[position] for position in range(len(batches))]


def start(session: Session, workspace_id: uuid.UUID, batches: list[Batch], index: GoalIndex) -> Group:
    """The group of `batches` (all of `workspace_id`) before any stage: the workspace's terms and goals."""
    base_currency, timezone, revision, rates_revision = (
        session.connection().execute(_WORKSPACE, {"workspace": workspace_id}).one()
    )
    rates = RATES.for_workspace(session, workspace_id, base_currency, timezone, rates_revision)
    return Group(
        session=session,
        codec=Codec(session.get_bind().dialect.name),
        terms=Terms(workspace_id, base_currency, timezone, rates),
        goals=index.for_workspace(session, workspace_id, revision),
        batches=tuple(batches),
    )


def results_of(group: Group) -> list[Recorded | DomainError]:
    """For each batch of the group, in order: what was recorded of it, or why it was refused."""
    rejected: list[dict[int, Rejection]] = [{} for _ in group.batches]
    for (position, index), reason in group.rejected.items():
        rejected[position][index] = reason
    outcomes: list[dict[int, list[OutcomeRecord]]] = [defaultdict(list) for _ in group.batches]
    for match, outcome in zip(group.matches, group.outcomes, strict=True):
        outcomes[match.event.batch][match.event.item.index].append(outcome)
    return [
        group.refused.get(position)
        or Recorded(rejected[position], {index: tuple(found) for index, found in outcomes[position].items()})
        for position in range(len(group.batches))
    ]


def answer(batch: Batch, recorded: Recorded) -> IngestResult:
    """The 202 answer to `batch`: per item in order, what was recorded of it (SPEC §4)."""
    results = []
    for item in batch.items:
        rejection = recorded.rejected.get(item.index)
        results.append(
            ItemResult(
                index=item.index,
                event_id=item.event_id,
                status="accepted"
                if rejection is None
                else "duplicate"
                if rejection is Rejection.DUPLICATE
                else "ignored",
                reason=None if rejection is None else rejection.reason(item),
                outcomes=[OutcomeRead.of(outcome) for outcome in recorded.outcomes.get(item.index, ())],
            )
        )
    accepted = sum(result.status == "accepted" for result in results)
    return IngestResult(accepted=accepted, duplicates=recorded.duplicates, results=results)


def stored_events(group: Group) -> Mapping[int, list[StoredEvent]]:
    """The group's new events by their batch's position."""
    found: dict[int, list[StoredEvent]] = defaultdict(list)
    for event in group.stored:
        found[event.batch].append(event)
    return found
