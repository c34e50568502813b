"""The cycles of one multi-step goal in one conversation, as a pure state machine (SPEC §9).

Given the cycle open for the goal and the conversation (or none) and the steps the conversation's
events reached, in the order they arrived, `advance` says which cycles were opened or moved on, which
steps count (and in which cycle), and which completed a cycle (each records one outcome):

- the start step opens a cycle when none is open; with one open it counts nowhere, since a step counts
  once per cycle (a step the open cycle has not reached, which only a reordering of the steps can
  leave as the start step, is added as any other step);
- another step is added to the open cycle, in any order, once; with none open it counts nowhere;
- a completion step added to the open cycle closes it, `completed`;
- the steps one event reached are taken in step order, the completion last (`in_step_order`; matching
  gives a goal's steps in that order, `goals.index.applies_before`), so an event reaching the start
  and a completion both opens and completes a cycle.

A cycle's metrics are the sums over the distinct steps it reached, each at its worth when reached;
they count for `partial` and `completed` cycles only (`Cycle.counted`).

The records are msgspec Structs rather than dataclasses: ingestion makes a `Reach` for every step that
can count and a `Cycle` and a `Run` for every cycle it moves, and a Struct costs less to make than a
frozen dataclass (docs/benchmarks.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
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


class Run(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """A cycle opened (`before` is None) or moved on, as it was and as it is, and the steps that count
    in it, in the order reached: the last is the completion that closed it, if it closed."""

    before: Cycle | None
    after: Cycle
    reaches: tuple[Reach[E], ...]

    @property
    def completion(self) -> Reach[E] | None:
        """The step that completed the cycle (its one outcome), or None while it stays open."""
        return self.reaches[-1] if self.after.ended_at is not None else None


class Counted(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """A step that counts, in the cycle it counts in (its id)."""

    reach: Reach[E]
    cycle_id: uuid.UUID


class Progress(msgspec.Struct, Generic[E], frozen=True, gc=False):
    """What `advance` made of the steps reached: each cycle opened or moved on, in the order first
    touched (a cycle is touched by one stretch of the steps: it stays open until it completes, and
    the next opens after), and the cycle left open."""

    runs: tuple[Run[E], ...]
    open: Cycle | None

    @property
    def counted(self) -> tuple[Counted[E], ...]:
        """The steps that count, in the order reached."""
        return tuple(Counted(reach, run.after.id) for run in self.runs for reach in run.reaches)

    @property
    def completed(self) -> tuple[Counted[E], ...]:
        """The completion steps that closed a cycle: one outcome each."""
        return tuple(Counted(done, run.after.id) for run in self.runs if (done := run.completion))


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
    """The steps one event reached, as they apply: in step order, the completion steps last, the order
    `goals.index.applies_before` gives a goal's steps (ingestion gets them so from matching; the tests
    put steps in order with this). Its key is spelt out again here, not imported: `goals.index` loads
    the database layer, and this module stays pure (`test_layers`)."""
    return sorted(reaches, key=lambda reach: (reach.completion, reach.position))


def advance(
    open_cycle: Cycle | None, reaches: Sequence[Reach[E]], new_id: Callable[[], uuid.UUID]
) -> Progress[E]:
    """The cycles of one goal in one conversation after `reaches` (in arrival order), from the cycle
    open before them (`open_cycle`, or None); `new_id` names the cycles opened.

    The cycle being moved on is kept in locals and made a `Cycle` once, when its stretch of steps
    ends: this runs for every (conversation, goal) a group moves, and is the stage's own cost
    (docs/benchmarks.md). `tests/unit/test_cycles.py` holds it to the rules step by step."""
    runs: list[Run[E]] = []
    taken: list[Reach[E]] = []  # the steps counted in the cycle being moved on
    before = open_cycle
    if open_cycle is None:
        cycle_id, started, last, reached, steps = _NO_ID, _NEVER, _NEVER, 0, 0
        seconds, costs, revenue = 0, Decimal(0), Decimal(0)
    else:
        cycle_id, started, last = open_cycle.id, open_cycle.started_at, open_cycle.last_step_at
        reached, steps, worth = open_cycle.reached, open_cycle.steps_reached, open_cycle.worth
        seconds, costs, revenue = worth.time_saved_seconds, worth.cost_savings, worth.revenue_earned
    is_open = open_cycle is not None
    for reach in reaches:
        bit = 1 << reach.slot
        if not is_open:
            if reach.position:  # not the start step
                continue
            cycle_id, started, last, reached, steps = new_id(), reach.at, reach.at, bit, 1
            before, is_open, worth = None, True, reach.worth
            seconds, costs, revenue = worth.time_saved_seconds, worth.cost_savings, worth.revenue_earned
        elif reached & bit:
            continue
        else:
            if reach.at > last:
                last = reach.at
            reached, steps, worth = reached | bit, steps + 1, reach.worth
            seconds += worth.time_saved_seconds
            costs += worth.cost_savings
            revenue += worth.revenue_earned
        taken.append(reach)
        if reach.completion:
            after = Cycle(cycle_id, started, last, reach.at, reached, steps, Worth(seconds, costs, revenue))
            runs.append(Run(before, after, tuple(taken)))
            taken, is_open = [], False
    if taken:
        current = Cycle(cycle_id, started, last, None, reached, steps, Worth(seconds, costs, revenue))
        runs.append(Run(before, current, tuple(taken)))
        return Progress(tuple(runs), current)
    return Progress(tuple(runs), open_cycle if is_open else None)  # untouched, or closed


_NO_ID, _NEVER = uuid.UUID(int=0), datetime.min.replace(tzinfo=UTC)  # no cycle open yet: never read
