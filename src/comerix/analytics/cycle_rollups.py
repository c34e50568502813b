"""Keeping the cycle rollups (see `analytics.models`) up to date: from ingestion, and all over again for
a new time zone (`rebuild`, which `rollups.rebuild` calls).

A cycle is counted under the local day it started, its goal, its flow ('' for none), its state and the
steps it reached (`reached`, a bit per step slot), with its metrics, in `goal_cycle_rollups`; and the
same without the flow in `goal_cycle_day_rollups`, which reports not filtered by flow read. A cycle
that moves on leaves the row of its old tally (`CycleChange.before`) and enters the row of its new one
(`after`). The deltas of a group are summed per row first, then written in one upsert per table whose
counts and limbs the database adds (`sums.sums_upsert`), so concurrent writers never lose an update.
A row may come down to 0 cycles; it stays, and reports skip it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from comerix.analytics.credits import ANY
from comerix.analytics.models import GoalCycleDayRollup, GoalCycleRollup
from comerix.analytics.sums import local_day, sums_upsert
from comerix.conversions.models import GoalCycle
from comerix.db.bulk import Codec, codec_for, insert_rows
from comerix.money import LIMB, to_micros
from comerix.telemetry.pipeline import CycleChange, CycleTally, Group

TABLE = "goal_cycle_rollups"
DAY_TABLE = "goal_cycle_day_rollups"


class CycleKey(NamedTuple):
    """The dimensions of a row of `goal_cycle_rollups`."""

    day: date
    goal_id: str  # hex, as every rollup spells a goal
    flow_id: str
    state: str
    reached: int


class DayKey(NamedTuple):
    """The dimensions of a row of `goal_cycle_day_rollups`: a `CycleKey` without the flow."""

    day: date
    goal_id: str
    state: str
    reached: int


class CycleSums(NamedTuple):
    """What a row adds up: cycles, seconds saved, and millionths of cost savings and revenue earned."""

    cycles: int
    time_saved_seconds: int
    cost_savings: int
    revenue_earned: int


_SUMS = (("cycles", "time_saved_seconds"), ("cost_savings", "revenue_earned"))
_COLUMNS, _UPSERT = sums_upsert(TABLE, CycleKey._fields, *_SUMS)
_DAY_COLUMNS, _DAY_UPSERT = sums_upsert(DAY_TABLE, DayKey._fields, *_SUMS)


def count_cycle_changes(group: Group) -> Group:
    """Ingestion's stage: the cycles the group opened or moved on, into the cycle rollups."""
    if group.cycle_changes:
        terms = group.terms
        sums = cycle_sums(group.cycle_changes, terms.timezone)
        add_cycle_sums(group.session.connection(), group.codec, terms.workspace_id, sums)
    return group


def cycle_sums(changes: Iterable[CycleChange], timezone: str) -> dict[CycleKey, CycleSums]:
    """The changes summed per row: -1 cycle (and its metrics) under each `before`, +1 under each
    `after`. Rows whose sums all come to 0 (a cycle opened and moved on in the same group) are left
    out."""
    sums: dict[CycleKey, list[int]] = {}
    for change in changes:
        where = (local_day(change.started_at, timezone), change.goal_id.hex, change.flow_id or ANY)
        if change.before is not None:
            _add(sums, where, change.before, -1)
        _add(sums, where, change.after, 1)
    return {key: CycleSums(*entry) for key, entry in sums.items() if any(entry)}


def _add(sums: dict[CycleKey, list[int]], where: tuple[date, str, str], tally: CycleTally, sign: int) -> None:
    """Add `sign` times the tally to the row of its state and steps under `where` (day, goal, flow)."""
    entry = sums.setdefault(CycleKey(*where, tally.state.value, tally.reached), [0, 0, 0, 0])
    entry[0] += sign
    entry[1] += sign * tally.time_saved_seconds
    # Most tallies are worth no money (an incomplete cycle's, and many steps'): no millionths to make.
    if tally.cost_savings:
        entry[2] += sign * to_micros(tally.cost_savings)
    if tally.revenue_earned:
        entry[3] += sign * to_micros(tally.revenue_earned)


