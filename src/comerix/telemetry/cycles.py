"""Ingestion's stage of multi-step goals (SPEC §9): the steps the new events reach, moved into the
cycles of their conversations, and each completion made a match of its goal.

`advance`, after `match` (see `telemetry.pipeline` for the group it works on):

1. The steps the new events reach, and the conversation each counts in (`telemetry.reached`).
2. The cycles open in those conversations, in one read (none for the conversations the group
   creates: they have none). Writers moving the cycles of one conversation take turns on PostgreSQL:
   the conversations the events name are locked by `store_conversations`' upsert, and those joined
   by window are locked here (in the order of their ids) before the read, so each reads what the one
   before it committed (on SQLite, the transaction holds the only write lock). The unique key with
   `open_for` has the last word: should a cycle this stage opens be open already (left open in a
   conversation erased and created again under its id, or opened by a writer the locks missed), the
   stage's writes, made in a savepoint, are undone, and it reads the cycles of every conversation
   and moves them again, once; a second refusal fails the group (`writer_process.write_group`).
3. Each (conversation, goal)'s cycles moved on by the pure state machine (`conversions.cycles`).
4. The cycles stored before, moved on (one upsert, which merges the times of the steps reached here
   into those the row kept), then the new ones (one insert), in that order: a cycle completed here
   gives up `open_for` before the next one opened here takes it.
5. `cycle_changes` for the rollups, and each completion as a `Match` credited to its cycle's
   conversation, with the id of its outcome named ahead for the cycle's row, so that `value`,
   `attribute`, `record` and `persist` record one outcome for it, as for any goal.

When no new event reaches a step, the stage costs a look-up per event and nothing more.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from operator import itemgetter
from typing import Any

import msgspec
import psycopg
from sqlalchemy import bindparam, select

from comerix.conversions.attribution import Attribution, AttributionKind, Candidate
from comerix.conversions.cycles import NOTHING, Cycle, Progress, Worth
from comerix.conversions.cycles import advance as advance_cycles
from comerix.conversions.models import GoalCycle
from comerix.db.bulk import insert_rows
from comerix.db.types import new_id
from comerix.goals.index import GoalSpec
from comerix.telemetry import reached
from comerix.telemetry.models import Conversation
from comerix.telemetry.pipeline import CycleChange, CycleTally, Group, Match
from comerix.telemetry.reached import Arrival, Pair, StepTable
from comerix.vocabulary import CycleState


class OpenCycle(msgspec.Struct, frozen=True, gc=False):
    """A cycle open before the group, as stored."""

    cycle: Cycle
    contact_id: str | None
    flow_id: str | None


_cycles, _conversations = GoalCycle.__table__, Conversation.__table__
_OPEN_CYCLES = select(
    _cycles.c.id,
    _cycles.c.goal_id,
    _cycles.c.open_for,
    _cycles.c.contact_id,
    _cycles.c.flow_id,
    _cycles.c.started_at,
    _cycles.c.last_step_at,
    _cycles.c.state,
    _cycles.c.reached,
    _cycles.c.steps_reached,
    _cycles.c.time_saved_seconds,
    _cycles.c.cost_savings,
    _cycles.c.revenue_earned,
).where(
    _cycles.c.workspace_id == bindparam("workspace"),
    _cycles.c.conversation_id.in_(bindparam("chats", expanding=True)),
    _cycles.c.open_for.is_not(None),
)
_LOCK_CONVERSATIONS = (
    select(_conversations.c.id)
    .where(
        _conversations.c.workspace_id == bindparam("workspace"),
        _conversations.c.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(_conversations.c.id)
    .with_for_update()
)
CYCLE_COLUMNS = (
    "workspace_id",
    "id",
    "goal_id",
    "conversation_id",
    "open_for",
    "contact_id",
    "flow_id",
    "started_at",
    "last_step_at",
    "ended_at",
    "state",
    "reached",
    "steps_reached",
    "time_saved_seconds",
    "cost_savings",
    "revenue_earned",
    "outcome_id",
    "reached_at",
)
_FIXED_WHEN_OPENED = frozenset(
    {"workspace_id", "id", "goal_id", "conversation_id", "flow_id", "started_at", "reached_at"}
)
_MOVED_ON = "ON CONFLICT (workspace_id, id) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in CYCLE_COLUMNS if column not in _FIXED_WHEN_OPENED
)
# A cycle moved on gets the times of the steps it reached here merged into those it kept.
MERGE_STEPS = {
    "sqlite": ", reached_at = json_patch(goal_cycles.reached_at, excluded.reached_at)",
    "postgresql": ", reached_at = goal_cycles.reached_at || excluded.reached_at",
}


def advance(group: Group) -> Group:
    """Move the cycles of the conversations the new events' steps count in; each completion, a match."""
    table = reached.table_of(group.terms.workspace_id, group.goals)
    arrivals, looked_up = reached.arrivals(group, table)
    if looked_up:
        group = replace(group, looked_up=looked_up)
    if not arrivals:
        return group
    # Those the events name are locked already, by `store_conversations`' upsert.
    joined = {chat.conversation_id for a in arrivals for chat in a.joined.values()}
    joined -= group.chats.standing.keys()
    if joined and not group.codec.sqlite:
        connection, workspace = group.session.connection(), group.terms.workspace_id
        connection.execute(_LOCK_CONVERSATIONS, {"workspace": workspace, "ids": sorted(joined)})
    try:
        with group.session.begin_nested():
            return _moved_on(group, table, arrivals, group.chats.created)
    except CYCLE_TAKEN:
        # A cycle open already: one left open in a conversation the group created (erased before,
        # under the same id), or opened by another writer since the read, which the locks should
        # have kept from happening. The savepoint undid this stage's writes: read them all again.
        return _moved_on(group, table, arrivals, frozenset())


