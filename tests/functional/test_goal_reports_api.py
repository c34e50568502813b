"""The goals report (`GET /api/v1/reports/goals`, SPEC §9) over HTTP, on each backend: cycles made by
events sent to the Engine API, read back per local day of the workspace."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import PERMISSIONS_BY_ROLE, Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, make_member

BOOKING = {
    "code": "booking",
    "name": "Booking",
    "kind": "conversion",
    "is_primary": True,
    "steps": [
        {"key": "ask", "name": "Asked", "trigger_event": "ask", "time_saved_seconds": 30},
        {
            "key": "pay",
            "name": "Paid",
            "trigger_event": "pay",
            "time_saved_seconds": 3600,
            "cost_savings": "1.005",
        },
        {
            "key": "confirm",
            "name": "Confirmed",
            "trigger_event": "confirm",
            "completion": True,
            "revenue_earned": "19.99",
        },
    ],
}
DAY = "2026-10-28"  # the cycles start at 23:30 UTC: the 29th in Berlin (CET, +01:00)
NEXT_DAY = "2026-10-29"


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    """A workspace (Europe/Berlin, EUR) with the booking goal and a single-step `sale`, and four cycles
    that started at 23:30 UTC on DAY: completed, partial and incomplete in flow `bot`, and incomplete in
    flow `support`."""
    shop = Shop(client, db, clock)
    shop.goal(**BOOKING)
    shop.goal(code="sale", name="Sale", kind="conversion", trigger_event="sale")
    steps = {"c1": ["ask", "pay", "confirm"], "c2": ["ask", "pay"], "c3": ["ask"], "c4": ["ask"]}
    events = [
        {
            "name": name,
            "timestamp": f"{DAY}T23:{30 + n:02d}:00Z",
            "conversation_id": chat,
            "contact_id": f"person-{chat}",
            "flow_id": "support" if chat == "c4" else "bot",
        }
        for chat, names in steps.items()
        for n, name in enumerate(names)
    ]
    shop.send("/events", {"events": events})
    return shop


def report(client: TestClient, who: Member, **params: str) -> Any:
    return client.get("/api/v1/reports/goals", params=params, headers=who.headers)


def test_the_report_adds_up_the_cycles(client: TestClient, shop: Shop) -> None:
    answer = report(client, shop.admin, **{"from": NEXT_DAY, "to": NEXT_DAY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["timezone"], body["base_currency"]) == (
        NEXT_DAY,
        NEXT_DAY,
        "Europe/Berlin",
        "EUR",
    )
    (booking,) = body["goals"]  # the single-step goal is not listed
    assert {k: booking[k] for k in ("goal", "name", "status", "is_primary")} == {
        "goal": "booking",
        "name": "Booking",
        "status": "active",
        "is_primary": True,
    }
    assert [booking[k] for k in ("started", "incomplete", "partial", "completed", "completion_rate")] == [
        4,
        2,
        1,
        1,
        "0.2500",
    ]
    # partial and completed cycles: ask + pay twice, confirm once
    assert (booking["time_saved_seconds"], booking["cost_savings"], booking["revenue_earned"]) == (
        7260,
        "2.01",
        "19.99",
    )
    assert booking["funnel"] == [
        {
            "key": "ask",
            "name": "Asked",
            "type": "start",
            "retired": False,
            "reached": 4,
            "share": "1.0000",
            "drop_off": 2,
        },
        {
            "key": "pay",
            "name": "Paid",
            "type": "step",
            "retired": False,
            "reached": 2,
            "share": "0.5000",
            "drop_off": 1,
        },
        {
            "key": "confirm",
            "name": "Confirmed",
            "type": "completion",
            "retired": False,
            "reached": 1,
            "share": "0.2500",
            "drop_off": 0,
        },
    ]
    assert booking["series"] == [{"period": NEXT_DAY, "incomplete": 2, "partial": 1, "completed": 1}]


def test_a_cycle_counts_in_the_local_day_it_started(client: TestClient, shop: Shop) -> None:
    started_on = report(client, shop.admin, **{"from": DAY, "to": DAY}).json()["goals"][0]["started"]
    assert started_on == 0  # 23:30 UTC is already the next day in Berlin
    answer = client.put(
        "/api/v1/settings/analytics",
        json={"base_currency": "EUR", "timezone": "UTC"},
        headers=shop.admin.headers,
    )
    assert answer.status_code == 200, answer.text
    body = report(client, shop.admin, **{"from": DAY, "to": NEXT_DAY}).json()
    assert body["timezone"] == "UTC"
    assert [
        (p["period"], p["incomplete"] + p["partial"] + p["completed"]) for p in body["goals"][0]["series"]
    ] == [
        (DAY, 4),
        (NEXT_DAY, 0),
    ]


def test_filters_narrow_the_cycles(client: TestClient, shop: Shop) -> None:
    rng = {"from": DAY, "to": "2026-11-01"}
    support = report(client, shop.admin, **rng, flow="support").json()["goals"][0]
    assert (support["started"], support["incomplete"], support["funnel"][0]["drop_off"]) == (1, 1, 1)
    assert report(client, shop.admin, **rng, flow="nowhere").json()["goals"][0]["started"] == 0
    monthly = report(client, shop.admin, **rng, goal="booking", interval="month").json()
    assert monthly["filters"] == {"goal": "booking", "flow": None}
    assert [(p["period"], p["completed"]) for p in monthly["goals"][0]["series"]] == [
        ("2026-10-01", 1),
        ("2026-11-01", 0),
    ]


def test_the_flows_add_up_to_the_report_of_all_flows(client: TestClient, shop: Shop) -> None:
    """Without a flow filter the report reads the rollup summed over flows, with one the rollup by
    flow: each flow's figures add up to the whole."""
    rng = {"from": DAY, "to": "2026-11-01"}
    whole = report(client, shop.admin, **rng).json()["goals"][0]
    parts = [report(client, shop.admin, **rng, flow=flow).json()["goals"][0] for flow in ("bot", "support")]
    for figure in ("started", "incomplete", "partial", "completed", "time_saved_seconds"):
        assert whole[figure] == sum(part[figure] for part in parts), figure
    for figure in ("cost_savings", "revenue_earned"):
        assert Decimal(whole[figure]) == sum(Decimal(part[figure]) for part in parts), figure
    for n, step in enumerate(whole["funnel"]):
        assert (step["reached"], step["drop_off"]) == (
            sum(part["funnel"][n]["reached"] for part in parts),
            sum(part["funnel"][n]["drop_off"] for part in parts),
        )
    for n, point in enumerate(whole["series"]):
        for state in ("incomplete", "partial", "completed"):
            assert point[state] == sum(part["series"][n][state] for part in parts)
    assert [part["started"] for part in parts] == [3, 1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01", "to": "2026-11-02"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "to"),
        ({"to": "2026-11-01"}, "from"),
        ({"from": "2026-11-01"}, "to"),
        ({"from": "2016-01-01", "to": "2026-11-02"}, "to"),  # more than 3,660 days
        ({"from": "2026-11-01", "to": "2026-11-02", "interval": "year"}, "interval"),
        ({"from": "2026-11-01", "to": "2026-11-02", "goal": "nope"}, "goal"),
        ({"from": "2026-11-01", "to": "2026-11-02", "goal": "sale"}, "goal"),  # single-step
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ],
)
def test_bad_parameters_are_named(client: TestClient, shop: Shop, params: dict[str, str], field: str) -> None:
    answer = report(client, shop.admin, **params)
    assert answer.status_code == 422
    assert field in [d["field"] for d in answer.json()["error"]["details"]]


