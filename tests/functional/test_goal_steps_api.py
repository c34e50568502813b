"""Multi-step goals in the goals admin API over HTTP, on each backend (SPEC §9): their definition,
every rule of their steps, edits of the steps and the audit trail, and Try it."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, goal_body, make_member, multistep_goal_body, step_body

GOALS = "/api/v1/goals"


@pytest.fixture
def admin(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


def create(client: TestClient, who: Member, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(GOALS, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def refused(response: Any) -> list[str]:
    """The fields a 422 names, in its order."""
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in {"validation_failed", "goal_code_immutable"}
    return [detail["field"] for detail in response.json()["error"]["details"]]


def patch(client: TestClient, who: Member, goal: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.patch(f"{GOALS}/{goal['id']}", json=body, headers=who.headers)


def history(client: TestClient, who: Member, goal: dict[str, Any]) -> list[dict[str, Any]]:
    return list(client.get(f"{GOALS}/{goal['id']}/history", headers=who.headers).json()["history"])


def read(client: TestClient, who: Member, goal: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(f"{GOALS}/{goal['id']}", headers=who.headers).json())


def sent(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as read, ready to send back edited: without what their place decides."""
    return [{k: v for k, v in step.items() if k not in {"type", "position"}} for step in steps]


def test_a_multi_step_goal_is_created_and_read_with_its_steps(client: TestClient, admin: Member) -> None:
    body = multistep_goal_body(code="booking")
    body["steps"][1] |= {"match_conditions": {"form.complete": True}, "cost_savings": "1.50"}
    goal = create(client, admin, body)

    assert (goal["trigger_event"], goal["match_conditions"]) == (None, {})
    assert [(s["key"], s["type"], s["position"], s["completion"]) for s in goal["steps"]] == [
        ("booking_started", "start", 0, False),
        ("details_given", "step", 1, False),
        ("booking_paid", "completion", 2, True),
    ]
    assert goal["steps"][1] == {
        "key": "details_given",
        "name": "Details given",
        "description": None,
        "trigger_event": "details_given",
        "match_conditions": {"form.complete": True},
        "completion": False,
        "type": "step",
        "time_saved_seconds": 60,
        "cost_savings": "1.50",
        "revenue_earned": "0",
        "retired": False,
        "position": 1,
    }
    assert goal["steps"][2]["revenue_earned"] == "25.00"
    assert read(client, admin, goal) == goal
    assert client.get(GOALS, headers=admin.headers).json() == {"goals": [goal]}
    created = history(client, admin, goal)[0]["changes"]
    assert created["steps"] == {"from": None, "to": goal["steps"]}
    assert created["trigger_event"] == {"from": None, "to": None}


def test_a_single_step_goal_has_no_steps(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, goal_body(trigger_event="purchase"))
    assert (goal["trigger_event"], goal["steps"]) == ("purchase", [])
    assert create(client, admin, goal_body(steps=[]))["steps"] == []


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"trigger_event": "purchase"}, ["trigger_event"]),
        ({"match_conditions": {"plan": "premium"}}, ["match_conditions"]),
        ({"steps": []}, ["trigger_event"]),
        ({"steps": None}, ["steps"]),
    ],
    ids=["both", "conditions-with-steps", "neither", "null-steps"],
)
def test_a_goal_has_either_a_trigger_or_steps(
    client: TestClient, admin: Member, change: dict[str, Any], fields: list[str]
) -> None:
    response = client.post(GOALS, json=multistep_goal_body() | change, headers=admin.headers)
    assert refused(response) == fields
    body = goal_body()
    del body["trigger_event"]
    assert refused(client.post(GOALS, json=body, headers=admin.headers)) == ["trigger_event"]
    assert client.get(GOALS, headers=admin.headers).json() == {"goals": []}


