"""Sums of money at SPEC §2's limits, on each backend: the report's figures equal an exact `Decimal`
recomputation, whatever the amounts, however many of them share a rollup cell, and however the writer
took them (a transaction per batch, or a commit group)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from comerix.analytics import reports, rollups
from comerix.analytics.reports import ReportQuery
from comerix.auth.service import principal_of
from comerix.db import Database
from comerix.db.bulk import codec_for
from comerix.goals import service as goals
from comerix.goals.index import GoalIndex
from comerix.goals.schemas import GoalCreate
from comerix.ingestion import STAGES
from comerix.money import MAX_AMOUNT, MIN_AMOUNT, to_micros
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import ingest, ingest_group
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source
from comerix.workspaces.models import Workspace
from tests.factories import make_user, make_workspace

NOW = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
FIRST = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the last day of a month, then a whole one, then more
SALE = {
    "code": "sale",
    "name": "Sale",
    "kind": "conversion",
    "trigger_event": "sale",
    "value_mode": "from_property",
    "value_property": "total",
    "currency_property": "currency",
    "base_value_property": "base",
}
EDGES = [
    MAX_AMOUNT,
    MIN_AMOUNT,
    Decimal(0),
    Decimal("0.000001"),
    Decimal("-0.000001"),
    MAX_AMOUNT - Decimal("0.000001"),
    Decimal("9223372036854.775807"),  # the old 64-bit limit in millionths, and one past it
    Decimal("9223372036854.775808"),
    Decimal("-9223372036854.775809"),
]
amount = st.one_of(
    st.sampled_from(EDGES),
    st.decimals(min_value=MIN_AMOUNT, max_value=MAX_AMOUNT, places=6, allow_nan=False, allow_infinity=False),
)
sale = st.fixed_dictionaries(
    {
        "day": st.sampled_from([0, 0, 1, 2, 31, 32]),  # few cells, many amounts in each
        "total": amount,
        "base": st.one_of(st.none(), amount),
        "currency": st.sampled_from(["EUR", "IDR"]),
    }
)


def shop(db: Database) -> Workspace:
    with db.transaction() as session:
        workspace = make_workspace(session, NOW, timezone="UTC", base_currency="VND")
        admin = principal_of(make_user(session, workspace, NOW))
        goals.create(session, workspace.id, GoalCreate(**SALE), actor=admin, now=NOW)
    return workspace


def item(spec: dict[str, Any], index: int) -> Item:
    properties = {"total": str(spec["total"]), "currency": spec["currency"]}
    if spec["base"] is not None:
        properties["base"] = str(spec["base"])
    return Item(
        index=index,
        source=Source.SERVER,
        name="sale",
        timestamp=FIRST + timedelta(days=spec["day"]),
        event_id=None,
        conversation_id=None,
        contact_id=None,
        flow_id=None,
        properties=properties,
    )


def exact(specs: list[dict[str, Any]], days: range) -> dict[str, dict[str, Decimal]]:
    """Revenue per currency and base revenue, summed in Decimal with digits to spare."""
    sums: dict[str, dict[str, Decimal]] = {"revenue": defaultdict(Decimal), "base": defaultdict(Decimal)}
    with localcontext(prec=80):
        for spec in specs:
            if spec["day"] in days:
                sums["revenue"][spec["currency"]] += spec["total"]
                sums["base"]["VND"] += spec["total"] if spec["base"] is None else spec["base"]
    return {name: dict(by_currency) for name, by_currency in sums.items()}


def reported(summary: Any) -> dict[str, dict[str, Decimal]]:
    totals = summary.totals
    return {
        "revenue": {m.currency: m.value for m in totals.revenue},
        "base": {m.currency: m.value for m in totals.base_revenue},
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(sale, min_size=1, max_size=60), split=st.integers(1, 12), grouped=st.booleans())
@example(
    specs=[{"day": 0, "total": MAX_AMOUNT, "base": MIN_AMOUNT, "currency": "IDR"}] * 60,
    split=1,
    grouped=False,
)  # a carry into the high limb at every write, and a borrow for the negative base values
def test_sums_at_the_limits_equal_the_exact_decimal_sums(
    db: Database, specs: list[dict[str, Any]], split: int, grouped: bool
) -> None:
    workspace = shop(db)
    items = [item(spec, i) for i, spec in enumerate(specs)]
    batches = [
        Batch(
            workspace.id,
            [Item(**{**one.__dict__, "index": i}) for i, one in enumerate(items[p : p + split])],
            NOW,
        )
        for p in range(0, len(items), split)
    ]
    if grouped:
        with db.transaction() as session:
            ingest_group(session, batches, GoalIndex(), STAGES)
    else:
        for batch in batches:
            with db.transaction() as session:
                ingest(session, batch, GoalIndex(), STAGES)
    first = FIRST.date()
    with db.transaction() as session:
        for start, end in ((0, 32), (1, 30), (0, 0), (2, 31)):  # months, days, and both around a month
            query = ReportQuery(first + timedelta(days=start), first + timedelta(days=end))
            summary = reports.summary(session, workspace, query)
            expected = exact(specs, range(start, end + 1))
            assert reported(summary) == expected, (start, end)
            with localcontext(prec=80):
                series = sum((m.value for point in summary.series for m in point.base_revenue), Decimal(0))
                assert series == sum(expected["base"].values(), Decimal(0))


MILLION = 1_000_000


def test_a_million_outcomes_at_the_upper_limit_sum_exactly(db: Database) -> None:
    """A million outcomes valued at the upper limit (base value at the lower one), added by the rollup
    writer 1,000 at a time (as a group of that many outcomes of one cell would be) into 40 days: each
    day's cell takes 25 upserts, November's month cell 750, and each upsert carries into the high
    limb. The report reads both kinds of rows. Summed in Python first, so it takes seconds."""
    with db.transaction() as session:
        workspace = make_workspace(session, NOW, timezone="UTC", base_currency="EUR")
    goal = uuid.uuid4().hex
    micros = 1000 * to_micros(MAX_AMOUNT)
    codec = codec_for(db.engine.dialect.name)
    for first in range(0, MILLION // 1000, 10):
        with db.transaction() as session:
            for write in range(first, first + 10):  # one statement each: every one adds to the last
                day = date(2026, 11, 1) + timedelta(days=write % 40)
                cell = rollups.OutcomeKey(day, goal, "conversion", "", "none", "IDR", "EUR")
                rollups._add_money(session.connection(), codec, workspace.id, {cell: [1000, micros, -micros]})
    with db.transaction() as session:
        summary = reports.summary(session, workspace, ReportQuery(date(2026, 11, 1), date(2026, 12, 10)))
    with localcontext(prec=80):
        assert reported(summary) == {
            "revenue": {"IDR": MILLION * MAX_AMOUNT},
            "base": {"EUR": MILLION * MIN_AMOUNT},
        }
        assert str(summary.totals.revenue[0].value) == "999999999999999999999.00"  # IDR: 2 minor digits
        assert summary.totals.conversions == MILLION
        assert sum(p.conversions for p in summary.series) == MILLION
        assert sum((p.base_revenue[0].value for p in summary.series), Decimal(0)) == MILLION * MIN_AMOUNT
