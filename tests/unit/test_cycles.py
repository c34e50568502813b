"""The cycles of a multi-step goal in one conversation (`conversions.cycles`), without a database: every
rule of SPEC §9 and docs/decisions.md "Multi-step goals" on steps reached in arrival order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from comerix.conversions.cycles import (
    NOTHING,
    Cycle,
    Progress,
    Reach,
    Worth,
    advance,
    in_step_order,
    may_count,
)
from comerix.vocabulary import CycleState

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

# A booking: start (slot 0), details (slot 1, 60 s), quote (slot 2, 1.50 saved), paid (slot 3, the
# completion, 25.00 earned). Slots are given in creation order; positions are the order today.
STEPS = {
    "start": (0, 0, False, Worth()),
    "details": (1, 1, False, Worth(60)),
    "quote": (2, 2, False, Worth(0, Decimal("1.50"))),
    "paid": (3, 3, True, Worth(0, Decimal(0), Decimal("25.00"))),
}


def reach(key: str, minute: int = 0, event: str | None = None) -> Reach[str]:
    slot, position, completion, worth = STEPS[key]
    return Reach(event or key, slot, position, completion, T0 + timedelta(minutes=minute), worth)


def ids() -> Iterator[uuid.UUID]:
    return (uuid.UUID(int=n) for n in count(100))


def run(reaches: Sequence[Reach[str]], open_cycle: Cycle | None = None) -> Progress[str]:
    return advance(open_cycle, reaches, ids().__next__)


def bits(*keys: str) -> int:
    return sum(1 << STEPS[key][0] for key in keys)


def test_the_start_step_opens_an_incomplete_cycle_worth_nothing_yet() -> None:
    progress = run([reach("start", event="e1")])
    (moved,) = progress.runs
    assert moved.before is None
    assert (moved.after.state, moved.after.reached, moved.after.steps_reached) == (
        CycleState.INCOMPLETE,
        bits("start"),
        1,
    )
    assert moved.after.counted == NOTHING
    assert progress.open == moved.after
    assert [(c.reach.event, c.cycle_id) for c in progress.counted] == [("e1", moved.after.id)]
    assert progress.completed == ()


def test_another_step_makes_the_cycle_partial_and_counts_every_step_reached() -> None:
    progress = run([reach("start"), reach("details", 1), reach("quote", 2)])
    cycle = progress.open
    assert cycle is not None
    assert (cycle.state, cycle.reached, cycle.steps_reached) == (
        CycleState.PARTIAL,
        bits("start", "details", "quote"),
        3,
    )
    assert cycle.counted == Worth(60, Decimal("1.50"), Decimal(0))
    assert (cycle.started_at, cycle.last_step_at) == (T0, T0 + timedelta(minutes=2))


def test_a_completion_closes_the_cycle_and_records_once() -> None:
    progress = run([reach("start"), reach("details", 1), reach("paid", 5, event="pay")])
    (moved,) = progress.runs
    assert moved.after.state is CycleState.COMPLETED
    assert moved.after.ended_at == T0 + timedelta(minutes=5)
    assert moved.after.counted == Worth(60, Decimal(0), Decimal("25.00"))
    assert [c.reach.event for c in progress.completed] == ["pay"]
    assert progress.open is None


def test_steps_count_in_any_order() -> None:
    progress = run([reach("start"), reach("quote", 1), reach("details", 2), reach("paid", 3)])
    assert [c.reach.event for c in progress.counted] == ["start", "quote", "details", "paid"]
    assert progress.runs[0].after.reached == bits("start", "details", "quote", "paid")


def test_a_step_counts_once_per_cycle() -> None:
    progress = run([reach("start"), reach("details", 1, "d1"), reach("details", 2, "d2")])
    assert [c.reach.event for c in progress.counted] == ["start", "d1"]
    cycle = progress.open
    assert cycle is not None
    assert (cycle.steps_reached, cycle.counted.time_saved_seconds) == (2, 60)
    assert cycle.last_step_at == T0 + timedelta(minutes=1)


def test_the_start_step_again_inside_an_open_cycle_counts_nowhere() -> None:
    progress = run([reach("start", 0, "s1"), reach("start", 1, "s2"), reach("paid", 2)])
    assert len(progress.runs) == 1
    assert [c.reach.event for c in progress.counted] == ["s1", "paid"]
    assert progress.runs[0].after.started_at == T0


def test_steps_with_no_open_cycle_count_nowhere_not_even_a_completion() -> None:
    progress = run([reach("details"), reach("paid", 1)])
    assert (progress.runs, progress.counted, progress.completed, progress.open) == ((), (), (), None)


def test_the_start_after_a_completion_opens_the_next_cycle() -> None:
    progress = run(
        [reach("start", 0, "s1"), reach("paid", 1, "p1"), reach("paid", 2, "p2"), reach("start", 3, "s2")]
    )
    first, second = progress.runs
    assert (first.after.state, second.after.state) == (CycleState.COMPLETED, CycleState.INCOMPLETE)
    assert first.after.id != second.after.id
    assert [c.reach.event for c in progress.counted] == ["s1", "p1", "s2"]  # p2: no cycle open
    assert progress.open == second.after
    assert second.after.started_at == T0 + timedelta(minutes=3)


def test_an_open_cycle_stored_before_moves_on_from_where_it_stood() -> None:
    stored = Cycle(uuid.UUID(int=7), T0, T0, None, bits("start"), 1, Worth(30))
    progress = run([reach("start", 1), reach("details", 2), reach("paid", 3)], stored)
    (moved,) = progress.runs
    assert moved.before == stored
    assert moved.after.id == stored.id
    assert (moved.after.state, moved.after.steps_reached) == (CycleState.COMPLETED, 3)
    # the start's worth as it was reached (30 s then), the others' now
    assert moved.after.counted == Worth(90, Decimal(0), Decimal("25.00"))
    assert [c.cycle_id for c in progress.counted] == [stored.id, stored.id]


def test_an_incomplete_cycle_stored_before_counts_nothing_until_it_moves_on() -> None:
    stored = Cycle(uuid.UUID(int=7), T0, T0, None, bits("start"), 1, Worth(30))
    assert stored.counted == NOTHING
    assert run([reach("start", 1)], stored).runs == ()  # the start again: nothing moves


def test_a_stored_cycle_completed_and_the_next_opened_are_both_moved() -> None:
    stored = Cycle(uuid.UUID(int=7), T0, T0, None, bits("start", "details"), 2, Worth(60))
    progress = run([reach("paid", 1), reach("start", 2)], stored)
    first, second = progress.runs
    assert (first.before, first.after.state) == (stored, CycleState.COMPLETED)
    assert (second.before, second.after.state) == (None, CycleState.INCOMPLETE)


def test_one_event_reaching_two_steps_applies_them_in_step_order_the_completion_last() -> None:
    # An event meeting the completion and the start (as listed: completion first) opens and completes.
    ordered = in_step_order([reach("paid", 0, "e"), reach("details", 0, "e"), reach("start", 0, "e")])
    assert [r.slot for r in ordered] == [0, 1, 3]
    progress = run(ordered)
    (moved,) = progress.runs
    assert moved.after.state is CycleState.COMPLETED
    assert moved.after.steps_reached == 3
    assert len(progress.completed) == 1


def test_the_start_step_and_a_completion_reached_by_one_event_open_and_complete() -> None:
    progress = run(in_step_order([reach("paid", 0, "e"), reach("start", 0, "e")]))
    assert [m.after.state for m in progress.runs] == [CycleState.COMPLETED]
    assert progress.runs[0].after.reached == bits("start", "paid")


def test_a_step_reordered_to_start_is_added_to_the_open_cycle_it_did_not_open() -> None:
    """After a reordering, the open cycle may lack today's start step: reaching it adds it, once."""
    stored = Cycle(uuid.UUID(int=7), T0, T0, None, bits("details"), 1, Worth(60))
    new_start = Reach("e", STEPS["quote"][0], 0, False, T0, Worth())
    progress = run([new_start, new_start], stored)
    (moved,) = progress.runs
    assert moved.after.reached == bits("details", "quote")
    assert len(progress.counted) == 1


