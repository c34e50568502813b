"""The summary read from rollups agrees with a naive recomputation from raw rows, on each backend.

Hypothesis generates chats and sales (out of order, across batches, currencies and time zones with
daylight-saving changes), sends them through the real pipeline (a transaction per batch, or all batches
as one commit group), and compares every figure of the
summary, for random ranges and filters, with `naive_summary` below, which reads the raw tables.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.analytics import reports, rollups
from comerix.analytics.reports import ReportQuery
from comerix.analytics.sums import local_day
from comerix.auth.service import principal_of
from comerix.contacts import service as contacts
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.index import GoalIndex
from comerix.goals.schemas import GoalCreate
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch
from comerix.telemetry.models import Conversation
from comerix.telemetry.pipeline import ingest, ingest_group
from comerix.telemetry.schemas import Item
from comerix.vocabulary import BaseValueSource, Source
from comerix.workspaces.models import Workspace
from tests.factories import make_user, make_workspace

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)  # spans Europe's and America's DST changes
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "UTC", "Pacific/Chatham"]
CURRENCIES = ["EUR", "USD", "JPY", "eur", "nope", None]
FLOWS = ["sales", "support", None]
GOALS = [
    {
        "code": "purchase",
        "kind": "conversion",
        "trigger_event": "purchase",
        "value_mode": "from_property",
        "value_property": "total",
        "currency_property": "currency",
        "base_value_property": "base",
    },
    {
        "code": "lead",
        "kind": "conversion",
        "trigger_event": "lead",
        "value_mode": "fixed",
        "fixed_value": "0.10",
        "currency": "GBP",
        "attribution_window_hours": 24,
    },
    {"code": "signup", "kind": "engagement", "trigger_event": "signup"},
    {
        "code": "handoff",
        "kind": "custom",
        "trigger_event": "handoff",
        "value_mode": "fixed",
        "fixed_value": "0.20",
    },
]


def naive_summary(session: Session, workspace: Workspace, query: ReportQuery) -> dict[str, Any]:
    """Every figure of the summary, recomputed from the raw outcomes and conversations."""
    tz = workspace.timezone
    outcomes = session.scalars(select(Outcome).where(Outcome.workspace_id == workspace.id)).all()
    chats = session.scalars(select(Conversation).where(Conversation.workspace_id == workspace.id)).all()

    def selected(o: Outcome) -> bool:
        return (
            query.start <= local_day(o.occurred_at, tz) <= query.end
            and (query.goal is None or o.goal_id == query.goal.id)
            and (query.kind is None or o.kind == query.kind)
            and (query.flow is None or o.flow_id == query.flow)
            and (query.attribution is None or o.attribution == query.attribution)
        )

    chosen = [o for o in outcomes if selected(o)]
    cohort = {
        c.id
        for c in chats
        if query.start <= local_day(c.started_at, tz) <= query.end
        and (query.flow is None or c.flow_id == query.flow)
    }
    converting = {
        o.conversation_id
        for o in outcomes
        if o.conversation_id in cohort
        and o.kind.value == "conversion"
        and o.attribution.value in ("conversation", "window")
        and (query.goal is None or o.goal_id == query.goal.id)
        and (query.kind in (None, "conversion"))
        and (query.attribution is None or o.attribution == query.attribution)
    }
    money: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for o in chosen:
        if o.value is not None and o.currency:
            money["revenue"][o.currency] += o.value
        if o.base_value is not None and o.base_currency:
            money["base"][o.base_currency] += o.base_value
            side = "chat" if o.attribution.value in ("conversation", "window") else "none"
            money[side][o.base_currency] += o.base_value
    fallback: dict[str, tuple[int, Decimal]] = {}
    for o in chosen:
        if o.base_value_source is BaseValueSource.DISPLAY_FALLBACK and o.currency and o.value is not None:
            count, value = fallback.get(o.currency, (0, Decimal(0)))
            fallback[o.currency] = (count + 1, value + o.value)
    per_goal: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        if (
            o.conversation_id in cohort
            and o.attribution.value != "none"
            and (query.goal is None or o.goal_id == query.goal.id)
            and (query.attribution is None or o.attribution == query.attribution)
            and (query.kind in (None, o.kind))
        ):
            per_goal[o.goal_code].add(o.conversation_id)
    series: dict[date, dict[str, Any]] = {}
    for o in chosen:
        period = query.interval.start_of(local_day(o.occurred_at, tz))
        point = series.setdefault(
            period, {"conversion": 0, "engagement": 0, "custom": 0, "base": defaultdict(Decimal)}
        )
        point[o.kind.value] += 1
        if o.base_value is not None and o.base_currency:
            point["base"][o.base_currency] += o.base_value
    flow_of = {c.id: c.flow_id or None for c in chats}
    base_by_flow: dict[str | None, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for o in chosen:
        if o.base_value is not None and o.base_currency:
            base_by_flow[o.flow_id or None][o.base_currency] += o.base_value
    flows = {}
    for flow in {flow_of[c] for c in cohort}:
        started = sum(flow_of[c] == flow for c in cohort)
        per_chat = {
            currency: (total / started).quantize(Decimal("0.000001"), ROUND_HALF_EVEN).normalize()
            for currency, total in base_by_flow[flow].items()
        }
        flows[flow] = (started, sum(flow_of[c] == flow for c in converting), per_chat)
    return {
        "series": {period: {**p, "base": dict(p["base"])} for period, p in series.items()},
        "flows": flows,
        "conversations": len(cohort),
        "counts": {
            kind: sum(o.kind.value == kind for o in chosen) for kind in ("conversion", "engagement", "custom")
        },
        "converting": len(converting),
        "money": {name: dict(sums) for name, sums in money.items()},
        "fallback": fallback,
        "goal_conversations": {code: len(ids) for code, ids in per_goal.items()},
    }


def rolled_up(summary: Any) -> dict[str, Any]:
    totals = summary.totals

    def as_dict(values: list[Any]) -> dict[str, Decimal]:
        return {m.currency: m.value for m in values}

    money = {
        "revenue": as_dict(totals.revenue),
        "base": as_dict(totals.base_revenue),
        "chat": as_dict(totals.chat_driven_base_revenue),
        "none": as_dict(totals.unattributed_base_revenue),
    }
    series = {
        point.period: {
            "conversion": point.conversions,
            "engagement": point.engagements,
            "custom": point.custom,
            "base": as_dict(point.base_revenue),
        }
        for point in summary.series
        if point.conversions or point.engagements or point.custom
    }
    flows = {
        row.flow: (
            row.conversations,
            row.converting_conversations,
            {m.currency: m.value.normalize() for m in row.base_revenue_per_conversation},
        )
        for row in summary.by_flow
        if row.conversations
    }
    for row in summary.by_flow:
        rate = round(row.converting_conversations / row.conversations, 4) if row.conversations else 0.0
        assert row.conversion_rate == rate
    return {
        "series": series,
        "flows": flows,
        "conversations": totals.conversations,
        "counts": {
            "conversion": totals.conversions,
            "engagement": totals.engagements,
            "custom": totals.custom,
        },
        "converting": totals.converting_conversations,
        "money": {name: sums for name, sums in money.items() if sums},
        "fallback": {f.currency: (f.outcomes, f.value) for f in totals.display_fallback},
        "goal_conversations": {row.goal: row.conversations for row in summary.by_goal if row.conversations},
    }


chat_event = st.fixed_dictionaries(
    {
        "chat": st.integers(0, 6),
        "contact": st.integers(0, 3),
        "flow": st.sampled_from(FLOWS),
        # whole days plus a time of day near the edges, where local and UTC days differ
        "minutes": st.builds(
            lambda day, at: day * 1440 + at,
            st.integers(0, 29),
            st.sampled_from([0, 1, 59, 60, 61, 119, 121, 180, 300, 345, 720, 1080, 1320, 1380, 1439]),
        ),
        "name": st.sampled_from(["message", "purchase", "lead", "signup", "handoff", "conversation_started"]),
        "in_chat": st.booleans(),
        "currency": st.sampled_from(CURRENCIES),
        "total": st.sampled_from(["0.10", "0.20", "19.99", "1", "abc", None]),
        "base": st.sampled_from(["0.30", None]),
    }
)


def workspace_with_goals(db: Database, zone: str) -> Workspace:
    """A new workspace reporting in `zone`, with the four goals of GOALS."""
    with db.transaction() as session:
        workspace = make_workspace(session, NOW, timezone=zone, base_currency="CHF")
        admin = principal_of(make_user(session, workspace, NOW))
        for body in GOALS:
            goals.create(session, workspace.id, GoalCreate(name=body["code"], **body), actor=admin, now=NOW)
    return workspace


def to_item(spec: dict[str, Any], index: int) -> Item:
    properties = {k: spec[k] for k in ("currency", "total", "base") if spec[k] is not None}
    in_chat = spec["in_chat"] or spec["name"] in ("message", "conversation_started")
    return Item(
        index=index,
        source=Source.WIDGET if in_chat else Source.SERVER,
        name=spec["name"],
        timestamp=START + timedelta(minutes=spec["minutes"]),
        event_id=None,
        conversation_id=f"c{spec['chat']}" if in_chat else None,
        contact_id=f"k{spec['contact']}",
        flow_id=spec["flow"] if in_chat else None,
        properties=properties,
    )


@pytest.fixture
def fresh(db: Database) -> Database:
    return db


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    specs=st.lists(chat_event, min_size=1, max_size=40),
    split=st.integers(1, 10),
    grouped=st.booleans(),
    start_day=st.integers(0, 29),
    days=st.integers(0, 45),
    goal=st.sampled_from([None, *[g["code"] for g in GOALS]]),
    kind=st.sampled_from([None, "conversion", "engagement", "custom"]),
    flow=st.sampled_from([None, *FLOWS[:2]]),
    attribution=st.sampled_from([None, "conversation", "window", "none"]),
    erase=st.sampled_from([False] * 3 + [True]),
    interval=st.sampled_from(["day", "week", "month"]),
)
@example(
    grouped=False,
    zone="Europe/Berlin",
    split=3,
    start_day=10,
    days=42,
    goal=None,
    kind=None,
    flow=None,
    attribution=None,
    erase=False,
    interval="week",
    specs=[
        {
            "chat": n % 3,
            "contact": n % 2,
            "flow": "sales",
            "minutes": n * 1500,
            "name": "purchase",
            "in_chat": n % 2 == 0,
            "currency": "USD",
            "total": "2.50",
            "base": None,
        }
        for n in range(28)
    ],
)  # October's last days, the whole of November (monthly rollups), and December's first days
@example(
    grouped=False,
    zone="Asia/Kathmandu",
    split=1,
    start_day=0,
    days=2,
    goal=None,
    kind=None,
    flow=None,
    attribution=None,
    erase=False,
    interval="day",
    specs=[
        {
            "chat": 0,
            "contact": 0,
            "flow": "sales",
            "minutes": 1320,
            "name": "purchase",
            "in_chat": True,
            "currency": "EUR",
            "total": "1",
            "base": None,
        }
    ],
)  # 22:00 UTC is the next day in Kathmandu
@example(
    grouped=False,
    zone="Europe/Berlin",
    split=2,
    start_day=5,
    days=0,
    goal=None,
    kind=None,
    flow=None,
    attribution=None,
    erase=False,
    interval="day",
    specs=[
        {
            "chat": 1,
            "contact": 1,
            "flow": "support",
            "minutes": 6 * 1440 + 1380,
            "name": "signup",
            "in_chat": True,
            "currency": None,
            "total": None,
            "base": None,
        }
    ],
)  # 23:00 UTC on 25 Oct: Berlin is back on CET, same day
def test_rollups_agree_with_raw_rows(
    fresh: Database,
    zone: str,
    specs: list[dict[str, Any]],
    split: int,
    grouped: bool,
    start_day: int,
    days: int,
    goal: str | None,
    kind: str | None,
    flow: str | None,
    attribution: str | None,
    erase: bool,
    interval: str,
) -> None:
    workspace = workspace_with_goals(fresh, zone)
    items = [to_item(spec, i) for i, spec in enumerate(specs)]
    index = GoalIndex()
    batches = [
        Batch(workspace.id, [Item(**{**item.__dict__, "index": i}) for i, item in enumerate(chunk)], NOW)
        for chunk in (items[part : part + split] for part in range(0, len(items), split))
    ]
    if grouped:  # as the group-commit writer does: every batch in one transaction, through the steps together
        with fresh.transaction() as session:
            ingest_group(session, batches, index, STAGES)
    else:
        for batch in batches:
            with fresh.transaction() as session:
                ingest(session, batch, index, STAGES)
    with fresh.transaction() as session:
        before_erasure = None
        if erase:
            query = ReportQuery(date(2026, 10, 1), date(2026, 12, 31))
            before_erasure = reports.summary(session, workspace, query)
            chat = session.get(Conversation, (workspace.id, "c0"))
            if chat is not None and chat.contact_id is not None:
                contacts.erase(session, workspace.id, chat.contact_id)
        params = {
            "from": (START.date() + timedelta(days=start_day)).isoformat(),
            "to": (START.date() + timedelta(days=start_day + days)).isoformat(),
            "goal": goal,
            "kind": kind,
            "flow": flow,
            "attribution": attribution,
            "interval": interval,
        }
        query = reports.parse_query(session, workspace.id, params)
        summary = reports.summary(session, workspace, query)
        if before_erasure is None:
            assert rolled_up(summary) == naive_summary(session, workspace, query)
        else:  # erasure keeps every total: compare the wide range before and after
            after = reports.summary(session, workspace, ReportQuery(date(2026, 10, 1), date(2026, 12, 31)))
            assert after.totals == before_erasure.totals
            assert after.by_goal == before_erasure.by_goal


def test_changing_the_time_zone_recomputes_the_days(db: Database) -> None:
    from comerix.workspaces import service as workspaces
    from comerix.workspaces.schemas import AnalyticsSettings

    workspace = workspace_with_goals(db, "UTC")
    specs = [
        {
            "chat": n % 3,
            "contact": n % 2,
            "flow": FLOWS[n % 3],
            "minutes": n * 97 % (5 * 1440),
            "name": ["conversation_started", "purchase", "lead", "signup"][n % 4],
            "in_chat": n % 5 != 0,
            "currency": "USD",
            "total": "1.25",
            "base": None,
        }
        for n in range(40)
    ]
    with db.transaction() as session:
        ingest(
            session,
            Batch(workspace.id, [to_item(spec, i) for i, spec in enumerate(specs)], NOW),
            GoalIndex(),
            STAGES,
        )
    with db.transaction() as session:
        stored = session.get(Workspace, workspace.id)
        assert stored is not None
        workspaces.update_analytics_settings(
            session,
            stored,
            AnalyticsSettings(base_currency="EUR", timezone="Pacific/Auckland"),
            rebuild_rollups=rollups.rebuild,
        )
    with db.transaction() as session:
        stored = session.get(Workspace, workspace.id)
        assert stored is not None
        for day in range(6):
            query = reports.parse_query(
                session,
                workspace.id,
                {
                    "from": (START.date() + timedelta(days=day)).isoformat(),
                    "to": (START.date() + timedelta(days=day)).isoformat(),
                },
            )
            assert rolled_up(reports.summary(session, stored, query)) == naive_summary(session, stored, query)
