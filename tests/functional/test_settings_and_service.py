"""Settings → Analytics, health and the OpenAPI document, over HTTP on each backend."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, make_member


@pytest.fixture
def admin(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


def test_analytics_settings_read_and_replace(client: TestClient, admin: Member) -> None:
    assert client.get("/api/v1/settings/analytics", headers=admin.headers).json() == {
        "base_currency": "EUR",
        "timezone": "Europe/Berlin",
    }
    changed = client.put(
        "/api/v1/settings/analytics",
        json={"base_currency": "usd", "timezone": "America/New_York"},
        headers=admin.headers,
    )
    assert changed.status_code == 200
    assert client.get("/api/v1/settings/analytics", headers=admin.headers).json() == {
        "base_currency": "USD",
        "timezone": "America/New_York",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base_currency": "EUR", "timezone": "Mars/Olympus"}, "timezone"),
        ({"base_currency": "EURO", "timezone": "UTC"}, "base_currency"),
        ({"timezone": "UTC"}, "base_currency"),
    ],
)
def test_bad_settings_are_refused_by_field_and_change_nothing(
    client: TestClient, admin: Member, body: dict[str, str], field: str
) -> None:
    response = client.put("/api/v1/settings/analytics", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    assert client.get("/api/v1/settings/analytics", headers=admin.headers).json()["base_currency"] == "EUR"


def test_settings_are_per_workspace(
    client: TestClient, admin: Member, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        other = make_member(session, clock.now())
    client.put(
        "/api/v1/settings/analytics",
        json={"base_currency": "JPY", "timezone": "Asia/Tokyo"},
        headers=other.headers,
    )
    assert client.get("/api/v1/settings/analytics", headers=admin.headers).json()["base_currency"] == "EUR"


def test_healthz_says_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_openapi_describes_the_admin_api(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {
        "/api/v1/goals",
        "/api/v1/goals/{goal_id}",
        "/api/v1/goals/{goal_id}/status",
        "/api/v1/goals/{goal_id}/history",
        "/api/v1/settings/analytics",
        "/healthz",
    } <= set(document["paths"])


def test_unknown_routes_answer_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