CYCLE_TAKEN = (sqlite3.IntegrityError, psycopg.IntegrityError)
"""What a write of cycles raises when a cycle it opens is already open (the unique key with `open_for`),
through the driver's cursor (`db.bulk.insert_rows`)."""


def _moved_on(group: Group, table: StepTable, arrivals: Sequence[Arrival], new: frozenset[str]) -> Group:
    """Read the open cycles of the conversations (but those in `new`, which have none), move them on,
    and write them."""
    chats = {a.chat.conversation_id for a in arrivals if a.chat is not None}
    chats.update(chat.conversation_id for a in arrivals for chat in a.joined.values())
    stored = _open_cycles(group, table, chats - new) if chats - new else {}
    written, goals = _Written(group), table.goals.by_code
    for pair, found in reached.reaches(arrivals, table, stored.keys()).items():
        before = stored.get(pair)
        progress = advance_cycles(None if before is None else before.cycle, found.reaches, new_id)
        written.add(goals[pair[1]], found.chat, before, progress)
    return written.store()


def _open_cycles(group: Group, table: StepTable, chats: Iterable[str]) -> dict[Pair, OpenCycle]:
    """The cycles open in `chats` of the active multi-step goals (those of the others wait for them)."""
    rows = group.session.connection().execute(
        _OPEN_CYCLES, {"workspace": group.terms.workspace_id, "chats": sorted(chats)}
    )
    found = {}
    for row in rows:
        code = table.code_of.get(row.goal_id)
        if code is not None:
            found[(row.open_for, code)] = OpenCycle(_cycle_of(row, table), row.contact_id, row.flow_id)
    return found


def _cycle_of(row: Any, table: StepTable) -> Cycle:
    if row.state == CycleState.INCOMPLETE:  # one step reached: its bit is the mask
        worth = table.worth_of.get((row.goal_id, row.reached.bit_length() - 1), NOTHING)
    else:
        worth = Worth(row.time_saved_seconds, row.cost_savings, row.revenue_earned)
    return Cycle(row.id, row.started_at, row.last_step_at, None, row.reached, row.steps_reached, worth)


def tally(cycle: Cycle) -> CycleTally:
    """What a cycle counts for in the rollups (and is stored as)."""
    state, counted = cycle.state, cycle.worth
    if state is CycleState.INCOMPLETE:
        counted = NOTHING
    return CycleTally(
        state, cycle.reached, counted.time_saved_seconds, counted.cost_savings, counted.revenue_earned
    )


