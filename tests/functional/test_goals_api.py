"""The goals admin API over HTTP, on each backend: the issue's walk-through, tenancy, permissions, errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, goal_body, make_engine_key, make_member

PURCHASE = {
    "code": "product_purchase",
    "name": "Product purchase",
    "kind": "conversion",
    "is_primary": True,
    "trigger_event": "purchase",
    "match_conditions": {"plan": "premium"},
    "value_mode": "from_property",
    "value_property": "grand_total",
    "currency_property": "currency",
}


@pytest.fixture
def admin(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


def member(db: Database, clock: FixedClock, role: Role = Role.ADMIN, of: Member | None = None) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role, workspace=of.workspace if of else None)


def create(client: TestClient, who: Member, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/goals", json=goal_body(**overrides), headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_walk_through_of_the_issue(
    client: TestClient, admin: Member, db: Database, clock: FixedClock
) -> None:
    created = client.post("/api/v1/goals", json=PURCHASE, headers=admin.headers)
    assert created.status_code == 201
    goal = created.json()
    assert goal | PURCHASE == goal
    assert (goal["status"], goal["attribution_window_hours"], goal["fixed_value"]) == ("active", 168, None)

    listed = client.get("/api/v1/goals", headers=admin.headers).json()
    assert [g["code"] for g in listed["goals"]] == ["product_purchase"]

    paused = client.post(
        f"/api/v1/goals/{goal['id']}/status", json={"status": "paused"}, headers=admin.headers
    )
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    archived = client.post(
        f"/api/v1/goals/{goal['id']}/status", json={"status": "archived"}, headers=admin.headers
    )
    assert archived.json()["status"] == "archived"
    assert (
        client.get("/api/v1/goals?status=archived", headers=admin.headers).json()["goals"][0]["id"]
        == goal["id"]
    )
    assert client.get("/api/v1/goals?status=active", headers=admin.headers).json() == {"goals": []}

    refused = client.patch(f"/api/v1/goals/{goal['id']}", json={"code": "purchase"}, headers=admin.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "goal_code_immutable"
    assert refused.json()["error"]["details"] == [
        {"field": "code", "message": "cannot be changed once the goal is created"}
    ]
    assert (
        client.get(f"/api/v1/goals/{goal['id']}", headers=admin.headers).json()["code"] == "product_purchase"
    )

    history = client.get(f"/api/v1/goals/{goal['id']}/history", headers=admin.headers).json()["history"]
    assert [entry["action"] for entry in history] == ["status_changed", "status_changed", "created"]
    assert history[0]["actor"] == {"user_id": str(admin.user.id), "email": admin.user.email}
    assert history[0]["changes"] == {"status": {"from": "paused", "to": "archived"}}

    stranger = member(db, clock)
    for method, path, body in [
        ("GET", f"/api/v1/goals/{goal['id']}", None),
        ("PATCH", f"/api/v1/goals/{goal['id']}", {"name": "Mine now"}),
        ("POST", f"/api/v1/goals/{goal['id']}/status", {"status": "active"}),
        ("GET", f"/api/v1/goals/{goal['id']}/history", None),
    ]:
        response = client.request(method, path, json=body, headers=stranger.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "goal_not_found"
    assert client.get("/api/v1/goals", headers=stranger.headers).json() == {"goals": []}
    assert client.get(f"/api/v1/goals/{goal['id']}", headers=admin.headers).json()["status"] == "archived"


def test_a_taken_code_is_a_conflict(client: TestClient, admin: Member) -> None:
    create(client, admin, code="signup")
    response = client.post("/api/v1/goals", json=goal_body(code="signup"), headers=admin.headers)
    assert response.status_code == 409
    assert response.json()["error"]["details"][0]["field"] == "code"


def test_refusals_name_every_field_in_the_one_error_shape(client: TestClient, admin: Member) -> None:
    body = goal_body(
        code="Bad",
        name="",
        match_conditions={"order": {"plan": "x"}},
        currency="EURO",
        attribution_window_hours=9000,
    )
    response = client.post("/api/v1/goals", json=body, headers=admin.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert {d["field"] for d in error["details"]} == {
        "code",
        "name",
        "match_conditions.order",
        "currency",
        "attribution_window_hours",
    }
    assert client.get("/api/v1/goals", headers=admin.headers).json() == {"goals": []}


def test_value_mode_rules_over_http(client: TestClient, admin: Member) -> None:
    response = client.post("/api/v1/goals", json=goal_body(value_mode="fixed"), headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "fixed_value", "message": "is required when value_mode is fixed"}
    ]
    goal = create(client, admin, value_mode="fixed", fixed_value="129.50", currency="usd")
    assert (goal["fixed_value"], goal["currency"]) == ("129.50", "USD")


def test_patch_is_partial(client: TestClient, admin: Member, clock: FixedClock) -> None:
    goal = create(client, admin, description="keep me")
    response = client.patch(f"/api/v1/goals/{goal['id']}", json={"is_primary": True}, headers=admin.headers)
    assert response.status_code == 200
    assert (response.json()["is_primary"], response.json()["description"]) == (True, "keep me")


def test_malformed_json_is_a_400(client: TestClient, admin: Member) -> None:
    response = client.post(
        "/api/v1/goals", content=b"{not json", headers=admin.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_an_unknown_status_filter_is_a_422(client: TestClient, admin: Member) -> None:
    response = client.get("/api/v1/goals?status=deleted", headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "status"


def test_goals_cannot_be_deleted(client: TestClient, admin: Member) -> None:
    goal = create(client, admin)
    assert client.delete(f"/api/v1/goals/{goal['id']}", headers=admin.headers).status_code == 405
    assert client.get(f"/api/v1/goals/{goal['id']}", headers=admin.headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
def test_no_valid_token_is_a_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/goals", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthenticated"


def test_engine_keys_do_not_open_the_admin_api(
    client: TestClient, admin: Member, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        key = make_engine_key(session, admin.workspace, clock.now())
    assert client.get("/api/v1/goals", headers={"Authorization": f"Bearer {key}"}).status_code == 401


@pytest.mark.parametrize(
    ("role", "goals", "settings_status"),
    [
        (Role.ADMIN, 200, 200),
        (Role.DESIGNER, 200, 403),
        (Role.ANALYST, 403, 403),
        (Role.VIEWER, 403, 403),
    ],
)
def test_roles_decide_what_each_route_allows(
    client: TestClient,
    admin: Member,
    db: Database,
    clock: FixedClock,
    role: Role,
    goals: int,
    settings_status: int,
) -> None:
    goal = create(client, admin)
    who = member(db, clock, role, of=admin)
    goal_calls = [
        client.get("/api/v1/goals", headers=who.headers),
        client.post("/api/v1/goals", json=goal_body(), headers=who.headers),
        client.get(f"/api/v1/goals/{goal['id']}", headers=who.headers),
        client.patch(f"/api/v1/goals/{goal['id']}", json={"name": "X"}, headers=who.headers),
        client.post(f"/api/v1/goals/{goal['id']}/status", json={"status": "paused"}, headers=who.headers),
        client.get(f"/api/v1/goals/{goal['id']}/history", headers=who.headers),
    ]
    assert {call.status_code for call in goal_calls} == ({goals} if goals == 403 else {200, 201})
    settings_calls = [
        client.get("/api/v1/settings/analytics", headers=who.headers),
        client.put(
            "/api/v1/settings/analytics",
            json={"base_currency": "USD", "timezone": "UTC"},
            headers=who.headers,
        ),
    ]
    assert {call.status_code for call in settings_calls} == {settings_status}
    if goals == 403:
        assert goal_calls[0].json()["error"]["details"] == [{"permission": "comerix.insights.goals.manage"}]
