"""The contacts admin API over HTTP, on each backend: profile, erasure, tenancy, permissions, errors."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from unittest.mock import ANY

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.contacts.views import router
from comerix.conversions.attribution import AttributionKind
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.goals.models import Goal
from comerix.telemetry.models import Contact, Conversation, Event
from comerix.vocabulary import BaseValueSource, Source
from tests.factories import Member, Shop, make_goal, make_member

HOUR = timedelta(hours=1)


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The client, with the contacts router mounted if the app does not route it yet."""
    app = cast(FastAPI, client.app)
    if not any(getattr(route, "path", "").startswith("/api/v1/contacts") for route in app.routes):
        app.include_router(router)
    return client


@pytest.fixture
def admin(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


@pytest.fixture
def goal(db: Database, admin: Member, clock: FixedClock) -> Goal:
    with db.transaction() as session:
        return make_goal(
            session, admin.principal, clock.now(), code="purchase", name="Purchase", is_primary=True
        )


def seed_contact(db: Database, goal: Goal, contact_id: str, start: datetime) -> None:
    """A contact with one chat, two events in it, and two purchases of 0.10 and 0.20 EUR."""
    workspace_id = goal.workspace_id
    with db.transaction() as session:
        session.add(
            Contact(workspace_id=workspace_id, id=contact_id, first_seen_at=start, last_seen_at=start + HOUR)
        )
        session.add(
            Conversation(
                workspace_id=workspace_id,
                id=f"chat-{contact_id}",
                contact_id=contact_id,
                flow_id="sales",
                started_at=start,
                last_activity_at=start + HOUR,
                ended_at=None,
            )
        )
        for offset in (0, 1):
            session.add(event(workspace_id, contact_id, start + offset * HOUR))
            session.add(outcome(goal, contact_id, start + offset * HOUR, ("0.10", "0.20")[offset]))


def event(workspace_id: uuid.UUID, contact_id: str, at: datetime) -> Event:
    return Event(
        workspace_id=workspace_id,
        name="message_sent",
        timestamp=at,
        received_at=at,
        conversation_id=f"chat-{contact_id}",
        contact_id=contact_id,
        source=Source.WIDGET,
        properties={"text": "my address is…"},
    )


def outcome(goal: Goal, contact_id: str, at: datetime, base: str) -> Outcome:
    return Outcome(
        workspace_id=goal.workspace_id,
        goal_id=goal.id,
        goal_code=goal.code,
        kind=goal.kind,
        event_ref=uuid.uuid4(),
        occurred_at=at,
        recorded_at=at,
        value=Decimal(base),
        currency="EUR",
        base_value=Decimal(base),
        base_currency="EUR",
        base_value_source=BaseValueSource.SAME_CURRENCY,
        attribution=AttributionKind.CONVERSATION,
        conversation_id=f"chat-{contact_id}",
        flow_id="sales",
        contact_id=contact_id,
        source=Source.WIDGET,
    )


def count(db: Database, model: type[Any], **where: Any) -> int:
    with db.transaction() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(query) or 0)