def with_steps(*changes: tuple[int, dict[str, Any]], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    body = multistep_goal_body()
    for index, change in changes:
        body["steps"][index] |= change
        for name in drop:
            body["steps"][index].pop(name, None)
    return body


MANY = [step_body("started"), *(step_body(f"s{i}", completion=True) for i in range(20))]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (with_steps((2, {"key": "Booking_Paid"})), ["steps[2].key"]),
        (with_steps((2, {"key": "details_given"})), ["steps[2].key"]),
        (with_steps((0, {"completion": True})), ["steps[0].completion"]),
        (with_steps((0, {"retired": True})), ["steps[0].retired"]),
        (with_steps((2, {"completion": False})), ["steps"]),
        (with_steps((2, {"retired": True})), ["steps"]),
        (multistep_goal_body(steps=[step_body("only")]), ["steps", "steps"]),
        (multistep_goal_body(steps=MANY), ["steps"]),
        (multistep_goal_body(steps=MANY[:20]), []),
        (with_steps((1, {"name": ""})), ["steps[1].name"]),
        (with_steps((1, {"description": "d" * 2001})), ["steps[1].description"]),
        (with_steps((1, {"trigger_event": "e" * 129})), ["steps[1].trigger_event"]),
        (with_steps((1, {}), drop=("trigger_event",)), ["steps[1].trigger_event"]),
        (with_steps((1, {}), drop=("key",)), ["steps[1].key"]),
        (
            with_steps((1, {"match_conditions": {"order": {"plan": "x"}}})),
            ["steps[1].match_conditions.order"],
        ),
        (with_steps((1, {"completion": "yes"})), ["steps[1].completion"]),
        (with_steps((1, {"time_saved_seconds": -1})), ["steps[1].time_saved_seconds"]),
        (with_steps((1, {"time_saved_seconds": 1.5})), ["steps[1].time_saved_seconds"]),
        (with_steps((1, {"cost_savings": "-0.01"})), ["steps[1].cost_savings"]),
        (with_steps((1, {"cost_savings": "1.1234567"})), ["steps[1].cost_savings"]),
        (with_steps((1, {"revenue_earned": "NaN"})), ["steps[1].revenue_earned"]),
        (with_steps((1, {"revenue_earned": "1" * 16})), ["steps[1].revenue_earned"]),
        (with_steps((1, {"colour": "red"})), ["steps[1].colour"]),
        (with_steps((1, {"position": 2})), ["steps[1].position"]),
        (with_steps((1, {"type": "completion"})), ["steps[1].type"]),
        (with_steps((1, {"position": 1, "type": "step"})), []),
        (with_steps((0, {"key": "Bad"}), (2, {"completion": False})), ["steps[0].key"]),
    ],
)
def test_every_step_rule_is_a_422_naming_the_field(
    client: TestClient, admin: Member, body: dict[str, Any], fields: list[str]
) -> None:
    response = client.post(GOALS, json=body, headers=admin.headers)
    if not fields:
        assert response.status_code == 201, response.text
        return
    assert refused(response) == fields
    assert client.get(GOALS, headers=admin.headers).json() == {"goals": []}


def test_the_step_rules_are_reported_together(client: TestClient, admin: Member) -> None:
    body = with_steps((0, {"completion": True}), (2, {"key": "details_given", "completion": False}))
    assert refused(client.post(GOALS, json=body, headers=admin.headers)) == [
        "steps[2].key",
        "steps[0].completion",
        "steps",
    ]


def test_steps_are_renamed_reordered_added_retired_and_revalued_with_history(
    client: TestClient, admin: Member, clock: FixedClock
) -> None:
    goal = create(client, admin, multistep_goal_body(code="booking"))
    edits: list[list[dict[str, Any]]] = []

    renamed = sent(goal["steps"])
    renamed[1]["name"] = "Details entered"
    edits.append(renamed)
    reordered = [renamed[0], step_body("dates_chosen"), renamed[1], renamed[2]]  # added and reordered
    edits.append(reordered)
    moved = [reordered[0], reordered[2], reordered[1], reordered[3]]
    edits.append(moved)
    retired = deepcopy(moved)
    retired[1]["retired"] = True
    edits.append(retired)
    revalued = deepcopy(retired)
    revalued[3] |= {"revenue_earned": "30", "cost_savings": "2.5", "time_saved_seconds": 120}
    revalued[2] |= {"match_conditions": {"nights": 2}, "description": "how long"}
    edits.append(revalued)

    shown = goal["steps"]
    for steps in edits:
        response = patch(client, admin, goal, {"steps": steps})
        assert response.status_code == 200, response.text
        before, shown = shown, response.json()["steps"]
        assert sent(shown) == [step_body(s["key"]) | {**defaults(), **s} for s in sent(steps)]
        assert [s["position"] for s in shown] == list(range(len(steps)))
        latest = history(client, admin, goal)[0]
        assert latest["action"] == "updated"
        assert latest["changes"] == {"steps": {"from": before, "to": shown}}
    assert [(s["key"], s["type"], s["retired"]) for s in shown] == [
        ("booking_started", "start", False),
        ("details_given", "step", True),
        ("dates_chosen", "step", False),
        ("booking_paid", "completion", False),
    ]
    assert (shown[3]["revenue_earned"], shown[3]["cost_savings"], shown[3]["time_saved_seconds"]) == (
        "30",
        "2.5",
        120,
    )
    assert read(client, admin, goal)["steps"] == shown
    assert len(history(client, admin, goal)) == 1 + len(edits)


def defaults() -> dict[str, Any]:
    return {
        "description": None,
        "match_conditions": {},
        "completion": False,
        "time_saved_seconds": 0,
        "cost_savings": "0",
        "revenue_earned": "0",
        "retired": False,
    }


