"""A real OData v4 client against the real service: python-odata reads `$metadata`, builds its entity
classes from it, and pages through `Outcomes` (and the sets of multi-step goals and of analytics steps)
by following `@odata.nextLink` over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from odata import ODataService

from comerix.analytics.odata.views import router as odata_router
from comerix.app import create_app
from comerix.auth.models import EngineKeyKind
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.settings import Settings
from comerix.vocabulary import CycleState
from tests.factories import Member, make_engine_key, make_member
from tests.integration.test_contact_cycles import add_cycle, add_multistep_goal

OUTCOMES = 37
PAGE_SIZE = 10


def with_feed(app: FastAPI) -> FastAPI:
    """The app with the feed routed (until app.py includes the router itself)."""
    if not any(getattr(route, "path", None) == "/odata/v4/" for route in app.routes):
        app.include_router(odata_router)
    return app


@pytest.fixture
def admin(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


@pytest.fixture
def outcomes(client: TestClient, admin: Member, db: Database, clock: FixedClock) -> list[dict[str, Any]]:
    """37 purchases through the Engine API, each an outcome worth 10.01, 10.02, … EUR."""
    with db.transaction() as session:
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
    goal = {
        "code": "purchase",
        "name": "Purchase",
        "kind": "conversion",
        "trigger_event": "purchase",
        "value_mode": "from_property",
        "value_property": "total",
        "currency": "EUR",
    }
    assert client.post("/api/v1/goals", json=goal, headers=admin.headers).status_code == 201
    start = clock.now() - timedelta(days=3)
    conversions = [
        {
            "event": "purchase",
            "event_id": f"order-{n}",
            "contact_id": f"contact-{n}",
            "timestamp": (start + timedelta(minutes=n)).isoformat(),
            "properties": {"total": f"{10 + n / 100:.2f}"},
        }
        for n in range(1, OUTCOMES + 1)
    ]
    answer = client.post(
        "/conversions", json={"conversions": conversions}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 202, answer.text
    return [outcome for result in answer.json()["results"] for outcome in result["outcomes"]]


@pytest.fixture
def server(db: Database, settings: Settings, clock: FixedClock) -> Iterator[str]:
    """The real service on a free port of 127.0.0.1, in a thread; yields its feed's URL."""
    app = with_feed(create_app(settings, clock=clock, database=db))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
    service = uvicorn.Server(config)
    thread = threading.Thread(target=service.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not service.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/odata/v4/"
    finally:
        service.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_python_odata_reads_the_metadata_and_pages_through_every_outcome(
    server: str, admin: Member, outcomes: list[dict[str, Any]]
) -> None:
    session = requests.Session()
    # On the session, not python-odata's extra_headers, which it merges into a dict shared by all its
    # connections (a class attribute).
    session.headers.update(
        {"Authorization": f"Bearer {admin.token}", "Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    )
    with session:
        service = ODataService(server, reflect_entities=True, session=session, quiet_progress=True)
        assert set(service.entities) == {
            "Goals",
            "Outcomes",
            "Conversations",
            "Events",
            "GoalSteps",
            "GoalCycles",
            "GoalEvents",
            "Steps",
            "ExecutedSteps",
        }
        Outcome = service.entities["Outcomes"]
        requested: list[str] = []
        session.hooks["response"].append(lambda response, **_: requested.append(response.url))
        fetched = service.query(Outcome).all()
        # The client followed the server's links page after page: 37 rows in pages of 10.
        assert len(requested) == 4
        assert all("$skiptoken=" in url for url in requested[1:])

        in_order = service.query(Outcome).order_by(Outcome.value.desc()).all()
        paid = service.query(Outcome).filter(Outcome.value > Decimal("10.30")).all()

    assert len(fetched) == OUTCOMES
    by_id = {outcome.id: outcome for outcome in fetched}
    assert set(by_id) == {outcome["id"] for outcome in outcomes}
    for given in outcomes:
        got = by_id[given["id"]]
        assert (got.goal, got.kind, got.contact_id, got.currency) == (
            "purchase",
            "conversion",
            given["contact_id"],
            "EUR",
        )
        assert got.value == Decimal(given["value"])
        assert got.occurred_at.utcoffset() == timedelta(0)
    assert [o.value for o in in_order] == sorted((Decimal(o["value"]) for o in outcomes), reverse=True)
    assert {o.contact_id for o in paid} == {f"contact-{n}" for n in range(31, OUTCOMES + 1)}


def test_long_filters_in_the_url_over_http(
    server: str, admin: Member, outcomes: list[dict[str, Any]]
) -> None:
    """Power BI puts its lists in the URL. Through the real server: 1,000 ids (45 KB once encoded) are
    answered; 10,001 values are a 400 naming the limit, in the OData shape; a URL longer than the HTTP
    server reads (65,535 bytes with httptools) is refused by it, never a 500."""

    def count(expression: str) -> requests.Response:
        return requests.get(
            f"{server}Outcomes/$count",
            params={"$filter": expression},
            headers={"Authorization": f"Bearer {admin.token}"},
            timeout=60,
        )

    ids = [outcome["id"] for outcome in outcomes]
    wanted = ids[::2] + [f"00000000-0000-4000-8000-{n:012d}" for n in range(1000 - len(ids[::2]))]
    answer = count("id in (" + ",".join(f"'{value}'" for value in wanted) + ")")
    assert (answer.status_code, answer.text) == (200, str(len(ids[::2])))
    refused = count("value in (" + ",".join("0" * 10_001) + ")")
    assert (refused.status_code, refused.headers["odata-version"]) == (400, "4.0")
    assert "10,000 values" in refused.json()["error"]["message"]
    too_long = count("id in (" + ",".join(f"'{value}'" for value in wanted * 100) + ")")  # 4.5 MB
    assert 400 <= too_long.status_code < 500


CYCLES = 7


@pytest.fixture
def booking_cycles(admin: Member, db: Database, clock: FixedClock) -> list[str]:
    """A multi-step booking (start, choose, pay) gone through in 7 chats: every other one completed,
    the others partial. The cycles' ids, oldest first."""
    start = clock.now() - timedelta(days=3)
    with db.transaction() as session:
        goal, steps = add_multistep_goal(session, admin.workspace.id, "booking", start)
        made = [
            add_cycle(
                session,
                goal,
                steps,
                f"chat-{n}",
                f"contact-{n}",
                start + timedelta(hours=n),
                ["start", "choose", "pay"] if n % 2 == 0 else ["start", "choose"],
            )
            for n in range(CYCLES)
        ]
        return [str(cycle.id) for cycle in made]


def test_python_odata_reads_the_sets_of_multi_step_goals(
    server: str, admin: Member, booking_cycles: list[str]
) -> None:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {admin.token}", "Prefer": "odata.maxpagesize=3"})
    with session:
        service = ODataService(server, reflect_entities=True, session=session, quiet_progress=True)
        GoalStep = service.entities["GoalSteps"]
        GoalCycle = service.entities["GoalCycles"]
        GoalEvent = service.entities["GoalEvents"]
        requested: list[str] = []
        session.hooks["response"].append(lambda response, **_: requested.append(response.url))
        cycles = service.query(GoalCycle).all()
        assert len(requested) == 3  # 7 cycles in pages of 3, through the server's links
        completed = service.query(GoalCycle).filter(GoalCycle.state == "completed").all()
        newest = service.query(GoalCycle).order_by(GoalCycle.started_at.desc()).first()
        steps = service.query(GoalStep).order_by(GoalStep.order.asc()).all()
        events = service.query(GoalEvent).filter(GoalEvent.cycle_id == booking_cycles[0]).all()

    assert sorted(cycle.id for cycle in cycles) == sorted(booking_cycles)
    assert {cycle.state for cycle in completed} == {CycleState.COMPLETED.value}
    assert len(completed) == 4
    first = next(cycle for cycle in cycles if cycle.id == booking_cycles[0])
    assert (first.goal, first.conversation_id, first.contact_id, first.steps_reached) == (
        "booking",
        "chat-0",
        "contact-0",
        3,
    )
    assert (first.time_saved_seconds, first.cost_savings, first.revenue_earned) == (
        180,
        Decimal("1.75"),
        Decimal("49.90"),
    )
    assert first.started_at.utcoffset() == timedelta(0)
    assert newest.id == booking_cycles[-1]
    assert [(step.key, step.type) for step in steps] == [
        ("start", "start"),
        ("choose", "step"),
        ("pay", "completion"),
    ]
    assert sorted(event.step for event in events) == ["choose", "pay", "start"]


@pytest.fixture
def chats_with_steps(client: TestClient, admin: Member, db: Database, clock: FixedClock) -> None:
    """Two chats of the `sales` flow through the Engine API: greet → ask → ask → buy, and greet."""
    with db.transaction() as session:
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.PUBLIC)
    start = clock.now() - timedelta(hours=1)
    chats = {"chat-a": ["greet", "ask", "ask", "buy"], "chat-b": ["greet"]}
    events = [
        {
            "name": "message_sent",
            "conversation_id": chat,
            "flow_id": "sales",
            "timestamp": (start + timedelta(minutes=n)).isoformat(),
            "step": {"label": step.title(), "id": step},
        }
        for chat, steps in chats.items()
        for n, step in enumerate(steps)
    ]
    answer = client.post("/events", json={"events": events}, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 202, answer.text


def test_python_odata_reads_the_sets_of_analytics_steps(
    server: str, admin: Member, chats_with_steps: None
) -> None:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {admin.token}", "Prefer": "odata.maxpagesize=2"})
    with session:
        service = ODataService(server, reflect_entities=True, session=session, quiet_progress=True)
        Step, Executed = service.entities["Steps"], service.entities["ExecutedSteps"]
        Conversation = service.entities["Conversations"]
        steps = service.query(Step).order_by(Step.step_id.asc()).all()
        executed = service.query(Executed).filter(Executed.conversation_id == "chat-a").all()
        conversations = service.query(Conversation).order_by(Conversation.id.asc()).all()

    assert [(s.step_id, s.flow, s.label, s.type) for s in steps] == [
        ("ask", "sales", "Ask", "node"),
        ("buy", "sales", "Buy", "node"),
        ("greet", "sales", "Greet", "node"),
    ]
    assert sorted((e.position, e.step_id, e.parent) for e in executed) == [
        (0, "greet", None),
        (1, "ask", "greet"),
        (2, "ask", "ask"),
        (3, "buy", "ask"),
    ]
    assert [(c.id, c.step_path) for c in conversations] == [
        ("chat-a", '["greet","ask","ask","buy"]'),
        ("chat-b", '["greet"]'),
    ]
