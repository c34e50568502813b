"""The Engine API under concurrent retries and random input, on each backend."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from comerix.app import create_app
from comerix.auth.models import EngineKeyKind
from comerix.clock import FixedClock
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.schemas import GoalCreate
from comerix.settings import Settings
from comerix.telemetry.models import Event
from tests.factories import goal_body, make_engine_key, make_member


def test_concurrent_retries_record_once(db: Database, clock: FixedClock, tmp_path: Path) -> None:
    """Two processes' worth of service (two apps, two writers, two pools) race with the same event_id."""
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
        goals.create(
            session,
            admin.workspace.id,
            GoalCreate(**goal_body(trigger_event="purchase")),
            actor=admin.principal,
            now=clock.now(),
        )
    settings = Settings(data_dir=tmp_path)
    apps = [create_app(settings, clock=clock, database=Database(db.url)) for _ in range(2)]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for round_ in range(10):
            body = {"event": "purchase", "event_id": f"order-{round_}", "contact_id": "ann"}
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(
                    pool.map(
                        lambda c, body=body: c.post("/conversions", json=body, headers=headers).json(),
                        [first, second, first, second],
                    )
                )
            statuses = sorted(answer["results"][0]["status"] for answer in answers)
            assert statuses == ["accepted", "duplicate", "duplicate", "duplicate"], answers
    for app in apps:
        app.state.database.dispose()
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 10
        assert session.scalar(select(func.count()).select_from(Outcome)) == 10


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | (st.text(max_size=20))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
timestamps = (
    st.sampled_from(
        [
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+02:00",
            "2026-11-01",
            "nope",
            "2099-01-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
        ]
    )
    | json_values
)
ids = st.text(max_size=130) | json_values
items = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["purchase", "signup", "", "x" * 129]) | json_values,
        "event": st.sampled_from(["purchase", ""]) | json_values,
        "goal": st.sampled_from(["lead", "nope"]) | json_values,
        "event_id": ids,
        "timestamp": timestamps,
        "conversation_id": ids,
        "contact_id": ids,
        "flow_id": ids,
        "properties": st.dictionaries(st.text(max_size=8), json_values, max_size=5) | json_values,
        "extra": json_values,
    },
)
bodies = (
    items
    | st.fixed_dictionaries({"events": st.lists(items, max_size=4)})
    | st.fixed_dictionaries({"conversions": st.lists(items, max_size=4)})
    | json_values
)


def test_no_input_makes_the_engine_api_fail(client: TestClient, db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
        goals.create(
            session,
            admin.workspace.id,
            GoalCreate(
                **goal_body(
                    code="lead", trigger_event="purchase", value_mode="from_property", value_property="total"
                )
            ),
            actor=admin.principal,
            now=clock.now(),
        )
    headers = {"Authorization": f"Bearer {key}"}

    def stored() -> int:
        with db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Event)) or 0)

    @settings(max_examples=80, deadline=None)
    @given(body=bodies, path=st.sampled_from(["/events", "/conversions"]))
    def answer_is_clear(body: Any, path: str) -> None:
        before = stored()
        raw = json.dumps(body).encode()  # even `null`: an empty body would be malformed JSON (400)
        response = client.post(path, content=raw, headers=headers | {"Content-Type": "application/json"})
        assert response.status_code in {202, 422}, response.text
        if response.status_code == 422:
            assert stored() == before
            assert all({"field", "message"} <= set(d) for d in response.json()["error"]["details"])
        else:
            answer = response.json()
            assert stored() == before + answer["accepted"]

    answer_is_clear()