def test_a_retired_step_comes_back_and_a_new_step_may_start_the_goal(
    client: TestClient, admin: Member
) -> None:
    goal = create(client, admin, multistep_goal_body())
    steps = sent(goal["steps"])
    steps[1]["retired"] = True
    assert patch(client, admin, goal, {"steps": steps}).status_code == 200
    steps[1]["retired"] = False
    again = patch(client, admin, goal, {"steps": [step_body("chat_opened"), *steps]})
    assert again.status_code == 200, again.text
    assert [(s["key"], s["type"], s["retired"]) for s in again.json()["steps"]] == [
        ("chat_opened", "start", False),
        ("booking_started", "step", False),
        ("details_given", "step", False),
        ("booking_paid", "completion", False),
    ]


def test_a_fetched_goal_sent_back_whole_changes_nothing(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, multistep_goal_body())
    response = patch(client, admin, goal, goal)
    assert response.status_code == 200, response.text
    assert response.json() == goal
    assert len(history(client, admin, goal)) == 1
    single = create(client, admin, goal_body())
    assert patch(client, admin, single, single).json() == single
    assert len(history(client, admin, single)) == 1


def test_a_patch_without_steps_leaves_them_alone(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, multistep_goal_body())
    response = patch(client, admin, goal, {"name": "Table booking", "is_primary": True})
    assert response.status_code == 200, response.text
    assert response.json()["steps"] == goal["steps"]
    assert history(client, admin, goal)[0]["changes"] == {
        "name": {"from": "Booking", "to": "Table booking"},
        "is_primary": {"from": False, "to": True},
    }


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (lambda steps: {"steps": steps[:2]}, ["steps", "steps"]),  # and no completion step left
        (lambda steps: {"steps": [steps[0], steps[2]]}, ["steps"]),
        (lambda steps: {"steps": [steps[0], steps[1] | {"key": "details"}, steps[2]]}, ["steps"]),
        (lambda steps: {"steps": []}, ["steps"]),
        (lambda steps: {"steps": None}, ["steps"]),
        (lambda steps: {"trigger_event": "booking_paid"}, ["trigger_event"]),
        (lambda steps: {"match_conditions": {"plan": "x"}}, ["match_conditions"]),
        (lambda steps: {"steps": [steps[0] | {"retired": True}, *steps[1:]]}, ["steps[0].retired"]),
        (lambda steps: {"steps": [steps[0], steps[1], steps[2] | {"completion": False}]}, ["steps"]),
        (lambda steps: {"steps": [*steps, steps[1]]}, ["steps[3].key"]),
        (lambda steps: {"steps": [*steps, *MANY[1:19]]}, ["steps"]),  # 21
        (
            lambda steps: {"steps": [steps[0], steps[1] | {"cost_savings": "-1"}, steps[2]]},
            ["steps[1].cost_savings"],
        ),
        (lambda steps: {"code": "other"}, ["code"]),
    ],
    ids=[
        "deleted",
        "deleted-middle",
        "key-changed",
        "emptied",
        "nulled",
        "trigger-added",
        "conditions-added",
        "start-retired",
        "no-completion",
        "duplicate-key",
        "too-many",
        "negative-cost",
        "code",
    ],
)
def test_a_refused_edit_of_steps_changes_nothing(
    client: TestClient, admin: Member, change: Any, fields: list[str]
) -> None:
    goal = create(client, admin, multistep_goal_body())
    assert refused(patch(client, admin, goal, change(sent(goal["steps"])) | {"name": "Renamed"})) == fields
    assert read(client, admin, goal) == goal
    assert len(history(client, admin, goal)) == 1


def test_deleting_a_step_says_to_retire_it(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, multistep_goal_body())
    steps = sent(goal["steps"])
    response = patch(client, admin, goal, {"steps": [steps[0], steps[2]]})
    assert response.json()["error"]["details"] == [
        {"field": "steps", "message": "steps cannot be deleted; set retired: true (missing: details_given)"}
    ]


def test_a_single_step_goal_cannot_become_multi_step(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, goal_body())
    body = {"trigger_event": None, "steps": multistep_goal_body()["steps"]}
    response = patch(client, admin, goal, body)
    assert refused(response) == ["steps"]
    assert "shape" in response.json()["error"]["message"]
    assert refused(patch(client, admin, goal, {"trigger_event": None})) == ["trigger_event"]
    assert read(client, admin, goal) == goal


def test_the_code_of_a_multi_step_goal_stays_immutable(client: TestClient, admin: Member) -> None:
    goal = create(client, admin, multistep_goal_body(code="booking"))
    response = patch(client, admin, goal, {"code": "booking_2", "steps": sent(goal["steps"])})
    assert response.json()["error"]["code"] == "goal_code_immutable"
    assert read(client, admin, goal)["code"] == "booking"