def test_metrics_are_the_sums_over_distinct_steps_reached() -> None:
    progress = run([reach("start"), reach("quote", 1), reach("quote", 2), reach("paid", 3)])
    assert progress.runs[0].after.counted == Worth(0, Decimal("1.50"), Decimal("25.00"))


keys = st.sampled_from(sorted(STEPS))
# one event reaching one step, or two reaching several steps at once (a step order of their own)
events = st.lists(st.lists(keys, min_size=1, max_size=3, unique=True), max_size=25)


@given(events=events, stored=st.sampled_from([None, "incomplete", "partial"]))
def test_leaving_out_the_steps_that_may_not_count_changes_nothing(
    events: list[list[str]], stored: str | None
) -> None:
    """`may_count` as ingestion applies it (to the steps of each event in the order they apply) keeps
    every step that could count: `advance` makes the same of what is left as of all of them."""
    reaches = [
        r for n, hit in enumerate(events) for r in in_step_order(reach(k, n, f"e{n}-{k}") for k in hit)
    ]
    seen: set[int] = set()
    kept = [r for r in reaches if may_count(seen, r.slot, r.start, r.completion)]
    before = None
    if stored is not None:
        reached = bits("start") if stored == "incomplete" else bits("start", "details")
        before = Cycle(uuid.UUID(int=1), T0, T0, None, reached, bin(reached).count("1"), Worth(60))
    assert run(kept, before) == run(reaches, before)
    assert len(kept) <= len(reaches)


