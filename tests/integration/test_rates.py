"""Exchange rates through ingestion (SPEC §11), on each backend: a sale in another currency takes the
ECB's rate of its local date, a workspace's own rate wins once set, quotes imported later fill the dates
after the shipped history, and every process's book follows the revision."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from comerix.analytics import rollups
from comerix.analytics.models import (
    OutcomeDaySeries,
    OutcomeFallbackRollup,
    OutcomeMonthRollup,
    OutcomeRollup,
)
from comerix.analytics.rate_repairs import apply_rates
from comerix.auth.service import principal_of
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.rates.models import RateRevision, ReferenceRate, WorkspaceRate
from comerix.rates.service import RATES, bump_revision
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import ingest_group
from comerix.telemetry.schemas import IngestResult, Item
from comerix.vocabulary import BaseValueSource, Source
from comerix.workspaces.models import Workspace
from tests.factories import make_goal, make_user, make_workspace

FRIDAY = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)  # the shipped history's last quote: 1.1172 USD/EUR
LATER = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)  # a Saturday after it


def shop(db: Database) -> uuid.UUID:
    with db.transaction() as session:
        workspace = make_workspace(session, FRIDAY)
        actor = principal_of(make_user(session, workspace, FRIDAY))
        make_goal(
            session,
            actor,
            FRIDAY,
            code="purchase",
            trigger_event="purchase",
            value_mode="from_property",
            value_property="total",
            currency_property="currency",
        )
        return workspace.id


def sell(db: Database, workspace_id: uuid.UUID, at: datetime, total: str, currency: str) -> Outcome:
    item = Item(
        index=0,
        source=Source.SERVER,
        name="purchase",
        timestamp=at,
        event_id=f"order-{uuid.uuid4().hex}",
        conversation_id=None,
        contact_id="ann",
        flow_id=None,
        properties={"total": total, "currency": currency},
    )
    with db.transaction() as session:
        (answer,) = ingest_group(session, [Batch(workspace_id, [item], at)], GoalIndex(), STAGES)
    assert isinstance(answer, IngestResult)
    with db.sessions() as session:
        outcome_id = uuid.UUID(answer.results[0].outcomes[0].id)
        found = session.get(Outcome, (workspace_id, outcome_id))
        assert found is not None
        return found


def test_a_sale_in_dollars_takes_the_ecbs_rate_of_its_day(db: Database) -> None:
    ws = shop(db)
    outcome = sell(db, ws, FRIDAY, "129.50", "USD")
    assert (outcome.base_value, outcome.base_currency) == (Decimal("115.914787"), "EUR")  # 129.50 / 1.1172
    assert (outcome.base_value_source, outcome.fx_rate, outcome.fx_date) == (
        BaseValueSource.RATE,
        Decimal("1.1172"),
        date(2026, 10, 30),
    )
    euro = sell(db, ws, FRIDAY, "89.00", "EUR")
    assert (euro.base_value, euro.base_value_source, euro.fx_rate) == (
        Decimal("89.00"),
        BaseValueSource.SAME_CURRENCY,
        None,
    )


def test_without_a_rate_the_outcome_says_it_took_the_display_value(db: Database) -> None:
    ws = shop(db)
    outcome = sell(db, ws, LATER, "129.50", "USD")  # five weeks after the shipped history
    assert (outcome.base_value, outcome.base_value_source, outcome.fx_date) == (
        Decimal("129.50"),
        BaseValueSource.DISPLAY_FALLBACK,
        None,
    )


def test_the_workspaces_own_rate_wins_once_set(db: Database) -> None:
    ws = shop(db)
    assert sell(db, ws, FRIDAY, "100", "USD").fx_rate == Decimal("1.1172")  # the book is now held
    with db.transaction() as session:
        session.add(
            WorkspaceRate(
                workspace_id=ws,
                currency="USD",
                day=date(2026, 10, 29),
                per_base=Decimal("1.25"),
                set_at=FRIDAY,
            )
        )
        bump_revision(session, ws)
    outcome = sell(db, ws, FRIDAY, "100", "USD")
    assert (outcome.base_value, outcome.fx_rate, outcome.fx_date) == (
        Decimal("80.000000"),
        Decimal("1.25"),
        date(2026, 10, 29),
    )


def test_quotes_imported_later_convert_the_dates_after_the_shipped_history(db: Database) -> None:
    first, second = shop(db), shop(db)
    assert sell(db, first, LATER, "50", "USD").base_value_source is BaseValueSource.DISPLAY_FALLBACK
    with db.transaction() as session:
        session.add(
            ReferenceRate(
                day=date(2026, 12, 4), currency="USD", per_euro=Decimal("1.1642"), imported_at=LATER
            )
        )
        bump_revision(session)  # every workspace
    for ws in (first, second):
        outcome = sell(db, ws, LATER, "50", "USD")
        assert (outcome.base_value, outcome.fx_rate, outcome.fx_date) == (
            Decimal("42.947947"),  # 50 / 1.1642
            Decimal("1.1642"),
            date(2026, 12, 4),
        )
    with db.sessions() as session:
        revisions = dict(session.execute(select(RateRevision.workspace_id, RateRevision.revision)).all())
    assert (revisions[first], revisions[second]) == (1, 1)


def test_a_book_is_built_again_only_when_its_revision_moves_on(db: Database) -> None:
    ws = shop(db)
    with db.sessions() as session:
        held = RATES.for_workspace(session, ws, "EUR", "Europe/Berlin", 0)
        assert RATES.for_workspace(session, ws, "EUR", "Europe/Berlin", 0) is held
        assert RATES.for_workspace(session, ws, "EUR", "Europe/Berlin", 1) is not held
        assert RATES.for_workspace(session, ws, "EUR", "UTC", 1).timezone == "UTC"  # a new time zone


def rollup_rows(db: Database, workspace_id: uuid.UUID) -> dict[str, set[tuple[object, ...]]]:
    """The workspace's outcome rollups as sets of rows (without zero rows: a delta may leave one)."""
    tables = (OutcomeRollup, OutcomeMonthRollup, OutcomeDaySeries, OutcomeFallbackRollup)
    found: dict[str, set[tuple[object, ...]]] = {}
    with db.sessions() as session:
        for table in tables:
            columns = [c for c in table.__table__.columns if c.key != "workspace_id"]
            rows = session.execute(select(*columns).where(table.workspace_id == workspace_id)).all()
            found[table.__tablename__] = {tuple(row) for row in rows if row.outcomes}
    return found


