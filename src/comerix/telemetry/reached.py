"""Which steps of multi-step goals a group's new events reach, and the conversation each counts in
(SPEC §9): what `telemetry.cycles` moves the cycles with.

- `arrivals`: the new events that reach steps, in arrival order: the steps of active multi-step goals
  whose trigger and conditions each meets (as its batch's preparation found them, while still true),
  or, for an item that names its goal, the steps it names; and the conversation they count in: the
  event's own, or, with none but a contact, the one §3's window rule picks with each goal's window
  (one look-up per such event as a rule, which `attribute` uses too: `stages.window_pick`). Events
  with neither count nowhere.
- `reaches`: the steps that can count, by (conversation, goal), in the order they apply: each goal's
  steps reached by one event in step order, the completions last (or in the order an item named
  them). Only the steps of goals with a cycle open or opening in their conversation are looked up:
  an event reaches tens of steps of goals with no cycle where it happens, which count nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec

from comerix.conversions.attribution import Candidate
from comerix.conversions.cycles import Reach, Worth, may_count
from comerix.goals.index import GoalSpec, StepReached, StepSpec, WorkspaceGoals
from comerix.telemetry.pipeline import Group, ItemRef, StoredEvent
from comerix.telemetry.stages import widest_windows, window_pick
from comerix.vocabulary import GoalStatus

Pair = tuple[str, str]
"""A conversation (its id) and a multi-step goal (its code): where cycles are kept."""


class Known(msgspec.Struct, frozen=True, gc=False):
    """A step of an active multi-step goal, with its worth."""

    goal: GoalSpec
    spec: StepSpec
    worth: Worth


class StepTable:
    """The steps of a workspace's active multi-step goals by (goal code, step key), which of them
    start their goal, and the goals' codes by id: built once per revision of the goals (`table_of`),
    so that an event's steps cost a look-up each, and only those that can count are looked up."""

    def __init__(self, goals: WorkspaceGoals) -> None:
        self.goals = goals
        active = [g for g in goals.by_code.values() if g.multi_step and g.status is GoalStatus.ACTIVE]
        self.steps: dict[tuple[str, str], Known] = {
            (goal.code, step.key): Known(
                goal, step, Worth(step.time_saved_seconds, step.cost_savings, step.revenue_earned)
            )
            for goal in active
            for step in goal.steps
            if not step.retired
        }
        self.starts = frozenset(hit for hit, known in self.steps.items() if known.spec.is_start)
        self.code_of = {goal.id: goal.code for goal in active}
        # An incomplete cycle keeps no metrics (SPEC §9): once it moves on, the one step it reached
        # (by its slot: the start step when it opened, whatever the order since) counts at its worth then.
        self.worth_of = {
            (goal.id, step.slot): Worth(step.time_saved_seconds, step.cost_savings, step.revenue_earned)
            for goal in active
            for step in goal.steps
        }


_TABLES: dict[uuid.UUID, StepTable] = {}


def table_of(workspace_id: uuid.UUID, goals: WorkspaceGoals) -> StepTable:
    """The step table of `goals` (the workspace's, as `GoalIndex` keeps them while their revision
    stands), built again when they are other goals."""
    table = _TABLES.get(workspace_id)
    if table is None or table.goals is not goals:
        table = _TABLES[workspace_id] = StepTable(goals)
    return table


class Arrival(msgspec.Struct, frozen=True, gc=False):
    """A new event that reaches steps of multi-step goals, and the conversation they count in."""

    event: StoredEvent
    order: int  # its place among the group's events that reach steps
    hits: Sequence[StepReached]  # as matched, or as the item names them
    chat: Candidate | None  # the conversation it names, as it stands
    joined: Mapping[str, Candidate]  # with no conversation named: by goal code, the one its window picks
    contact_id: str | None  # the conversation's contact


class InChat(msgspec.Struct, gc=False):
    """The steps that can count in one (conversation, goal): the conversation, and the steps, each
    handing back the arrival that reached it (`Reach.event`)."""

    chat: Candidate
    reaches: list[Reach[Arrival]]
    seen: set[int]  # `may_count`'s


LookedUp = dict[ItemRef, dict[int, Sequence[Candidate]]]
"""By item, then by window (hours): its contact's conversations read for it."""