class _Written:
    """What the group's cycles come to: the rows to write, the changes to count, the completions."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.codec = codec = group.codec
        self.workspace = codec.id(group.terms.workspace_id)
        self.step_time = codec.time_text  # as `GoalCycle.reached_at` keeps it, on both backends
        self.moved_on: list[tuple[Any, ...]] = []  # rows of cycles stored before
        self.opened: list[tuple[Any, ...]] = []  # rows of new cycles
        self.changes: list[CycleChange] = []
        self.completions: list[tuple[int, Match]] = []  # with the event's place in arrival order

    def add(
        self, goal: GoalSpec, chat: Candidate, stored: OpenCycle | None, progress: Progress[Arrival]
    ) -> None:
        """The cycles of `goal` in `chat`, moved on from `stored` (the one open before)."""
        step_time = self.step_time
        for run in progress.runs:
            cycle, first = run.after, run.reaches[0].event
            if run.before is None or stored is None:
                contact, flow = first.contact_id, chat.flow_id  # fixed when it opens
            else:
                contact, flow = stored.contact_id or first.contact_id, stored.flow_id
            done = run.completion
            outcome = None if done is None else self._complete(goal, chat, done.event)
            now = tally(cycle)
            # the times of its steps reached here, as a JSON object by slot
            reached_at = "{" + ",".join([f'"{r.slot}":"{step_time(r.at)}"' for r in run.reaches]) + "}"
            row = self._cycle_row(
                cycle, now, (goal.id, chat.conversation_id, contact, flow), outcome, reached_at
            )
            (self.opened if run.before is None else self.moved_on).append(row)
            before = None if run.before is None else tally(run.before)
            self.changes.append(CycleChange(goal.id, cycle.started_at, flow, before, now))

    def _complete(self, goal: GoalSpec, chat: Candidate, arrival: Arrival) -> uuid.UUID:
        """A completion's match, credited to its cycle's conversation (`chat`: the one the event named,
        or its contact's that the window rule picked); the id its outcome will have."""
        outcome_id = new_id()
        kind = AttributionKind.CONVERSATION if arrival.chat is not None else AttributionKind.WINDOW
        credit = Attribution(kind, chat.conversation_id, chat.flow_id)
        self.completions.append((arrival.order, Match(arrival.event, goal, credit, outcome_id)))
        return outcome_id

    def _cycle_row(
        self,
        cycle: Cycle,
        now: CycleTally,
        where: tuple[uuid.UUID, str, str | None, str | None],
        outcome: uuid.UUID | None,
        reached_at: str,
    ) -> tuple[Any, ...]:
        """A row of `goal_cycles`: `where` is its goal, conversation, contact and flow; `reached_at`
        the times of the steps it reached here (merged into those it kept, for one stored before)."""
        codec, (goal_id, chat, contact, flow) = self.codec, where
        return (
            self.workspace,
            codec.id(cycle.id),
            codec.id(goal_id),
            chat,
            chat if cycle.ended_at is None else None,  # open_for
            contact,
            flow,
            codec.time(cycle.started_at),
            codec.time(cycle.last_step_at),
            codec.time(cycle.ended_at),
            now.state.value,
            now.reached,
            cycle.steps_reached,
            now.time_saved_seconds,
            codec.decimal(now.cost_savings),
            codec.decimal(now.revenue_earned),
            None if outcome is None else codec.id(outcome),
            reached_at,
        )

    def store(self) -> Group:
        """Write the rows (cycles stored before first: see the module's docstring); the group with the
        changes and the completions' matches."""
        group = self.group
        if not self.changes:
            return group
        connection, codec = group.session.connection(), self.codec
        moved_on = _MOVED_ON + MERGE_STEPS[codec.dialect]
        insert_rows(
            connection, codec, "goal_cycles", CYCLE_COLUMNS, self.moved_on, tail=moved_on, json_columns=_JSON
        )
        insert_rows(connection, codec, "goal_cycles", CYCLE_COLUMNS, self.opened, json_columns=_JSON)
        self.completions.sort(key=itemgetter(0))
        return replace(
            group,
            cycle_changes=group.cycle_changes + tuple(self.changes),
            matches=group.matches + tuple(match for _, match in self.completions),
        )


_JSON = frozenset({"reached_at"})
