"""Rollup money summed exactly over SPEC §2's whole range: each sum of millionths (`value_micros`,
`base_value_micros`, one 64-bit integer that 9,223,372,036,854.775807 units filled) becomes two
64-bit limbs, `*_high` * 10^18 + `*_low` with 0 ≤ low < 10^18 (`comerix.money.LIMB`).

Upgrading splits every stored sum exactly (floor division, on both backends). On SQLite, a sum that
had already overflowed was turned into a float by SQLite's `+` and lost digits: the money rollups of
those workspaces are counted again from their stored outcomes, as ingestion counts them. Downgrading
joins the limbs again, and refuses (changing nothing) when a sum no longer fits in 64 bits.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LIMB = 10**18
MONEY = {
    "outcome_rollups": ("value", "base_value"),
    "outcome_month_rollups": ("value", "base_value"),
    "outcome_day_series": ("base_value",),
}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    overflowed = _overflowed_workspaces() if sqlite else set()
    for table, measures in MONEY.items():
        with op.batch_alter_table(table) as batch:
            for m in measures:
                batch.add_column(sa.Column(f"{m}_high", sa.BigInteger(), nullable=True))
                batch.add_column(sa.Column(f"{m}_low", sa.BigInteger(), nullable=True))
        # Integer division and remainder truncate toward zero on both backends: a negative sum with a
        # remainder takes one more from high, so that low is the non-negative floor remainder.
        sets = []
        for m in measures:
            old, rest = f"{m}_micros", f"{m}_micros % {LIMB}"
            sets.append(f"{m}_high = {old} / {LIMB} - CASE WHEN {rest} < 0 THEN 1 ELSE 0 END")
            sets.append(f"{m}_low = {rest} + CASE WHEN {rest} < 0 THEN {LIMB} ELSE 0 END")
        op.execute(f"UPDATE {table} SET {', '.join(sets)}")  # noqa: S608 (no input: the SQL is fixed)
        with op.batch_alter_table(table) as batch:
            for m in measures:
                batch.alter_column(f"{m}_high", existing_type=sa.BigInteger(), nullable=False)
                batch.alter_column(f"{m}_low", existing_type=sa.BigInteger(), nullable=False)
                batch.drop_column(f"{m}_micros")
    for workspace in sorted(overflowed):
        _count_money_again(workspace)


def downgrade() -> None:
    for table, measures in MONEY.items():
        too_big = " OR ".join(
            f"{m}_high > 9 OR {m}_high < -10 OR ({m}_high = 9 AND {m}_low > {INT64_MAX - 9 * LIMB}) "
            f"OR ({m}_high = -10 AND {m}_low < {INT64_MIN + 10 * LIMB})"
            for m in measures
        )
        found = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {table} WHERE {too_big}")).scalar()  # noqa: S608
        if found:
            raise RuntimeError(
                f"{found} rows of {table} hold sums beyond 64-bit millionths, which revision 0008 cannot "
                "store: nothing was changed"
            )
    for table, measures in MONEY.items():
        with op.batch_alter_table(table) as batch:
            for m in measures:
                batch.add_column(sa.Column(f"{m}_micros", sa.BigInteger(), nullable=True))
        # high * LIMB alone overflows for high = -10: a negative high lends one LIMB to low first.
        sets = [
            f"{m}_micros = CASE WHEN {m}_high < 0 THEN ({m}_high + 1) * {LIMB} + ({m}_low - {LIMB}) "
            f"ELSE {m}_high * {LIMB} + {m}_low END"
            for m in measures
        ]
        op.execute(f"UPDATE {table} SET {', '.join(sets)}")  # noqa: S608 (no input: the SQL is fixed)
        with op.batch_alter_table(table) as batch:
            for m in measures:
                batch.alter_column(f"{m}_micros", existing_type=sa.BigInteger(), nullable=False)
                batch.drop_column(f"{m}_high")
                batch.drop_column(f"{m}_low")


def _overflowed_workspaces() -> set[str]:
    """SQLite: the workspaces with a money sum that overflowed into a float."""
    found: set[str] = set()
    for table, measures in MONEY.items():
        floats = " OR ".join(f"typeof({m}_micros) = 'real'" for m in measures)
        rows = op.get_bind().execute(sa.text(f"SELECT DISTINCT workspace_id FROM {table} WHERE {floats}"))  # noqa: S608
        found.update(row[0] for row in rows)
    return found


def _count_money_again(workspace: str) -> None:
    """SQLite: the workspace's outcome rollups counted from its outcomes, as ingestion does (local days
    of its reporting time zone; '' for a missing dimension; millionths rounded half-even)."""
    connection = op.get_bind()
    zone = ZoneInfo(
        connection.execute(
            sa.text("SELECT timezone FROM workspaces WHERE id = :w"), {"w": workspace}
        ).scalar_one()
    )
    cells: dict[str, dict[tuple[Any, ...], list[int]]] = {
        table: defaultdict(lambda: [0, 0, 0]) for table in MONEY
    }
    outcomes = connection.execute(
        sa.text(
            "SELECT occurred_at, goal_id, kind, flow_id, attribution, currency, base_currency, value, "
            "base_value FROM outcomes WHERE workspace_id = :w"
        ),
        {"w": workspace},
    )
    for occurred, goal, kind, flow, attribution, currency, base_currency, value, base_value in outcomes:
        day = datetime.fromisoformat(occurred).replace(tzinfo=UTC).astimezone(zone).date()
        dimensions = (goal, kind, flow or "", attribution, currency or "", base_currency or "")
        amounts = (_micros(value), _micros(base_value))
        for table, key in (
            ("outcome_rollups", (day, *dimensions)),
            ("outcome_month_rollups", (day.replace(day=1), *dimensions)),
            ("outcome_day_series", (day, kind, base_currency or "")),
        ):
            cell = cells[table][key]
            cell[0] += 1
            cell[1] += amounts[0]
            cell[2] += amounts[1]
    for table, measures in MONEY.items():
        connection.execute(sa.text(f"DELETE FROM {table} WHERE workspace_id = :w"), {"w": workspace})  # noqa: S608
        first, *names = _dimensions(table)
        rows = []
        for (period, *rest), (n, value, base) in cells[table].items():
            row: dict[str, Any] = {"workspace_id": workspace, first: period.isoformat(), "outcomes": n}
            row |= dict(zip(names, rest, strict=True))
            sums = {"value": value, "base_value": base}
            for m in measures:
                row[f"{m}_high"], row[f"{m}_low"] = divmod(sums[m], LIMB)
            rows.append(row)
        if rows:
            columns = ", ".join(rows[0])
            values = ", ".join(f":{c}" for c in rows[0])
            connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)  # noqa: S608


def _dimensions(table: str) -> tuple[str, ...]:
    if table == "outcome_day_series":
        return ("day", "kind", "base_currency")
    first = "month" if table == "outcome_month_rollups" else "day"
    return (first, "goal_id", "kind", "flow_id", "attribution", "currency", "base_currency")


def _micros(amount: str | None) -> int:
    if amount is None:
        return 0
    return int(Decimal(amount).quantize(Decimal("0.000001"), ROUND_HALF_EVEN) * 1_000_000)