def arrivals(group: Group, table: StepTable) -> tuple[list[Arrival], LookedUp]:
    """The new events that reach steps, in arrival order, with the conversation they count in (those
    with none count nowhere); and the contact's conversations read for each item without one, by the
    window they were read for (`Group.looked_up`)."""
    found: list[Arrival] = []
    looked_up: LookedUp = {}
    widest: dict[ItemRef, int] | None = None  # made for the first item without a conversation
    matching = bool(table.steps)
    standing, contact_of = group.chats.standing, group.chats.contact_of
    for event in group.stored:
        item = event.item
        hits: Sequence[StepReached]
        if item.goal_code is not None:
            if item.steps is None:
                continue
            code = item.goal_code
            hits = [(code, key, (code, key) in table.starts) for key in item.steps]
        elif matching:
            hits = group.batches[event.batch].prepared.steps_for(item, group.goals)
            if not hits:
                continue
        else:
            continue
        if item.conversation_id is not None:
            contact = contact_of.get(item.conversation_id) or item.contact_id
            found.append(Arrival(event, len(found), hits, standing[item.conversation_id], {}, contact))
        elif item.contact_id is not None:
            if widest is None:
                widest = widest_windows(group)
            ref = (event.batch, item.index)
            joined = _joined(
                group,
                table,
                item.contact_id,
                item.timestamp,
                hits,
                looked_up.setdefault(ref, {}),
                widest.get(ref, 0),
            )
            if joined:
                found.append(Arrival(event, len(found), hits, None, joined, item.contact_id))
    return found, {ref: read for ref, read in looked_up.items() if read}


def _joined(
    group: Group,
    table: StepTable,
    contact: str,
    at: datetime,
    hits: Sequence[StepReached],
    reads: dict[int, Sequence[Candidate]],
    widest: int,
) -> dict[str, Candidate]:
    """For an item of `contact` at `at`, with no conversation: by goal code, the contact's conversation
    that §3's window rule picks with the goal's window; the contact's conversations are read once for the
    widest window of these goals and of the single-step goals the item matched (`widest`), which
    `attribute` credits from the same read (`stages.window_pick`)."""
    windows = {
        known.goal.code: known.goal.attribution_window_hours
        for code, key, _ in hits
        if (known := table.steps.get((code, key))) is not None
    }
    if not windows:
        return {}
    widest = max(widest, *windows.values())
    by_window = {
        hours: window_pick(group, contact, at, hours, widest, reads) for hours in set(windows.values())
    }
    return {code: chosen for code, hours in windows.items() if (chosen := by_window[hours]) is not None}


def reaches(arrivals: Sequence[Arrival], table: StepTable, open_in: Iterable[Pair]) -> dict[Pair, InChat]:
    """The steps that can count, by the (conversation, goal) they count in, in the order they apply:
    those of a goal with a cycle open in the conversation (`open_in`: before the group), or opening
    there since a start step was reached. The others count nowhere and are left out before a `Reach` is
    made of them: the steps of a goal with no cycle open whose start step was not reached, and those
    `may_count` rules out (a step reached again). An event's steps come in the order they apply, goal
    by goal (`goals.index.applies_before`, or as its item named them), so each is decided as it comes.
    The loop runs for every step every event reaches: it stays bare."""
    steps = table.steps
    active: dict[str, set[str]] = {}  # by conversation: the goals with a cycle open or opening
    for chat_id, code in open_in:
        active.setdefault(chat_id, set()).add(code)
    found: dict[Pair, InChat] = {}
    for arrival in arrivals:
        at, own = arrival.event.item.timestamp, arrival.chat
        for code, key, start in arrival.hits:
            chat = own if own is not None else arrival.joined.get(code)
            if chat is None:
                continue
            chat_id = chat.conversation_id
            codes = active.get(chat_id)
            if codes is None:
                codes = active[chat_id] = set()
            if code not in codes:
                if not start:
                    continue
                codes.add(code)
            known = steps.get((code, key))
            if known is None:  # not a step of an active goal (the same goals matched it: never)
                continue
            spec, pair = known.spec, (chat_id, code)
            in_chat = found.get(pair)
            if in_chat is None:  # its first step, which `may_count` always lets count
                in_chat = found[pair] = InChat(chat, [], set())
            if may_count(in_chat.seen, spec.slot, start, spec.completion):
                in_chat.reaches.append(
                    Reach(arrival, spec.slot, spec.position, spec.completion, at, known.worth)
                )
    return found