def over_flows(sums: dict[CycleKey, CycleSums]) -> dict[DayKey, CycleSums]:
    """`sums` added up over their flows: the rows of `goal_cycle_day_rollups`. Rows that come to 0 (a
    cycle entering a row in one flow as another leaves it in another) are left out."""
    days: dict[DayKey, list[int]] = {}
    for key, s in sums.items():
        entry = days.setdefault(DayKey(key.day, key.goal_id, key.state, key.reached), [0, 0, 0, 0])
        for n, value in enumerate(s):
            entry[n] += value
    return {key: CycleSums(*entry) for key, entry in days.items() if any(entry)}


def add_cycle_sums(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, sums: dict[CycleKey, CycleSums]
) -> None:
    """Upsert `sums` into `goal_cycle_rollups`, and `over_flows(sums)` into `goal_cycle_day_rollups`:
    a statement each, rows in key order and the tables always in this order (the order every writer
    locks them in). Nothing at all without sums. A negative sum of millionths is written as a negative
    high limb and a low one in [0, LIMB), as `divmod` splits it, so the carry of the upsert holds for
    it too."""
    if not sums:
        return
    workspace = codec.id(workspace_id)
    insert_rows(connection, codec, TABLE, _COLUMNS, _rows(workspace, codec, sums.items()), tail=_UPSERT)
    if days := over_flows(sums):
        insert_rows(
            connection,
            codec,
            DAY_TABLE,
            _DAY_COLUMNS,
            _rows(workspace, codec, days.items()),
            tail=_DAY_UPSERT,
        )


def _rows(
    workspace: Any, codec: Codec, sums: Iterable[tuple[tuple[Any, ...], CycleSums]]
) -> list[tuple[Any, ...]]:
    """The rows of an upsert of `sums` (keys begin with the day), in key order."""
    return [
        (
            workspace,
            codec.day(key[0]),
            *key[1:],
            s.cycles,
            s.time_saved_seconds,
            *divmod(s.cost_savings, LIMB),
            *divmod(s.revenue_earned, LIMB),
        )
        for key, s in sorted(sums)
    ]


def rebuild(session: Session, workspace_id: uuid.UUID, timezone: str) -> None:
    """Recompute the workspace's cycle rollups (both tables) from its stored cycles, in the days of
    `timezone`. Cycles erased with their contact are no longer there to count (as for the other
    rollups)."""
    codec = codec_for(session.get_bind().dialect.name)
    for model in (GoalCycleRollup, GoalCycleDayRollup):
        session.execute(delete(model).where(model.workspace_id == workspace_id))
    statement = select(
        GoalCycle.goal_id,
        GoalCycle.started_at,
        GoalCycle.flow_id,
        GoalCycle.state,
        GoalCycle.reached,
        GoalCycle.time_saved_seconds,
        GoalCycle.cost_savings,
        GoalCycle.revenue_earned,
    ).where(GoalCycle.workspace_id == workspace_id)
    sums: dict[CycleKey, list[int]] = {}
    # The rows stream (`yield_per`): a workspace may hold millions of cycles, and only the sums, a row
    # per rollup row, are kept.
    for found in session.execute(statement.execution_options(yield_per=REBUILD_CHUNK)):
        tally = CycleTally(
            found.state,
            found.reached,
            found.time_saved_seconds,
            found.cost_savings,
            found.revenue_earned,
        )
        where = (local_day(found.started_at, timezone), found.goal_id.hex, found.flow_id or ANY)
        _add(sums, where, tally, 1)
    add_cycle_sums(
        session.connection(),
        codec,
        workspace_id,
        {key: CycleSums(*entry) for key, entry in sums.items() if entry[0]},
    )


REBUILD_CHUNK = 10_000
