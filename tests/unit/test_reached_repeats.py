"""`reached.reaches` leaves out steps before `advance` (those of goals with no cycle open or opening, and
those `may_count` rules out): Hypothesis holds `advance` to what it makes of every step reached."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from comerix.conversions.attribution import Candidate
from comerix.conversions.cycles import Cycle, Reach, Worth, advance, in_step_order
from comerix.goals.index import GoalSpec, StepSpec, WorkspaceGoals
from comerix.goals.rules import ValueRule
from comerix.telemetry.pipeline import StoredEvent
from comerix.telemetry.reached import Arrival, StepTable, reaches
from comerix.telemetry.schemas import Item
from comerix.vocabulary import GoalKind, GoalStatus, Source

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
CHATS = ("c1", "c2")


def goal(code: str, slots: list[int], completions: set[int]) -> GoalSpec:
    steps = tuple(
        StepSpec(
            key=f"k{pos}",
            slot=slot,
            position=pos,
            trigger_event=f"e{pos}",
            match_conditions={},
            completion=pos in completions,
            time_saved_seconds=pos,
            cost_savings=Decimal(0),
            revenue_earned=Decimal(0),
            retired=False,
        )
        for pos, slot in enumerate(slots)
    )
    return GoalSpec(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, code),
        code=code,
        kind=GoalKind.CONVERSION,
        status=GoalStatus.ACTIVE,
        trigger_event=None,
        match_conditions={},
        value_rule=ValueRule.of  # type: ignore[arg-type]
        if False
        else None,  # not used by reaches
        attribution_window_hours=24,
        steps=steps,
    )


GOALS = {
    "a": goal("a", [2, 0, 3, 1], {3}),
    "b": goal("b", [0, 1, 2, 3, 4], {2, 4}),
    "c": goal("c", [1, 0, 2], {0, 2}),  # its start step completes it: the start applies after the others
}
TABLE = StepTable(WorkspaceGoals.build(1, list(GOALS.values())))

hit = st.tuples(st.sampled_from(sorted(GOALS)), st.integers(0, 4)).filter(
    lambda h: h[1] < len(GOALS[h[0]].steps)
)
arrival_st = st.tuples(
    st.sampled_from((*CHATS, None)),  # own chat, or None: joined per goal
    st.lists(hit, min_size=1, max_size=4, unique=True),
    st.booleans(),  # named (an item naming its goal's steps, in its own order)
)
open_st = st.dictionaries(
    st.tuples(st.sampled_from(CHATS), st.sampled_from(sorted(GOALS))), st.integers(1, 31), max_size=4
)


def make_arrivals(raw: list[tuple[str | None, list[tuple[str, int]], bool]]) -> list[Arrival]:
    found = []
    for n, (chat, hits, named) in enumerate(raw):
        if named:  # one goal's steps, as an item names them
            code = hits[0][0]
            hits = [h for h in hits if h[0] == code]
        item = Item(
            index=n,
            source=Source.WIDGET,
            name="x",
            timestamp=T0 + timedelta(minutes=n),
            event_id=None,
            conversation_id=chat,
            contact_id="ann",
            flow_id=None,
            properties={},
            goal_code=hits[0][0] if named else None,
        )
        triples = [(code, f"k{pos}", GOALS[code].steps[pos].is_start) for code, pos in hits]
        if not named:  # as matching gives them: goal by goal, each in the order they apply
            triples.sort(key=lambda t: (t[0], GOALS[t[0]].steps[int(t[1][1:])].completion, int(t[1][1:])))
        cand = {c: Candidate(c, None, T0, T0) for c in CHATS}
        own = cand[chat] if chat is not None else None
        joined = {} if chat is not None else {"a": cand["c1"], "b": cand["c2"], "c": cand["c1"]}
        found.append(Arrival(StoredEvent(item, 0, n), n, triples, own, joined, "ann"))
    return found


def naive(arrivals: list[Arrival]) -> dict[tuple[str, str], list[Reach[Arrival]]]:
    out: dict[tuple[str, str], list[Reach[Arrival]]] = {}
    for arrival in arrivals:
        touched: dict[tuple[str, str], list[Reach[Arrival]]] = {}
        for code, key, _ in arrival.hits:
            chat = arrival.chat or arrival.joined.get(code)
            if chat is None:
                continue
            spec = GOALS[code].step(key)
            assert spec is not None
            known = TABLE.steps[(code, key)]
            touched.setdefault((chat.conversation_id, code), []).append(
                Reach(
                    arrival,
                    spec.slot,
                    spec.position,
                    spec.completion,
                    arrival.event.item.timestamp,
                    known.worth,
                )
            )
        for pair, rs in touched.items():
            out.setdefault(pair, []).extend(
                rs if arrival.event.item.goal_code is not None else in_step_order(rs)
            )
    return out


def run(open_cycle: Cycle | None, rs: list[Reach[Arrival]]):  # type: ignore[no-untyped-def]
    ids = (uuid.UUID(int=n) for n in itertools.count(100))
    return advance(open_cycle, rs, lambda: next(ids))


@settings(max_examples=3000, deadline=None)
@given(raw=st.lists(arrival_st, max_size=20), opened=open_st)
def test_reaches_changes_nothing_advance_makes(raw, opened) -> None:  # type: ignore[no-untyped-def]
    arrivals = make_arrivals(raw)
    open_cycles = {
        pair: Cycle(uuid.UUID(int=n + 1), T0, T0, None, mask, bin(mask).count("1"), Worth(1))
        for n, (pair, mask) in enumerate(sorted(opened.items()))
    }
    fast = reaches(arrivals, TABLE, open_cycles.keys())
    slow = naive(arrivals)
    for pair in set(fast) | set(slow) | set(open_cycles):
        expected = run(open_cycles.get(pair), slow.get(pair, []))
        got = run(open_cycles.get(pair), fast[pair].reaches if pair in fast else [])
        assert got == expected, (pair, raw, opened)
