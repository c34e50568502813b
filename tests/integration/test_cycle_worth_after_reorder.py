"""A cycle's metrics after its goal's steps were reordered (SPEC §9): an incomplete cycle keeps no
metrics, and once it moves on the step it reached counts, not the step that starts the goal today."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from comerix.clock import FixedClock
from comerix.conversions.models import GoalCycle
from comerix.db import Database
from tests.factories import Shop, step_body


def test_metrics_are_the_sums_over_the_distinct_steps_reached(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    shop = Shop(client, db, clock)
    goal = shop.goal(
        code="booking",
        name="Booking",
        kind="conversion",
        steps=[
            step_body("opened", time_saved_seconds=0),
            step_body("details", time_saved_seconds=60),
            step_body("paid", completion=True),
        ],
    )
    t = clock.now() - timedelta(hours=1)
    chat = {"conversation_id": "c1", "contact_id": "ann"}
    shop.send("/events", {"name": "opened", "timestamp": t.isoformat(), **chat})  # an incomplete cycle
    steps = [{k: v for k, v in s.items() if k not in {"type", "position"}} for s in goal["steps"]]
    moved = [steps[1], steps[0], steps[2]]  # "details" now starts the goal
    r = client.patch(f"/api/v1/goals/{goal['id']}", json={"steps": moved}, headers=shop.admin.headers)
    assert r.status_code == 200, r.text
    shop.send("/events", {"name": "details", "timestamp": (t + timedelta(minutes=1)).isoformat(), **chat})
    with db.sessions() as session:
        (cycle,) = session.scalars(select(GoalCycle)).all()
    # it reached "opened" (0 s) and "details" (60 s): 60 s saved
    assert (cycle.state.value, cycle.steps_reached, cycle.time_saved_seconds) == ("partial", 2, 60)
