"""Property: whatever a client sends to the goals API, the answer is a clear 2xx/4xx, never a 500, and
a refusal stores nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import make_member

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
field_values = {
    "code": st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True) | st.text(max_size=70),
    "name": st.text(max_size=130),
    "kind": st.sampled_from(["conversion", "engagement", "custom", "sale"]),
    "is_primary": st.booleans() | json_values,
    "trigger_event": st.text(max_size=130),
    "match_conditions": st.dictionaries(st.text(max_size=10), json_values, max_size=22) | json_values,
    "value_mode": st.sampled_from(["none", "fixed", "from_property", "other"]),
    "fixed_value": st.decimals(allow_nan=True).map(str) | json_values,
    "value_property": st.text(max_size=12) | json_values,
    "currency": st.sampled_from(["EUR", "usd", "XXX", "EURO", ""]) | json_values,
    "attribution_window_hours": st.integers(-10, 10_000) | json_values,
    "status": st.sampled_from(["active", "paused", "deleted"]),
}
bodies = st.fixed_dictionaries({}, optional=field_values) | json_values


def test_goal_routes_never_fail_on_client_input(client: TestClient, db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        who = make_member(session, clock.now())

    @settings(max_examples=60, deadline=None)
    @given(body=bodies, patch=bodies)
    def answer_is_clear(body: Any, patch: Any) -> None:
        before = client.get("/api/v1/goals", headers=who.headers).json()["goals"]
        created = client.post("/api/v1/goals", json=body, headers=who.headers)
        assert created.status_code in {201, 409, 422}, created.text
        after = client.get("/api/v1/goals", headers=who.headers).json()["goals"]
        assert len(after) == len(before) + (created.status_code == 201)
        if created.status_code != 201:
            assert set(created.json()["error"]) == {"code", "message", "details"}
            return

        goal_id = created.json()["id"]
        patched = client.patch(f"/api/v1/goals/{goal_id}", json=patch, headers=who.headers)
        assert patched.status_code in {200, 422}, patched.text
        if patched.status_code == 422:
            assert client.get(f"/api/v1/goals/{goal_id}", headers=who.headers).json() == created.json()

    answer_is_clear()


def test_non_finite_numbers_in_raw_json_are_refused(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        who = make_member(session, clock.now())
    headers = who.headers | {"content-type": "application/json"}
    raw = b'{"code":"a","name":"A","kind":"custom","trigger_event":"e","match_conditions":{"x":NaN}}'
    response = client.post("/api/v1/goals", content=raw, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "match_conditions.x"
    for body in (b"NaN", b"Infinity", b"[]", b"null", b'"text"'):
        assert client.post("/api/v1/goals", content=body, headers=headers).status_code == 422
