"""What the Analytics Hub page asks of the reports besides the summary's figures, on each backend: the
flows its filter offers, and the by-currency breakdown in money (not in stored millionths)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from comerix.analytics import reports
from comerix.analytics.reports import ReportQuery
from comerix.auth.service import principal_of
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import ingest
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source
from comerix.workspaces.models import Workspace
from tests.factories import make_goal, make_user, make_workspace

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def event(index: int, name: str, flow: str | None, **properties: str) -> Item:
    return Item(
        index=index,
        source=Source.WIDGET,
        name=name,
        timestamp=NOW - timedelta(hours=index + 1),
        event_id=None,
        conversation_id=f"chat-{flow}-{index}",
        contact_id="ann",
        flow_id=flow,
        properties=properties,
    )


def shop(db: Database, items: list[Item]) -> Workspace:
    with db.transaction() as session:
        workspace = make_workspace(session, NOW)
        admin = principal_of(make_user(session, workspace, NOW))
        make_goal(
            session,
            admin,
            NOW,
            code="sale",
            trigger_event="sale",
            value_mode="from_property",
            value_property="total",
            currency_property="currency",
        )
    with db.transaction() as session:
        ingest(session, Batch(workspace.id, items, NOW), GoalIndex(), STAGES)
    return workspace


def test_the_flow_choices_are_the_flows_seen_in_this_workspace_only(db: Database) -> None:
    ours = shop(
        db,
        [
            event(0, "conversation_started", "support-bot"),
            event(1, "sale", "sales-assistant", total="1", currency="EUR"),
            event(2, "conversation_started", None),
        ],
    )
    shop(db, [event(0, "conversation_started", "someone-elses-flow")])
    with db.sessions() as session:
        assert reports.flows_seen(session, ours.id) == ["sales-assistant", "support-bot"]


def test_the_by_currency_breakdown_is_in_money(db: Database) -> None:
    workspace = shop(
        db,
        [
            event(0, "sale", "sales-assistant", total="12.50", currency="EUR"),
            event(1, "sale", "sales-assistant", total="0.25", currency="EUR"),
            event(2, "sale", "sales-assistant", total="100", currency="JPY"),
        ],
    )
    with db.sessions() as session:
        stored = session.get(Workspace, workspace.id)
        assert stored is not None
        summary = reports.summary(session, stored, ReportQuery(date(2026, 11, 1), date(2026, 11, 2)))
    assert [(row.currency, row.outcomes, row.revenue) for row in summary.by_currency] == [
        ("EUR", 2, Decimal("12.75")),
        ("JPY", 1, Decimal("100")),
    ]
    assert [(m.currency, m.value) for m in summary.totals.revenue] == [
        (r.currency, r.revenue) for r in summary.by_currency
    ]