def test_a_single_step_goal_is_refused_with_the_other_problems(client: TestClient, shop: Shop) -> None:
    answer = report(client, shop.admin, **{"from": "2026-11-01", "to": "x", "goal": "sale"})
    assert answer.status_code == 422
    problems = {d["field"]: d["message"] for d in answer.json()["error"]["details"]}
    assert set(problems) == {"to", "goal"}
    assert "single-step" in problems["goal"]


def test_the_report_needs_a_token_and_the_analytics_permission(
    client: TestClient, shop: Shop, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = {"from": DAY, "to": NEXT_DAY}
    assert client.get("/api/v1/reports/goals", params=rng).status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/reports/goals", params=rng, headers=wrong).status_code == 401
    with db.transaction() as session:
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=shop.admin.workspace)
    assert report(client, viewer, **rng).json()["goals"][0]["started"] == 4
    monkeypatch.setitem(PERMISSIONS_BY_ROLE, Role.VIEWER, frozenset())  # a role without analytics.view
    assert report(client, viewer, **rng).status_code == 403


def test_another_workspace_sees_nothing(
    client: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        stranger = make_member(session, clock.now())
    rng = {"from": DAY, "to": NEXT_DAY}
    assert report(client, stranger, **rng).json()["goals"] == []
    assert report(client, stranger, **rng, goal="booking").status_code == 422
