"""Exchange rates (SPEC §11): how each outcome's base value was found (`base_value_source`, and for a
converted one `fx_rate` and `fx_date`), the ECB quotes imported since the shipped history
(`reference_rates`), each workspace's own rates (`workspace_rates`) and the revision that tells every
process its rate book is stale (`rate_revisions`).

`outcome_fallback_rollups` counts the `display_fallback` outcomes as `outcome_rollups` counts them all
(by local day in the workspace's time zone, in millionths as two limbs), so that reports show them apart.

Outcomes stored before are marked as truthfully as they can be (docs/decisions.md, "Exchange rates"):
no value, no source; the display currency being the base currency, `same_currency`; a base value that
differs from the display value, `event` (only an event could have sent it); else `display_fallback`,
the old rule, which `comerix rates apply` can convert once rates exist. (An event that sent a base value
written exactly as its display value, in another currency, is marked `display_fallback` too: the two
cannot be told apart afterwards.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
EXACT_DECIMAL = sa.Numeric().with_variant(sa.String(64), "sqlite")
SOURCES = ("event", "same_currency", "rate", "display_fallback")

_MARK = (
    "UPDATE outcomes SET base_value_source = CASE"
    " WHEN value IS NULL THEN NULL"
    " WHEN currency = base_currency THEN 'same_currency'"
    " WHEN base_value <> value THEN 'event'"
    " ELSE 'display_fallback' END"
)


def upgrade() -> None:
    op.create_table(
        "rate_revisions",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_rate_revisions_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_rate_revisions")),
    )
    op.create_table(
        "reference_rates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_euro", EXACT_DECIMAL, nullable=False),
        sa.Column("imported_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", name=op.f("pk_reference_rates")),
    )
    op.create_table(
        "workspace_rates",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("per_base", EXACT_DECIMAL, nullable=False),
        sa.Column("set_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_workspace_rates_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "currency", "day", name=op.f("pk_workspace_rates")),
    )
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("base_value_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("fx_rate", EXACT_DECIMAL, nullable=True))
        batch.add_column(sa.Column("fx_date", sa.Date(), nullable=True))
        batch.create_check_constraint(
            "base_value_source", " OR ".join(f"base_value_source = '{source}'" for source in SOURCES)
        )
    op.execute(_MARK)
    op.create_table(
        "outcome_fallback_rollups",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.String(length), nullable=False) for name, length in _DIMENSIONS),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_outcome_fallback_rollups_workspace_id_workspaces"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "day",
            *(name for name, _ in _DIMENSIONS),
            name=op.f("pk_outcome_fallback_rollups"),
        ),
    )
    _count_fallbacks(op.get_bind())


# The dimensions and sums of `outcome_rollups` as revision 0015 finds them.
_DIMENSIONS = (
    ("goal_id", 32),
    ("kind", 16),
    ("flow_id", 128),
    ("attribution", 16),
    ("currency", 3),
    ("base_currency", 3),
)
_SUMS = ("outcomes", "value_high", "value_low", "base_value_high", "base_value_low")
_LIMB = 10**18
_MILLIONTH = Decimal("0.000001")


def _count_fallbacks(connection: sa.Connection) -> None:
    """The `display_fallback` outcomes into `outcome_fallback_rollups`, by each workspace's local day."""
    tables = sa.MetaData()
    outcomes = sa.Table(
        "outcomes",
        tables,
        sa.Column("workspace_id", sa.Uuid()),
        sa.Column("occurred_at", UTC_TIMESTAMP),
        sa.Column("goal_id", sa.Uuid()),
        *(
            sa.Column(name, sa.String())
            for name in ("kind", "flow_id", "attribution", "currency", "base_currency")
        ),
        sa.Column("value", EXACT_DECIMAL),
        sa.Column("base_value", EXACT_DECIMAL),
        sa.Column("base_value_source", sa.String()),
    )
    workspaces = sa.Table(
        "workspaces", tables, sa.Column("id", sa.Uuid()), sa.Column("timezone", sa.String())
    )
    rollups = sa.Table(
        "outcome_fallback_rollups",
        tables,
        sa.Column("workspace_id", sa.Uuid()),
        sa.Column("day", sa.Date()),
        *(sa.Column(name, sa.String()) for name, _ in _DIMENSIONS),
        *(sa.Column(name, sa.BigInteger()) for name in _SUMS),
    )
    read = (
        sa.select(outcomes, workspaces.c.timezone)
        .join(workspaces, workspaces.c.id == outcomes.c.workspace_id)
        .where(outcomes.c.base_value_source == "display_fallback")
    )
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in connection.execute(read).mappings():
        moment: datetime = row["occurred_at"]
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        key = (
            row["workspace_id"],
            moment.astimezone(ZoneInfo(row["timezone"])).date(),
            uuid.UUID(str(row["goal_id"])).hex,
            row["kind"],
            row["flow_id"] or "",
            row["attribution"],
            row["currency"] or "",
            row["base_currency"] or "",
        )
        entry = sums.setdefault(key, [0, 0, 0])
        entry[0] += 1
        entry[1] += _micros(row["value"])
        entry[2] += _micros(row["base_value"])
    rows = [
        dict(
            zip(("workspace_id", "day", *(name for name, _ in _DIMENSIONS)), key, strict=True),
            outcomes=n,
            value_high=divmod(value, _LIMB)[0],
            value_low=divmod(value, _LIMB)[1],
            base_value_high=divmod(base, _LIMB)[0],
            base_value_low=divmod(base, _LIMB)[1],
        )
        for key, (n, value, base) in sums.items()
    ]
    if rows:
        connection.execute(sa.insert(rollups), rows)


def _micros(amount: Any) -> int:
    if amount is None:
        return 0
    return int(Decimal(str(amount)).quantize(_MILLIONTH, ROUND_HALF_EVEN) * 1_000_000)


def downgrade() -> None:
    op.drop_table("outcome_fallback_rollups")
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_constraint(op.f("ck_outcomes_base_value_source"), type_="check")
        batch.drop_column("fx_date")
        batch.drop_column("fx_rate")
        batch.drop_column("base_value_source")
    op.drop_table("workspace_rates")
    op.drop_table("reference_rates")
    op.drop_table("rate_revisions")