def test_rates_apply_converts_what_a_rate_now_explains_and_the_rollups_follow(db: Database) -> None:
    ws = shop(db)
    converted_before = sell(db, ws, FRIDAY, "100", "USD")
    waiting = sell(db, ws, LATER, "129.50", "USD")
    unknown = sell(db, ws, LATER, "1500", "ARS")  # a currency the ECB does not publish
    with db.transaction() as session:
        session.add(
            ReferenceRate(
                day=date(2026, 12, 4), currency="USD", per_euro=Decimal("1.1642"), imported_at=LATER
            )
        )
        # a corrected quote for a date already converted: what was reported stays as it was
        session.add(
            ReferenceRate(day=date(2026, 10, 30), currency="USD", per_euro=Decimal("1.2"), imported_at=LATER)
        )
        bump_revision(session)
    with db.transaction() as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        applied = apply_rates(session, workspace)
    assert (applied.looked_at, applied.converted, applied.left) == (2, 1, 1)
    with db.sessions() as session:
        now = {o.id: o for o in session.scalars(select(Outcome).where(Outcome.workspace_id == ws))}
    assert (now[waiting.id].base_value, now[waiting.id].base_value_source, now[waiting.id].fx_rate) == (
        Decimal("111.235183"),  # 129.50 / 1.1642
        BaseValueSource.RATE,
        Decimal("1.1642"),
    )
    assert now[converted_before.id].fx_rate == Decimal("1.1172")
    assert now[unknown.id].base_value_source is BaseValueSource.DISPLAY_FALLBACK

    applied_rollups = rollup_rows(db, ws)
    with db.transaction() as session:
        rollups.rebuild(session, ws, "Europe/Berlin")  # every rollup recomputed from the outcomes
    assert applied_rollups == rollup_rows(db, ws)
    assert {row[5] for row in applied_rollups["outcome_fallback_rollups"]} == {"ARS"}

    with db.transaction() as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        again = apply_rates(session, workspace, since=date(2026, 12, 1))
    assert (again.looked_at, again.converted) == (1, 0)
