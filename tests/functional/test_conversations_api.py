"""The Conversation Explorer's API over HTTP (SPEC §10), on each backend: the list with its filters and
cursor paging, and one conversation's timeline of events, steps, outcomes and cycles, for the
telemetry permission and one workspace only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from comerix.analytics import contains_step, conversations
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, make_member

DAY = "2026-11-02"  # START is 09:30 UTC that day; the chats are two hours earlier


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    """Chats of the sales flow, one of support; ann's chat buys in the chat, bob's buys later from the
    shop's backend (credited by window); a multi-step booking runs in ann's chat."""
    shop = Shop(client, db, clock)
    shop.goal(code="purchase", name="Purchase", kind="conversion", trigger_event="purchase")
    shop.goal(
        code="booking",
        name="Booking",
        kind="engagement",
        steps=[
            {"key": "start", "name": "Start", "trigger_event": "booking_started"},
            {"key": "done", "name": "Done", "trigger_event": "booking_done", "completion": True},
        ],
    )
    at = clock.now() - timedelta(hours=2)

    def event(chat: str, minute: int, name: str, step: str | None, **fields: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "conversation_id": chat,
            "timestamp": (at + timedelta(minutes=minute)).isoformat(),
            "flow_id": "sales",
        }
        if step is not None:
            body["step"] = {"label": step.title(), "id": step}
        return body | fields

    shop.send(
        "/events",
        {
            "events": [
                event("ann-chat", 0, "conversation_started", "greet", contact_id="ann"),
                event("ann-chat", 1, "booking_started", "ask"),
                event("ann-chat", 2, "purchase", "buy"),
                event("bob-chat", 3, "conversation_started", "greet", contact_id="bob"),
                event("bob-chat", 4, "message_sent", "ask"),
                event("help-chat", 5, "conversation_started", "greet", contact_id="cy", flow_id="support"),
            ]
        },
    )
    later = {"event": "purchase", "event_id": "order-9", "contact_id": "bob"}
    shop.send("/conversions", later | {"timestamp": (at + timedelta(minutes=30)).isoformat()})
    return shop


def page(client: TestClient, who: Member, **params: str) -> Any:
    response = client.get(
        "/api/v1/conversations", params={"from": DAY, "to": DAY} | params, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: Any) -> list[str]:
    return [row["id"] for row in body["conversations"]]


def test_the_list_is_newest_first_with_counts_goals_and_paths(client: TestClient, shop: Shop) -> None:
    body = page(client, shop.admin)
    assert ids(body) == ["help-chat", "bob-chat", "ann-chat"]
    assert body["next"] is None
    ann = body["conversations"][2]
    assert (ann["contact_id"], ann["flow_id"], ann["events"], ann["steps"]) == ("ann", "sales", 3, 3)
    assert (ann["outcomes"], ann["step_path"]) == (["purchase"], ["Greet", "Ask", "Buy"])
    assert body["conversations"][1]["outcomes"] == ["purchase"]  # bob's, by the window rule


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"flow": "support"}, ["help-chat"]),
        ({"contact": "bob"}, ["bob-chat"]),
        ({"contains_step": "ask"}, ["bob-chat", "ann-chat"]),
        ({"contains_step": "buy"}, ["ann-chat"]),
        ({"contains_step": "nowhere"}, []),
        ({"goal": "purchase"}, ["bob-chat", "ann-chat"]),
        ({"converting": "true"}, ["bob-chat", "ann-chat"]),
        ({"converting": "true", "contains_step": "buy"}, ["ann-chat"]),
    ],
)
def test_filters(client: TestClient, shop: Shop, params: dict[str, str], expected: list[str]) -> None:
    assert ids(page(client, shop.admin, **params)) == expected


def test_pages_follow_the_cursor_without_skipping_or_repeating(
    client: TestClient, shop: Shop, clock: FixedClock
) -> None:
    at = clock.now() - timedelta(hours=1)
    shop.send(
        "/events",
        {
            "events": [
                {"name": "ping", "conversation_id": f"many-{n:03d}", "timestamp": at.isoformat()}
                for n in range(120)
            ]
        },
    )
    seen: list[str] = []
    body = page(client, shop.admin)
    while True:
        assert len(body["conversations"]) <= 50
        seen += ids(body)
        if body["next"] is None:
            break
        body = page(client, shop.admin, cursor=body["next"])
    assert len(seen) == len(set(seen)) == 123
    assert seen[:3] == ["many-119", "many-118", "many-117"]  # one start: by id, descending


def test_the_timeline_tells_what_happened_in_time_order(client: TestClient, shop: Shop) -> None:
    response = client.get("/api/v1/conversations/ann-chat", headers=shop.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["events"], body["steps"]) == ("ann-chat", 3, 3)
    kinds = [
        (entry["type"], entry.get("name") or entry.get("step_id") or entry.get("goal"))
        for entry in body["timeline"]
    ]
    assert kinds == [
        ("event", "conversation_started"),
        ("step", "greet"),
        ("event", "booking_started"),
        ("step", "ask"),
        ("cycle", "booking"),
        ("event", "purchase"),
        ("step", "buy"),
        ("outcome", "purchase"),
    ]
    ask = body["timeline"][3]
    assert (ask["label"], ask["position"], ask["parent"]) == ("Ask", 1, "greet")
    bob = client.get("/api/v1/conversations/bob-chat", headers=shop.admin.headers).json()
    (sale,) = [entry for entry in bob["timeline"] if entry["type"] == "outcome"]
    assert (sale["goal"], sale["attribution"], sale["credited"]) == ("purchase", "window", True)


def test_bad_parameters_unknown_conversations_and_permissions(
    client: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    for params, field in (
        ({"to": DAY}, "from"),
        ({"from": DAY, "to": DAY, "goal": "nope"}, "goal"),
        ({"from": DAY, "to": DAY, "converting": "yes"}, "converting"),
        ({"from": DAY, "to": DAY, "cursor": "%%%"}, "cursor"),
    ):
        answer = client.get("/api/v1/conversations", params=params, headers=shop.admin.headers)
        assert answer.status_code == 422, answer.text
        assert field in [p["field"] for p in answer.json()["error"]["details"]]
    assert client.get("/api/v1/conversations/none", headers=shop.admin.headers).status_code == 404
    with db.transaction() as session:
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=shop.admin.workspace)
        stranger = make_member(session, clock.now())
    assert client.get("/api/v1/conversations/ann-chat", headers=viewer.headers).status_code == 403
    assert client.get("/api/v1/conversations/ann-chat", headers=stranger.headers).status_code == 404
    assert page(client, stranger)["conversations"] == []


def test_contains_step_finds_a_step_executed_after_the_days_of_the_range(
    client: TestClient, shop: Shop, clock: FixedClock
) -> None:
    """The list picks chats by the day they started: a chat of November 1st (Berlin) that reached its
    step after midnight is found, and a step last executed before the range finds none."""
    late, old = "2026-11-01T22:50:00+00:00", "2026-10-30T10:00:00+00:00"
    shop.send(
        "/events",
        {
            "events": [
                {"name": "conversation_started", "conversation_id": "night-chat", "timestamp": late},
                {
                    "name": "message_sent",
                    "conversation_id": "night-chat",
                    "timestamp": "2026-11-02T00:20:00+00:00",
                    "step": {"label": "Night owl", "id": "night-owl"},
                },
                {
                    "name": "message_sent",
                    "conversation_id": "old-chat",
                    "timestamp": old,
                    "step": {"label": "Old", "id": "old"},
                },
            ]
        },
    )
    day = {"from": "2026-11-01", "to": "2026-11-01"}
    assert ids(page(client, shop.admin, **day, contains_step="night-owl")) == ["night-chat"]
    assert ids(page(client, shop.admin, **day, contains_step="old")) == []
    assert ids(
        page(client, shop.admin, **{"from": "2026-10-30", "to": "2026-10-30"}, contains_step="old")
    ) == ["old-chat"]


def test_contains_step_matches_whole_ids_whatever_characters_they_hold(
    client: TestClient, shop: Shop, clock: FixedClock
) -> None:
    """A step's id is any text (its label by default): quotes, backslashes and accents are matched as
    they were sent, and an id holding another's text between escaped quotes is not taken for it."""
    at = clock.now() - timedelta(hours=1)
    odd = ['say "hi"', "back\\slash", "Grüße ✓", 'x\\"ask']

    def chat(n: int, step: str) -> dict[str, Any]:
        return {
            "name": "message_sent",
            "conversation_id": f"odd-{n}",
            "timestamp": (at + timedelta(minutes=n)).isoformat(),
            "step": {"label": "Odd", "id": step},
        }

    shop.send("/events", {"events": [chat(n, step) for n, step in enumerate(odd)]})
    for n, step in enumerate(odd):
        assert ids(page(client, shop.admin, contains_step=step)) == [f"odd-{n}"], step
    assert ids(page(client, shop.admin, contains_step="ask")) == ["bob-chat", "ann-chat"]
    assert ids(page(client, shop.admin, contains_step='"ask"')) == []