def assert_not_found(response: Any, contact_id: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {
        "error": {
            "code": "contact_not_found",
            "message": f"no contact {contact_id!r} in this workspace",
            "details": [],
        }
    }


def test_a_profile_over_http(
    api: TestClient, admin: Member, goal: Goal, db: Database, clock: FixedClock
) -> None:
    seed_contact(db, goal, "c-1", clock.now())

    response = api.get("/api/v1/contacts/c-1", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "contact_id": "c-1",
        "first_seen_at": "2026-11-02T09:30:00Z",
        "last_seen_at": "2026-11-02T10:30:00Z",
        "conversations": [
            {
                "id": "chat-c-1",
                "started_at": "2026-11-02T09:30:00Z",
                "last_activity_at": "2026-11-02T10:30:00Z",
                "ended_at": None,
                "flow_id": "sales",
            }
        ],
        "goals": [
            {
                "goal": "purchase",
                "name": "Purchase",
                "kind": "conversion",
                "count": 2,
                "first_completed_at": "2026-11-02T09:30:00Z",
                "last_completed_at": "2026-11-02T10:30:00Z",
                "base_value": [{"currency": "EUR", "value": "0.30"}],
            }
        ],
        "outcomes": [
            {
                "id": ANY,
                "goal": "purchase",
                "name": "Purchase",
                "kind": "conversion",
                "occurred_at": occurred_at,
                "value": value,
                "currency": "EUR",
                "base_value": value,
                "base_currency": "EUR",
                "base_value_source": "same_currency",
                "fx_rate": None,
                "fx_date": None,
                "value_error": None,
                "attribution": "conversation",
                "conversation_id": "chat-c-1",
                "source": "widget",
            }
            for occurred_at, value in (("2026-11-02T10:30:00Z", "0.20"), ("2026-11-02T09:30:00Z", "0.10"))
        ],
        "cycles": [],
    }


def test_a_profile_says_how_each_base_value_was_found_and_which_chat_got_the_credit(
    api: TestClient, db: Database, clock: FixedClock
) -> None:
    """Three sales in other currencies, reported by the shop's backend with no conversation, each
    credited by window to the contact's chat: one converted with the workspace's own rate, one (a week
    earlier, before that rate) with the ECB's of the Friday before a Sunday, one in a currency the ECB
    does not publish."""
    shop = Shop(api, db, clock)
    shop.goal(
        code="sale",
        name="Sale",
        kind="conversion",
        trigger_event="sale",
        value_mode="from_property",
        value_property="total",
        currency_property="currency",
    )
    now = clock.now()
    rates = {"rates": [{"currency": "USD", "date": now.date().isoformat(), "per_base": "1.25"}]}
    assert api.put("/api/v1/settings/rates", json=rates, headers=shop.admin.headers).status_code == 200
    chat = {"conversation_id": "chat-1", "contact_id": "ann"}
    for name, days_before in (("conversation_started", 9), ("message_sent", 1)):
        moment = (now - timedelta(days=days_before)).isoformat()
        shop.send("/events", {"name": name, "timestamp": moment, **chat})
    for event_id, days_before, total, currency in (
        ("o-1", 0, "100", "USD"),
        ("o-2", 8, "50", "USD"),
        ("o-3", 8.5, "1000000", "VND"),
    ):
        moment = (now - timedelta(days=days_before)).isoformat()
        sale = {"event": "sale", "event_id": event_id, "contact_id": "ann", "timestamp": moment}
        shop.send("/conversions", sale | {"properties": {"total": total, "currency": currency}})

    profile = api.get("/api/v1/contacts/ann", headers=shop.admin.headers).json()
    found = [
        (o["value"], o["currency"], o["base_value"], o["base_value_source"], o["fx_rate"], o["fx_date"])
        for o in profile["outcomes"]
    ]
    assert now.date().isoformat() == "2026-11-02"  # o-2 on Sunday 25 October
    assert found == [
        ("100", "USD", "80.000000", "rate", "1.25", "2026-11-02"),
        ("50", "USD", "44.670776", "rate", "1.1193", "2026-10-23"),  # the ECB's published quote
        ("1000000", "VND", "1000000", "display_fallback", None, None),
    ]
    credit = {(o["conversation_id"], o["attribution"], o["source"]) for o in profile["outcomes"]}
    assert credit == {("chat-1", "window", "server")}


def test_unknown_and_other_workspaces_contacts_are_not_found(
    api: TestClient, admin: Member, goal: Goal, db: Database, clock: FixedClock
) -> None:
    seed_contact(db, goal, "c-1", clock.now())
    with db.transaction() as session:
        stranger = make_member(session, clock.now())

    for who, contact_id in [(admin, "nobody"), (stranger, "c-1")]:
        assert_not_found(api.get(f"/api/v1/contacts/{contact_id}", headers=who.headers), contact_id)
        assert_not_found(api.delete(f"/api/v1/contacts/{contact_id}", headers=who.headers), contact_id)
    assert count(db, Event, contact_id="c-1") == 2
    assert api.get("/api/v1/contacts/c-1", headers=admin.headers).status_code == 200


def test_a_designer_may_neither_view_nor_erase_contacts(
    api: TestClient, admin: Member, goal: Goal, db: Database, clock: FixedClock
) -> None:
    seed_contact(db, goal, "c-1", clock.now())
    with db.transaction() as session:
        designer = make_member(session, clock.now(), role=Role.DESIGNER, workspace=admin.workspace)

    for method in ("GET", "DELETE"):
        response = api.request(method, "/api/v1/contacts/c-1", headers=designer.headers)
        assert response.status_code == 403, method
        assert response.json()["error"]["code"] == "permission_denied"
        assert response.json()["error"]["details"] == [{"permission": "comerix.contacts.manage"}]
    assert count(db, Contact, id="c-1") == 1
    assert api.get("/api/v1/contacts/c-1").status_code == 401


def test_erasure_over_http_then_the_profile_is_gone(
    api: TestClient, admin: Member, goal: Goal, db: Database, clock: FixedClock
) -> None:
    seed_contact(db, goal, "c-1", clock.now())
    seed_contact(db, goal, "c-2", clock.now())

    response = api.delete("/api/v1/contacts/c-1", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "contact_id": "c-1",
        "events_deleted": 2,
        "conversations_deleted": 1,
        "outcomes_anonymised": 2,
    }
    assert_not_found(api.get("/api/v1/contacts/c-1", headers=admin.headers), "c-1")
    assert_not_found(api.delete("/api/v1/contacts/c-1", headers=admin.headers), "c-1")
    assert (count(db, Event, contact_id="c-1"), count(db, Conversation, contact_id="c-1")) == (0, 0)
    assert (count(db, Outcome), count(db, Outcome, contact_id=None, conversation_id=None)) == (4, 2)
    assert api.get("/api/v1/contacts/c-2", headers=admin.headers).json()["goals"][0]["count"] == 2
