"""The cycles of one multi-step goal in one conversation, as a pure state machine (SPEC §9).

Given the cycle open for the goal and the conversation (or none) and the steps the conversation's
events reached, in the order they arrived, `advance` says which cycles were opened or moved on, which
steps count (and in which cycle), and which completed a cycle (each records one outcome):

- the start step opens a cycle when none is open; with one open it counts nowhere, since a step counts
  once per cycle (a step the open cycle has not reached, which only a reordering of the steps can
  leave as the start step, is added as any other step);
- another step is added to the open cycle, in any order, once; with none open it counts nowhere;
- a completion step added to the open cycle closes it, `completed`;
- the steps one event reached are taken in step order, the completion last (`in_step_order`), so an
  event reaching the start and a completion both opens and completes a cycle.

A cycle's metrics are the sums over the distinct steps it reached, each at its worth when reached;
they count for `partial` and `completed` cycles only (`Cycle.counted`).

The records are msgspec Structs rather than dataclasses: ingestion makes several for every step an
event reaches, and a Struct costs less to make than a frozen dataclass (docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from comerix.vocabulary import CycleState

E = TypeVar("E")


class Worth(msgspec.Struct, frozen=True, gc=False):
    """What reaching a step is worth (or a cycle's sum of it): time saved, cost saved, revenue earned."""

    time_saved_seconds: int = 0
    cost_savings: Decimal = Decimal(0)
    revenue_earned: Decimal = Decimal(0)

    def __add__(self, other: Worth) -> Worth:
        return Worth(
            self.time_saved_seconds + other.time_saved_seconds,
            self.cost_savings + other.cost_savings,
            self.revenue_earned + other.revenue_earned,
        )


NOTHING = Worth()


class Reach(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """A step of the goal that one event reached; `event` is the caller's, handed back untouched."""

    event: E
    slot: int  # the step's bit in a cycle's `reached` mask
    position: int  # its place in the goal's order: 0 is the start step
    completion: bool
    at: datetime  # the event's own time
    worth: Worth

    @property
    def start(self) -> bool:
        return self.position == 0


class Cycle(msgspec.Struct, frozen=True, gc=False):
    """One cycle: when it started, when its latest step was reached, when it was completed (None while
    open), the steps reached (a bit per slot, and how many), and their worth whatever the state."""

    id: uuid.UUID
    started_at: datetime
    last_step_at: datetime
    ended_at: datetime | None
    reached: int
    steps_reached: int
    worth: Worth

    @property
    def state(self) -> CycleState:
        if self.ended_at is not None:
            return CycleState.COMPLETED
        return CycleState.PARTIAL if self.steps_reached > 1 else CycleState.INCOMPLETE

    @property
    def counted(self) -> Worth:
        """The metrics the cycle counts for: nothing while incomplete."""
        return NOTHING if self.state is CycleState.INCOMPLETE else self.worth


class Moved(msgspec.Struct, frozen=True, gc=False):
    """A cycle opened (`before` is None) or moved on, as it was and as it is."""

    before: Cycle | None
    after: Cycle


class Counted(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """A step that counts, in the cycle it counts in (its id)."""

    reach: Reach[E]
    cycle_id: uuid.UUID


class Progress(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """What `advance` made of the steps reached."""

    moved: tuple[Moved, ...]  # each cycle opened or moved on, in the order first touched
    counted: tuple[Counted[E], ...]  # the steps that count, in the order reached
    completed: tuple[Counted[E], ...]  # the completion steps that closed a cycle: one outcome each
    open: Cycle | None  # the cycle left open


def may_count(seen: set[int], slot: int, start: bool, completion: bool) -> bool:
    """Whether a step reached may still count, given `seen`: the slots reached (in one conversation, of
    one goal) since its last start or completion step, which this updates. A step reached again with
    neither in between cannot count, whichever cycle was open the first time (or none): the same one is
    open now, and holds it. Ingestion leaves such steps out before `advance` (chats send the same events
    many times), which changes nothing of what `advance` makes of the rest."""
    if start or completion:
        seen.clear()
        return True
    if slot in seen:
        return False
    seen.add(slot)
    return True


def in_step_order(reaches: Iterable[Reach[E]]) -> list[Reach[E]]:
    """The steps one event reached, as they apply: in step order, the completion steps last."""
    return sorted(reaches, key=lambda reach: (reach.completion, reach.position))


def advance(
    open_cycle: Cycle | None, reaches: Sequence[Reach[E]], new_id: Callable[[], uuid.UUID]
) -> Progress[E]:
    """The cycles of one goal in one conversation after `reaches` (in arrival order), from the cycle
    open before them (`open_cycle`, or None); `new_id` names the cycles opened."""
    current = open_cycle
    before: dict[uuid.UUID, Cycle | None] = {}
    after: dict[uuid.UUID, Cycle] = {}
    counted: list[Counted[E]] = []
    completed: list[Counted[E]] = []
    for reach in reaches:
        bit = 1 << reach.slot
        ended = reach.at if reach.completion else None
        if current is None:
            if not reach.start:
                continue
            current = Cycle(new_id(), reach.at, reach.at, ended, bit, 1, reach.worth)
            before[current.id] = None
        elif current.reached & bit:
            continue
        else:
            before.setdefault(current.id, current)
            current = Cycle(  # spelt out rather than `replace`d: this runs for every step reached
                current.id,
                current.started_at,
                max(current.last_step_at, reach.at),
                ended,
                current.reached | bit,
                current.steps_reached + 1,
                current.worth + reach.worth,
            )
        step = Counted(reach, current.id)
        counted.append(step)
        after[current.id] = current
        if ended is not None:
            completed.append(step)
            current = None
    return Progress(
        moved=tuple(Moved(before[cycle_id], cycle) for cycle_id, cycle in after.items()),
        counted=tuple(counted),
        completed=tuple(completed),
        open=current,
    )