@pytest.mark.parametrize("plan", ["lookup", "walk"])
def test_contains_step_pages_alike_whichever_way_the_step_is_found(
    client: TestClient,
    shop: Shop,
    clock: FixedClock,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    plan: str,
) -> None:
    """On PostgreSQL the catalogue's counts choose between finding a step's paths through their index
    and walking the chats newest first (`LOOKUP_COST`); both give the same pages, filters and cursor
    included, and neither sees another workspace's chats of the same ids and steps. (SQLite has one
    way; the test holds it to the same pages.)"""
    at = clock.now() - timedelta(hours=1)

    def chats(flow_of_support: str) -> dict[str, Any]:
        return {
            "events": [
                {
                    "name": "message_sent",
                    "conversation_id": f"many-{n:03d}",
                    "timestamp": (at + timedelta(seconds=n // 2)).isoformat(),  # two chats a start
                    "flow_id": flow_of_support if n % 5 == 0 else "sales",
                    "step": {"label": "Ask", "id": "ask" if n % 3 else "other"},
                }
                for n in range(130)
            ]
        }

    shop.send("/events", chats("support"))
    neighbour = Shop(client, db, clock)
    neighbour.send("/events", chats("sales"))  # the same chats and steps, all in another flow
    chosen: list[contains_step.Plan] = []
    holding_paths = contains_step.holding_paths

    def spy(workspace_id: Any, step: str, plan: contains_step.Plan) -> Any:
        chosen.append(plan)
        return holding_paths(workspace_id, step, plan)

    monkeypatch.setattr(conversations, "holding_paths", spy)
    monkeypatch.setattr(contains_step, "LOOKUP_COST", 0 if plan == "lookup" else 10**9)
    expected = {
        "ask": [f"many-{n:03d}" for n in range(129, -1, -1) if n % 3] + ["bob-chat", "ann-chat"],
        "other": [f"many-{n:03d}" for n in range(129, -1, -1) if n % 3 == 0],
    }
    for step, ids_of_step in expected.items():
        for filters in ({}, {"flow": "support"}, {"converting": "true"}, {"contact": "bob"}):
            seen: list[str] = []
            params = {"contains_step": step} | filters
            body = page(client, shop.admin, **params)
            while True:
                seen += ids(body)
                if body["next"] is None:
                    break
                body = page(client, shop.admin, **params, cursor=body["next"])
            wanted = [
                chat
                for chat in ids_of_step
                if not filters
                or (filters.get("flow") == "support" and chat.startswith("many-") and int(chat[5:]) % 5 == 0)
                or ("converting" in filters and chat in ("bob-chat", "ann-chat"))
                or (filters.get("contact") == "bob" and chat == "bob-chat")
            ]
            assert seen == wanted, (step, filters)
    if db.backend == "postgresql":
        assert set(chosen) == {contains_step.Plan(plan)}


def test_a_lookup_reads_the_index_with_its_settings_put_back(
    client: TestClient, shop: Shop, db: Database
) -> None:
    """The lookup's statement finds the paths through their GIN index (a change to its expression
    would make PostgreSQL scan every path instead, only slower), and the settings it turns off are as
    they were after it, an earlier change in the transaction included."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    paths, source = contains_step.holding_paths(shop.admin.workspace.id, "ask", contains_step.Plan.LOOKUP)
    statement = select(paths.c.conversation_id).select_from(source)
    with db.transaction() as session:
        session.execute(text("SET LOCAL enable_hashjoin = off"))
        with contains_step.lookup_settings(session):
            assert session.scalar(text("SHOW enable_seqscan")) == "off"
            # A few rows read through their primary key cost less than through the GIN index; with
            # that way closed too, only a scan of every path could stand in for the index.
            session.execute(text("SET LOCAL enable_indexscan = off"))
            sql = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
            session.execute(text("SET LOCAL enable_indexscan = on"))
        settings = [session.scalar(text(f"SHOW {name}")) for name in ("enable_seqscan", "enable_hashjoin")]
    assert "ix_conversation_paths_steps" in plan
    assert settings == ["on", "off"]


def test_a_steps_weight_counts_the_flow_asked_for_within_the_range(shop: Shop, db: Database) -> None:
    """What the plan is chosen by: the greeting of three chats, one of them in the support flow. With
    that flow asked for, a walk finds the one among the three chats the day started; a lookup still
    reads the three paths."""
    workspace = shop.admin.workspace
    with db.sessions() as session:
        query = conversations.parse_query(session, workspace, {"from": DAY, "to": DAY})

        def weight(flow: str | None) -> contains_step.StepWeight:
            return contains_step.step_weight(
                session, workspace.id, "greet", query.start, query.end, started=True, flow=flow
            )

        assert weight(None) == contains_step.StepWeight(ever=3, since_start=3, within=3, started=3)
        assert weight("support") == contains_step.StepWeight(ever=3, since_start=3, within=1, started=3)
        assert weight("returns") == contains_step.StepWeight(ever=3, since_start=3, within=0, started=3)
