"""The demo's sales in four currencies, built through the real pipeline on each backend: every amount in
another currency is converted into euros (the ECB's shipped quotes, then the shop's own rates carried
forward from the last of them), none falls back to its display value, and base revenue is the sum of
exactly those conversions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from sqlalchemy import func, select

from comerix import demo
from comerix.analytics import reports
from comerix.analytics.reports import ReportQuery
from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.models import metadata
from comerix.rates.reference import EcbRates
from comerix.telemetry.models import Event
from comerix.vocabulary import BaseValueSource, Source
from comerix.workspaces.models import Workspace

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # five weeks after the shipped ECB history ends
SCALE = 0.1


def test_carried_rates_hold_the_last_shipped_quote_on_each_weekday_after_it() -> None:
    history = EcbRates()
    last = history.last_bundled_day
    rates = demo.carried_rates(NOW)
    days = sorted({rate.date for rate in rates})
    assert days[0] > last
    assert days[-1] <= NOW.date() + timedelta(days=1)
    assert all(day.weekday() < 5 for day in days)
    assert len(days) == sum(
        (last + timedelta(days=n)).weekday() < 5 for n in range(1, (NOW.date() - last).days + 2)
    )
    assert {(rate.currency, rate.per_base) for rate in rates} == {
        (currency, history.per_euro(currency, last)) for currency in ("CHF", "GBP", "USD")
    }


@pytest.fixture(scope="module")
def demo_outcomes(database: Database) -> Iterator[tuple[Workspace, list[Outcome]]]:
    try:
        with database.transaction() as session:
            login = demo.create(session, now=NOW)
        demo.load_traffic(database, login.workspace_id, NOW, scale=SCALE)
        with database.transaction() as session:
            workspace = session.get_one(Workspace, login.workspace_id)
            query = select(Outcome).where(Outcome.workspace_id == workspace.id, Outcome.value.is_not(None))
            outcomes = list(session.scalars(query))
            session.expunge_all()
            yield workspace, outcomes
    finally:
        with database.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


def test_every_sale_in_another_currency_is_converted_into_euros(
    demo_outcomes: tuple[Workspace, list[Outcome]],
) -> None:
    _, outcomes = demo_outcomes
    sources = Counter((o.currency == "EUR", o.base_value_source) for o in outcomes)
    assert set(sources) == {(True, BaseValueSource.SAME_CURRENCY), (False, BaseValueSource.RATE)}
    converted = [o for o in outcomes if o.base_value_source == BaseValueSource.RATE]
    last = EcbRates().last_bundled_day
    assert {o.fx_date is not None and o.fx_date <= last for o in converted} == {True, False}  # ECB, own
    for outcome in converted:
        assert outcome.value is not None
        assert outcome.fx_rate is not None
        assert outcome.base_value == (outcome.value / outcome.fx_rate).quantize(
            Decimal("0.000001"), ROUND_HALF_EVEN
        )
        assert outcome.base_currency == "EUR"


def test_base_revenue_adds_up_in_euros_with_nothing_left_unexplained(
    database: Database, demo_outcomes: tuple[Workspace, list[Outcome]]
) -> None:
    workspace, outcomes = demo_outcomes
    first = date(2026, 9, 1)
    with database.transaction() as session:
        totals = reports.summary(session, workspace, ReportQuery(first, NOW.date())).totals
    assert totals.display_fallback == []
    assert [(m.currency, m.value) for m in totals.base_revenue] == [
        ("EUR", sum((o.base_value for o in outcomes if o.base_value is not None), Decimal(0)))
    ]


def test_the_demo_keys_were_last_used_when_the_demo_last_sent_with_each(
    database: Database, demo_outcomes: tuple[Workspace, list[Outcome]]
) -> None:
    """The widget's key sent the events, the shop's secret key its conversions, up to the demo's now."""
    workspace, _outcomes = demo_outcomes
    with database.sessions() as session:
        used = {key.kind: key.last_used_at for key in auth.list_engine_keys(session, workspace.id)}
        sent = {
            source: session.scalar(
                select(func.max(Event.received_at)).where(
                    Event.workspace_id == workspace.id, Event.source == source
                )
            )
            for source in (Source.WIDGET, Source.SERVER)
        }
    assert used == {EngineKeyKind.PUBLIC: sent[Source.WIDGET], EngineKeyKind.SECRET: sent[Source.SERVER]}
    assert all(NOW - timedelta(days=2) < at <= NOW for at in used.values() if at is not None)
    with database.sessions() as session:  # made before the traffic they sent
        first = session.scalar(select(func.min(Event.received_at)).where(Event.workspace_id == workspace.id))
        assert first is not None
        assert all(key.created_at < first for key in auth.list_engine_keys(session, workspace.id))
