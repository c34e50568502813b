"""What every rollup writer shares: the workspace's local day of a moment, and the upsert that adds
counts and two-limb money sums (see `analytics.models`) to a rollup row.

Both the outcome and conversation rollups (`rollups`) and the cycle rollups (`cycle_rollups`) write
through these, so neither imports the other's module to reach them.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from comerix.money import LIMB


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime, timezone: str) -> date:
    """The workspace's calendar day of a moment."""
    return moment.astimezone(zone(timezone)).date()


def sums_upsert(
    table: str, dimensions: tuple[str, ...], counts: tuple[str, ...], money: tuple[str, ...]
) -> tuple[tuple[str, ...], str]:
    """The columns of an upsert that adds plain integer `counts` and the limbs of each `money` measure
    (`{m}_high`, `{m}_low`) to a rollup keyed by `dimensions`, and its ON CONFLICT … DO UPDATE. Rows
    list the counts, then each measure's high and low limb.

    Two low limbs add up to less than 2 * LIMB, which no 64-bit integer overflows; past LIMB, one LIMB
    is carried into the high limb, so low stays in [0, LIMB). Every right-hand side reads the row as
    it was (SQL's UPDATE), so high sees the old low. No `%` operator: psycopg would read it as a
    placeholder."""
    limbs_of = tuple(f"{m}_{limb}" for m in money for limb in ("high", "low"))
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in counts]
    for m in money:
        low = f"{table}.{m}_low + excluded.{m}_low"
        sets.append(f"{m}_low = CASE WHEN {low} >= {LIMB} THEN {low} - {LIMB} ELSE {low} END")
        carry = f"CASE WHEN {low} >= {LIMB} THEN 1 ELSE 0 END"
        sets.append(f"{m}_high = {table}.{m}_high + excluded.{m}_high + {carry}")
    upsert = f"ON CONFLICT (workspace_id, {', '.join(dimensions)}) DO UPDATE SET {', '.join(sets)}"
    return ("workspace_id", *dimensions, *counts, *limbs_of), upsert
