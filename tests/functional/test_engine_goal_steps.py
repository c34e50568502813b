"""Multi-step goals through the Engine API over HTTP, on each backend (SPEC §9): a chat's steps and the
shop's payment completing its booking, explicit steps from a flow, and the 422s that name `steps`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Shop, multistep_goal_body

CHAT = {"conversation_id": "chat-1", "contact_id": "ann", "flow_id": "booking-bot"}


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    shop = Shop(client, db, clock)
    shop.goal(
        **multistep_goal_body(
            code="booking", value_mode="from_property", value_property="total", currency="EUR"
        )
    )
    shop.goal(code="purchase", name="Purchase", kind="conversion", trigger_event="purchase")
    return shop


def problems(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(problem["index"], problem["field"]) for problem in answer["error"]["details"]]


def test_the_shops_payment_completes_the_booking_begun_in_the_chat(shop: Shop) -> None:
    sent = shop.send(
        "/events",
        {
            "events": [
                {"name": "booking_started", "timestamp": shop.at(1), **CHAT},
                {"name": "details_given", "timestamp": shop.at(1, 0.1), **CHAT},
                {"name": "booking_paid", "timestamp": shop.at(0.5), "conversation_id": "chat-0"},
            ]
        },
    )
    assert [r["outcomes"] for r in sent["results"]] == [[], [], []]  # chat-0: no booking begun
    paid = shop.send(
        "/conversions",
        {
            "event": "booking_paid",
            "event_id": "order-1",
            "contact_id": "ann",
            "timestamp": shop.at(2),
            "properties": {"total": "80.00"},
        },
    )
    (outcome,) = paid["results"][0]["outcomes"]
    assert {
        k: outcome[k] for k in ("goal", "kind", "value", "currency", "attribution", "conversation_id")
    } == {
        "goal": "booking",
        "kind": "conversion",
        "value": "80.00",
        "currency": "EUR",
        "attribution": "window",
        "conversation_id": "chat-1",
    }
    assert (outcome["flow_id"], outcome["source"]) == ("booking-bot", "server")
    again = shop.send("/conversions", {"event": "booking_paid", "event_id": "order-1", "contact_id": "ann"})
    assert again["results"][0]["status"] == "duplicate"
    later = shop.send(
        "/conversions", {"event": "booking_paid", "contact_id": "ann", "timestamp": shop.at(2.1)}
    )
    assert later["results"][0]["outcomes"] == []  # the cycle is completed: no cycle open


def test_a_flow_names_the_steps_reached(shop: Shop) -> None:
    first = shop.send(
        "/conversions", {"goal": "booking", "steps": ["booking_started", "details_given"], **CHAT}
    )
    assert first["results"][0] | {"outcomes": None} == {
        "index": 0,
        "event_id": None,
        "status": "accepted",
        "reason": None,
        "outcomes": None,
    }
    assert first["results"][0]["outcomes"] == []
    done = shop.send(
        "/conversions", {"goal": "booking", "steps": ["booking_paid"], "properties": {"total": 12}, **CHAT}
    )
    (outcome,) = done["results"][0]["outcomes"]
    assert (outcome["goal"], outcome["value"], outcome["attribution"]) == ("booking", "12", "conversation")


def test_a_paused_multi_step_goal_named_by_a_flow_records_nothing_and_says_so(shop: Shop) -> None:
    listed = shop.client.get("/api/v1/goals", headers=shop.admin.headers).json()["goals"]
    (goal,) = [g for g in listed if g["code"] == "booking"]
    response = shop.client.post(
        f"/api/v1/goals/{goal['id']}/status", json={"status": "paused"}, headers=shop.admin.headers
    )
    assert response.status_code == 200, response.text
    answer = shop.send("/conversions", {"goal": "booking", "steps": ["booking_started"], **CHAT})
    assert answer["results"][0]["status"] == "ignored"
    assert answer["results"][0]["reason"] == "goal 'booking' is paused; it records nothing"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"goal": "purchase", "steps": ["booking_started"]}, "steps"),  # a single-step goal
        ({"goal": "booking"}, "steps"),  # a multi-step goal needs them
        ({"goal": "booking", "steps": ["booking_started", "nope"]}, "steps[1]"),  # no such step
        ({"goal": "booking", "steps": ["booking_started", "Not A Key"]}, "steps[1]"),
        ({"goal": "booking", "steps": []}, "steps"),
        ({"goal": "booking", "steps": ["booking_started"] * 21}, "steps"),
        ({"goal": "booking", "steps": "booking_started"}, "steps"),
        ({"event": "booking_started", "steps": ["booking_started"]}, "steps"),  # steps go with `goal`
    ],
)
def test_steps_named_wrong_are_a_422_naming_the_field(shop: Shop, item: dict[str, Any], field: str) -> None:
    answer = shop.send("/conversions", {"conversions": [{"event": "purchase"}, {**item, **CHAT}]}, expect=422)
    assert problems(answer) == [(1, field)]


def test_steps_are_no_field_of_an_event(shop: Shop) -> None:
    answer = shop.send("/events", {"name": "booking_started", "steps": ["booking_started"]}, expect=422)
    assert problems(answer) == [(0, "steps")]
