"""Analytics steps over HTTP (SPEC §10), on each backend: events carrying a `step` sent to the Engine
API, a bad step refused naming its field, the catalogue (`GET /api/v1/steps`) and the Step Explorer's
tree (`GET /api/v1/steps/paths`) read back, for the telemetry permission and one workspace only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, make_member

DAY = "2026-11-02"  # the chats are at 07:30 UTC that day (START is 09:30), Europe/Berlin's day too

# Four chats of the sales bot: greet → ask (twice in one) → buy | handoff, one that only greets.
CHATS = {
    "c1": ["greet", "ask", "buy"],
    "c2": ["greet", "ask", "ask", "handoff"],
    "c3": ["greet", "ask", "buy"],
    "c4": ["greet"],
}
LABELS = {"greet": "Hello!", "ask": "What are you looking for?", "buy": "Checkout", "handoff": "Agent"}


def step_events(shop: Shop, chats: dict[str, list[str]], flow: str = "sales") -> list[dict[str, Any]]:
    return [
        {
            "name": "message_sent",
            "timestamp": (shop.clock.now() - timedelta(hours=2, minutes=-n)).isoformat(),
            "conversation_id": chat,
            "flow_id": flow,
            "step": {"label": LABELS[step], "id": step, "type": "intent" if step == "ask" else "node"},
        }
        for chat, steps in chats.items()
        for n, step in enumerate(steps)
    ]


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    shop = Shop(client, db, clock)
    shop.send("/events", {"events": step_events(shop, CHATS)})
    return shop


def get(client: TestClient, who: Member, path: str, **params: str) -> Any:
    response = client.get(f"/api/v1/steps{path}", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_catalogue_lists_the_steps_most_executed_first(client: TestClient, shop: Shop) -> None:
    body = get(client, shop.admin, "", range="7d")
    assert body["range"] == "7d"
    assert [(s["id"], s["label"], s["type"], s["executions"], s["conversations"]) for s in body["steps"]] == [
        ("greet", "Hello!", "node", 4, 4),
        ("ask", "What are you looking for?", "intent", 4, 3),
        ("buy", "Checkout", "node", 2, 2),
        ("handoff", "Agent", "node", 1, 1),
    ]
    assert {s["flow"] for s in body["steps"]} == {"sales"}
    assert get(client, shop.admin, "", flow="support")["steps"] == []


def test_a_new_label_replaces_the_old_and_keeps_the_history(client: TestClient, shop: Shop) -> None:
    later = shop.clock.now()  # after the fixture's events
    renamed = {"name": "message_sent", "timestamp": later.isoformat(), "conversation_id": "c5"}
    shop.send("/events", renamed | {"flow_id": "sales", "step": {"label": "Hi there", "id": "greet"}})
    (greet,) = [s for s in get(client, shop.admin, "")["steps"] if s["id"] == "greet"]
    assert (greet["label"], greet["executions"]) == ("Hi there", 5)


def test_the_tree_from_the_first_steps(client: TestClient, shop: Shop) -> None:
    body = get(client, shop.admin, "/paths", **{"from": DAY, "to": DAY})
    assert (body["from"], body["to"], body["direction"], body["conversations"]) == (DAY, DAY, "forward", 4)
    (greet,) = body["nodes"]
    assert (greet["step"], greet["label"], greet["conversations"], greet["share"], greet["drop_off"]) == (
        "greet",
        "Hello!",
        4,
        "1.0000",
        1,
    )
    (ask,) = greet["children"]
    assert (ask["conversations"], ask["share"], ask["drop_off"]) == (3, "0.7500", 0)
    assert [(n["step"], n["conversations"], n["share"]) for n in ask["children"]] == [
        ("buy", 2, "0.6667"),
        ("ask", 1, "0.3333"),
    ]


def test_the_tree_backward_from_a_step_and_with_contains(client: TestClient, shop: Shop) -> None:
    body = get(
        client, shop.admin, "/paths", **{"from": DAY, "to": DAY, "start": "buy", "direction": "backward"}
    )
    (buy,) = body["nodes"]
    assert (buy["step"], buy["conversations"]) == ("buy", 2)
    assert [(n["step"], n["conversations"]) for n in buy["children"]] == [("ask", 2)]
    contains = get(
        client, shop.admin, "/paths", **{"from": DAY, "to": DAY, "contains": "handoff", "depth": "2"}
    )
    assert contains["conversations"] == 1
    assert contains["nodes"][0]["children"][0]["children"] == []  # depth 2: two levels


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"label": " Hello"}, "step.label"),
        ({"label": ""}, "step.label"),
        ({"label": "x" * 129}, "step.label"),
        ({"label": "Hello", "type": "question"}, "step.type"),
        ({"label": "Hello", "id": ""}, "step.id"),
        ({"label": "Hello", "colour": "red"}, "step.colour"),
        ("Hello", "step"),
    ],
)
def test_a_bad_step_is_a_422_naming_its_field(shop: Shop, step: Any, field: str) -> None:
    body = {"name": "message_sent", "conversation_id": "c9", "step": step}
    answer = shop.send("/events", body, expect=422)
    assert [(p["index"], p["field"]) for p in answer["error"]["details"]] == [(0, field)], answer


def test_bad_parameters_are_422_naming_them(client: TestClient, shop: Shop) -> None:
    cases = [
        ("", {"range": "1y"}, "range"),
        ("/paths", {"to": DAY}, "from"),
        ("/paths", {"from": DAY, "to": DAY, "direction": "sideways"}, "direction"),
        ("/paths", {"from": DAY, "to": DAY, "depth": "11"}, "depth"),
        ("/paths", {"from": DAY, "to": "2026-11-01"}, "to"),
    ]
    for path, params, field in cases:
        answer = client.get(f"/api/v1/steps{path}", params=params, headers=shop.admin.headers)
        assert answer.status_code == 422, answer.text
        assert field in [p["field"] for p in answer.json()["error"]["details"]]


def test_the_telemetry_permission_and_the_workspace_bound_what_is_seen(
    client: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        analyst = make_member(session, clock.now(), role=Role.ANALYST, workspace=shop.admin.workspace)
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=shop.admin.workspace)
        stranger = make_member(session, clock.now())
    assert len(get(client, analyst, "")["steps"]) == 4
    assert client.get("/api/v1/steps", headers=viewer.headers).status_code == 403
    assert client.get("/api/v1/steps/paths", headers=viewer.headers).status_code == 403
    assert client.get("/api/v1/steps").status_code == 401
    assert get(client, stranger, "")["steps"] == []
    assert get(client, stranger, "/paths", **{"from": DAY, "to": DAY})["nodes"] == []


def test_odata_serves_steps_executed_steps_and_step_paths(
    client: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    def odata(who: Member, path: str, **params: str) -> Any:
        response = client.get(f"/odata/v4/{path}", params=params, headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    after_ask = odata(shop.admin, "ExecutedSteps", **{"$filter": "parent eq 'ask'", "$orderby": "id"})
    assert [(r["id"], r["step_id"], r["position"]) for r in after_ask["value"]] == [
        ("c1:2", "buy", 2),
        ("c2:2", "ask", 2),
        ("c2:3", "handoff", 3),
        ("c3:2", "buy", 2),
    ]
    assert odata(shop.admin, "ExecutedSteps('c2:3')")["parent"] == "ask"
    # a time and a flow as each backend's view of the runs gives them, compared and sorted
    late = odata(shop.admin, "ExecutedSteps", **{"$filter": "executed_at ge 2026-11-02T07:33:00Z"})
    assert [(r["id"], r["executed_at"], r["flow"]) for r in late["value"]] == [
        ("c2:3", "2026-11-02T07:33:00Z", "sales")
    ]
    newest = odata(shop.admin, "ExecutedSteps", **{"$orderby": "executed_at desc,id", "$top": "2"})
    assert [r["id"] for r in newest["value"]] == ["c2:3", "c1:2"]
    ask = odata(shop.admin, "Steps('sales:ask')")
    assert (ask["step_id"], ask["flow"], ask["label"], ask["type"]) == (
        "ask",
        "sales",
        "What are you looking for?",
        "intent",
    )
    assert odata(shop.admin, "Conversations('c4')")["step_path"] == '["greet"]'
    with db.transaction() as session:
        stranger = make_member(session, clock.now())
    for entity_set in ("Steps", "ExecutedSteps"):
        assert odata(stranger, entity_set)["value"] == []
    missing = client.get("/odata/v4/ExecutedSteps('c2:3')", headers=stranger.headers)
    assert missing.status_code == 404