# A second shape: its start step completes it (a one-step booking), beside a step that may come first.
QUICK = {
    "start": (0, 0, True, Worth(0, Decimal(0), Decimal("9.00"))),
    "details": (1, 1, False, Worth(30)),
    "paid": (2, 2, True, Worth(0, Decimal(0), Decimal("25.00"))),
}
SHAPES = {"booking": STEPS, "quick": QUICK}


class Touched(NamedTuple):
    before: Cycle | None
    after: Cycle
    events: list[str]


def by_the_rules(
    open_cycle: Cycle | None, reaches: Sequence[Reach[str]]
) -> tuple[list[Touched], Cycle | None, list[str]]:
    """The rules read one step at a time, a `Cycle` made for every step: each cycle touched (as it was
    and as it is, with the events that count in it), the one left open, and the events that completed
    a cycle."""
    new_id, current = ids().__next__, open_cycle
    touched: dict[uuid.UUID, Touched] = {}
    completions: list[str] = []
    for r in reaches:
        bit = 1 << r.slot
        ended = r.at if r.completion else None
        if current is None:
            if not r.start:
                continue
            before, current = None, Cycle(new_id(), r.at, r.at, ended, bit, 1, r.worth)
        elif current.reached & bit:
            continue
        else:
            before = touched[current.id].before if current.id in touched else current
            current = Cycle(
                current.id,
                current.started_at,
                max(current.last_step_at, r.at),
                ended,
                current.reached | bit,
                current.steps_reached + 1,
                current.worth + r.worth,
            )
        events = touched[current.id].events if current.id in touched else []
        touched[current.id] = Touched(before, current, [*events, r.event])
        if ended is not None:
            completions.append(r.event)
            current = None
    return list(touched.values()), current, completions


# Events as (the steps one reached, its minute): times run back and forth, as chats' clocks do.
timed = st.lists(
    st.tuples(st.lists(keys, min_size=1, max_size=3, unique=True), st.integers(-30, 30)), max_size=25
)


@given(
    events=timed,
    shape=st.sampled_from(sorted(SHAPES)),
    stored=st.sampled_from([None, "incomplete", "partial", "reordered"]),
)
def test_advance_makes_what_the_rules_read_step_by_step_make(
    events: list[tuple[list[str], int]], shape: str, stored: str | None
) -> None:
    steps = SHAPES[shape]

    def at(key: str, minute: int, event: str) -> Reach[str]:
        slot, position, completion, worth = steps[key]
        return Reach(event, slot, position, completion, T0 + timedelta(minutes=minute), worth)

    reaches = [
        r
        for n, (hit, minute) in enumerate(events)
        for r in in_step_order(at(k, minute, f"e{n}-{k}") for k in hit if k in steps)
    ]
    before = None
    if stored is not None:  # open since minute 0, its latest step at minute 10
        reached = {"incomplete": 0b1, "partial": 0b11, "reordered": 0b10}[stored]
        before = Cycle(
            uuid.UUID(int=1), T0, T0 + timedelta(minutes=10), None, reached, reached.bit_count(), Worth(5)
        )
    progress = run(reaches, before)
    runs = [Touched(r.before, r.after, [reach.event for reach in r.reaches]) for r in progress.runs]
    assert (runs, progress.open, [c.reach.event for c in progress.completed]) == by_the_rules(before, reaches)