def test_another_workspaces_multi_step_goal_is_not_found(
    client: TestClient, admin: Member, db: Database, clock: FixedClock
) -> None:
    goal = create(client, admin, multistep_goal_body())
    with db.transaction() as session:
        stranger = make_member(session, clock.now())
    for method, path, body in [
        ("GET", f"{GOALS}/{goal['id']}", None),
        ("PATCH", f"{GOALS}/{goal['id']}", {"steps": sent(goal["steps"])}),
        ("GET", f"{GOALS}/{goal['id']}/history", None),
    ]:
        response = client.request(method, path, json=body, headers=stranger.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "goal_not_found"
    assert client.get(GOALS, headers=stranger.headers).json() == {"goals": []}
    assert read(client, admin, goal) == goal


def test_goals_of_both_shapes_are_listed_together(client: TestClient, admin: Member) -> None:
    single = create(client, admin, goal_body(name="A sale"))
    multi = create(client, admin, multistep_goal_body(name="B booking"))
    other = create(client, admin, multistep_goal_body(name="C visit", steps=MANY[:3]))
    assert client.get(GOALS, headers=admin.headers).json()["goals"] == [single, multi, other]


# Try it (POST /api/v1/goals/preview) with steps.


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(client, db, clock)


def test_a_multi_step_goal_is_tried_step_by_step(shop: Shop) -> None:
    chat = {"conversation_id": "c1", "contact_id": "ann"}
    events = [
        {"name": "booking_started", "timestamp": shop.at(1), **chat},
        {"name": "details_given", "timestamp": shop.at(1, 1), "properties": {"form": "full"}, **chat},
        {"name": "details_given", "timestamp": shop.at(1, 2), "properties": {"form": "short"}, **chat},
        {"name": "booking_paid", "timestamp": shop.at(1, 3), "properties": {"total": "40"}, **chat},
        {"name": "Booking_Paid", "timestamp": shop.at(1, 4), **chat},
    ]
    shop.send("/events", {"events": events})
    body = multistep_goal_body(value_mode="from_property", value_property="total", currency="EUR")
    del body["code"]
    body["steps"][1]["match_conditions"] = {"form": "full"}
    body["steps"].insert(2, step_body("never_sent"))
    body["steps"].insert(2, step_body("old_start", trigger_event="booking_started", retired=True))
    response = shop.client.post("/api/v1/goals/preview", json=body, headers=shop.admin.headers)
    assert response.status_code == 200, response.text
    preview = response.json()

    assert (preview["trigger_event"], preview["scanned"], preview["matched"]) == (None, 4, 3)
    assert (preview["samples"], preview["closest_misses"], preview["truncated"]) == ([], [], False)
    steps = {step["key"]: step for step in preview["steps"]}
    assert [step["key"] for step in preview["steps"]] == [
        "booking_started",
        "details_given",
        "old_start",
        "never_sent",
        "booking_paid",
    ]
    assert [(s["type"], s["scanned"], s["matched"]) for s in preview["steps"]] == [
        ("start", 1, 1),
        ("step", 2, 1),
        ("step", 0, 0),
        ("step", 0, 0),
        ("completion", 1, 1),
    ]
    assert steps["old_start"]["retired"] is True
    assert steps["details_given"]["closest_misses"][0]["failed"] == [
        {"key": "form", "expected": "full", "actual": "short", "missing": False}
    ]
    assert steps["booking_started"]["samples"][0]["value"] is None
    assert (
        steps["booking_paid"]["samples"][0]["value"],
        steps["booking_paid"]["samples"][0]["currency"],
    ) == (
        "40",
        "EUR",
    )
    assert steps["booking_paid"]["similar_names"] == []
    assert steps["never_sent"]["similar_names"] == []
    assert shop.client.get(GOALS, headers=shop.admin.headers).json() == {"goals": []}


def test_a_single_step_preview_keeps_its_shape(shop: Shop) -> None:
    shop.send("/events", {"events": [{"name": "purchase", "timestamp": shop.at(1)}]})
    body = goal_body()
    response = shop.client.post("/api/v1/goals/preview", json=body, headers=shop.admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["trigger_event"] == "purchase"
    assert (response.json()["matched"], response.json()["steps"]) == (1, [])


def test_a_preview_checks_the_steps_like_a_create(shop: Shop) -> None:
    body = with_steps((0, {"completion": True}), (2, {"key": "X"}))
    response = shop.client.post("/api/v1/goals/preview", json=body, headers=shop.admin.headers)
    assert refused(response) == ["steps[2].key"]
    body = with_steps((0, {"completion": True}))
    response = shop.client.post("/api/v1/goals/preview", json=body, headers=shop.admin.headers)
    assert refused(response) == ["steps[0].completion"]
