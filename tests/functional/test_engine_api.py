"""The Engine API over HTTP, on each backend: the issue's walk-through, keys, idempotency, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Shop, make_member

PURCHASE_GOAL = {
    "code": "product_purchase",
    "name": "Product purchase",
    "kind": "conversion",
    "trigger_event": "purchase",
    "match_conditions": {"plan": "premium"},
    "value_mode": "from_property",
    "value_property": "grand_total",
    "currency_property": "currency",
}


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(client, db, clock)


def as_json(moment: datetime) -> str:
    """A UTC moment as the API writes it."""
    return moment.isoformat().replace("+00:00", "Z")


def at(clock: FixedClock, days: float, hours: float = 0) -> str:
    return (clock.now() - timedelta(days=12) + timedelta(days=days, hours=hours)).isoformat()  # as Shop.at


def test_the_walk_through_of_the_issue(shop: Shop, clock: FixedClock) -> None:
    shop.goal(**PURCHASE_GOAL)
    chat = {"conversation_id": "chat-1", "contact_id": "ann", "flow_id": "sales-bot"}
    shop.send(
        "/events",
        {
            "events": [
                {"name": "conversation_started", "timestamp": at(clock, 1), **chat},
                {
                    "name": "message_sent",
                    "timestamp": at(clock, 1, 0.1),
                    "properties": {"text": "hi"},
                    **chat,
                },
                {"name": "conversation_ended", "timestamp": at(clock, 1, 0.2), **chat},
            ]
        },
    )
    purchase = {
        "event": "purchase",
        "contact_id": "ann",
        "properties": {"plan": "premium", "grand_total": "129.50", "currency": "usd"},
    }
    day4 = shop.send("/conversions", {**purchase, "event_id": "order-1", "timestamp": at(clock, 4)})
    day11 = shop.send("/conversions", {**purchase, "event_id": "order-2", "timestamp": at(clock, 11)})

    credited = day4["results"][0]["outcomes"][0]
    assert (
        credited
        | {
            "goal": "product_purchase",
            "kind": "conversion",
            "value": "129.50",
            "currency": "USD",
            "base_value": "115.697311",  # 129.50 / 1.1193
            "base_currency": "EUR",
            # a Sunday: the ECB's rate of Friday 23 October 2026, 1.1193 dollars a euro
            "base_value_source": "rate",
            "fx_rate": "1.1193",
            "fx_date": "2026-10-23",
            "value_error": None,
            "attribution": "window",
            "conversation_id": "chat-1",
            "flow_id": "sales-bot",
            "contact_id": "ann",
            "source": "server",
        }
        == credited
    )
    late = day11["results"][0]["outcomes"][0]
    assert (late["attribution"], late["conversation_id"], late["flow_id"]) == ("none", None, None)
    assert late["value"] == "129.50"

    retried = shop.send("/conversions", {**purchase, "event_id": "order-1", "timestamp": at(clock, 4)})
    assert retried == {
        "accepted": 0,
        "duplicates": 1,
        "results": [
            {"index": 0, "event_id": "order-1", "status": "duplicate", "reason": None, "outcomes": []}
        ],
    }

    explorer = shop.client.get("/api/v1/events?name=purchase", headers=shop.admin.headers).json()
    assert [e["event_id"] for e in explorer["events"]] == ["order-2", "order-1"]
    assert explorer["events"][0]["properties"] == purchase["properties"]


def test_widget_events_in_a_chat_are_credited_to_it_whatever_the_window(
    shop: Shop, clock: FixedClock
) -> None:
    shop.goal(
        code="signup",
        name="Sign-up",
        kind="engagement",
        trigger_event="signed_up",
        attribution_window_hours=1,
    )
    shop.send(
        "/events",
        {"name": "conversation_started", "conversation_id": "c", "flow_id": "f", "timestamp": at(clock, 1)},
    )
    answer = shop.send("/events", {"name": "signed_up", "conversation_id": "c", "timestamp": at(clock, 9)})
    outcome = answer["results"][0]["outcomes"][0]
    assert (outcome["attribution"], outcome["conversation_id"], outcome["flow_id"], outcome["source"]) == (
        "conversation",
        "c",
        "f",
        "widget",
    )


def test_an_explicit_goal_is_recorded_without_matching(shop: Shop) -> None:
    shop.goal(
        code="lead",
        name="Lead",
        kind="conversion",
        trigger_event="form_sent",
        value_mode="fixed",
        fixed_value="25",
        currency="GBP",
    )
    answer = shop.send("/conversions", {"goal": "lead", "properties": {"anything": 1}})
    assert (
        answer["results"][0]["outcomes"][0] | {"goal": "lead", "value": "25", "currency": "GBP"}
        == (answer["results"][0]["outcomes"][0])
    )


def test_a_paused_explicit_goal_records_nothing_and_says_so(shop: Shop) -> None:
    goal = shop.goal(code="lead", name="Lead", kind="conversion", trigger_event="form_sent")
    shop.client.post(
        f"/api/v1/goals/{goal['id']}/status", json={"status": "paused"}, headers=shop.admin.headers
    )
    answer = shop.send("/conversions", {"goal": "lead", "event_id": "x"})
    assert answer["results"][0]["status"] == "ignored"
    assert "paused" in answer["results"][0]["reason"]
    assert answer["accepted"] == 0


def test_paused_and_archived_goals_match_nothing(shop: Shop) -> None:
    goal = shop.goal(code="signup", name="Sign-up", kind="engagement", trigger_event="signed_up")
    for status in ("paused", "archived"):
        shop.client.post(
            f"/api/v1/goals/{goal['id']}/status", json={"status": status}, headers=shop.admin.headers
        )
        assert shop.send("/events", {"name": "signed_up"})["results"][0]["outcomes"] == []
    shop.client.post(
        f"/api/v1/goals/{goal['id']}/status", json={"status": "active"}, headers=shop.admin.headers
    )
    assert len(shop.send("/events", {"name": "signed_up"})["results"][0]["outcomes"]) == 1


def test_an_unknown_goal_code_refuses_the_whole_batch(shop: Shop) -> None:
    shop.goal(code="lead", name="Lead", kind="conversion", trigger_event="form_sent")
    body = {"conversions": [{"goal": "lead", "event_id": "a"}, {"goal": "nope", "event_id": "b"}]}
    answer = shop.send("/conversions", body, expect=422)
    assert answer["error"]["details"] == [
        {"index": 1, "field": "goal", "message": "no goal 'nope' in this workspace"}
    ]
    assert shop.send("/conversions", {"goal": "lead", "event_id": "a"})["accepted"] == 1  # a was not stored


def test_a_value_that_is_not_a_number_is_recorded_with_its_reason(shop: Shop) -> None:
    shop.goal(**PURCHASE_GOAL)
    answer = shop.send(
        "/events", {"name": "purchase", "properties": {"plan": "premium", "grand_total": "n/a"}}
    )
    outcome = answer["results"][0]["outcomes"][0]
    assert outcome["value"] is None
    assert outcome["value_error"] == "property 'grand_total' is not a number (got 'n/a')"


def test_results_follow_the_items_in_order(shop: Shop) -> None:
    shop.goal(code="signup", name="Sign-up", kind="engagement", trigger_event="signed_up")
    answer = shop.send(
        "/events",
        {
            "events": [
                {"name": "signed_up", "event_id": "1"},
                {"name": "other", "event_id": "2"},
                {"name": "signed_up", "event_id": "1"},
                {"name": "signed_up"},
            ]
        },
    )
    assert [(r["index"], r["status"], len(r["outcomes"])) for r in answer["results"]] == [
        (0, "accepted", 1),
        (1, "accepted", 0),
        (2, "duplicate", 0),
        (3, "accepted", 1),
    ]
    assert (answer["accepted"], answer["duplicates"]) == (3, 1)


def test_keys_decide_what_may_be_sent(shop: Shop) -> None:
    assert shop.send("/events", {"name": "x"}, key=shop.secret)["accepted"] == 1
    refused = shop.send("/conversions", {"event": "x"}, key=shop.public, expect=403)
    assert refused["error"]["code"] == "key_not_allowed"
    for key in (shop.admin.token, "cx_pub_" + "0" * 32 + "_nope", "garbage"):
        assert shop.send("/events", {"name": "x"}, key=key, expect=401)["error"]["code"] == "unauthenticated"
    assert shop.client.post("/events", json={"name": "x"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"events": [{"name": ""}, {"name": "ok"}, {"name": "x", "timestamp": "yesterday"}]},
            [(0, "name"), (2, "timestamp")],
        ),
        ({"name": "x", "timestamp": "2026-11-21T10:00:00"}, [(0, "timestamp")]),
        ({"name": "x", "colour": "red"}, [(0, "colour")]),
        ({"name": "x", "properties": {"a": "x" * 17000}}, [(0, "properties")]),
        ({"name": "x", "conversation_id": "c" * 129}, [(0, "conversation_id")]),
        ({"events": []}, [(None, "events")]),
        ({"events": [{"name": "x"}] * 501}, [(None, "events")]),
    ],
)
def test_invalid_items_are_listed_and_nothing_is_stored(shop: Shop, body: Any, fields: list[Any]) -> None:
    answer = shop.send("/events", body, expect=422)
    assert [(d.get("index"), d["field"]) for d in answer["error"]["details"]] == fields
    assert shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"] == []


def test_deep_nesting_and_future_timestamps_are_refused(shop: Shop, clock: FixedClock) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(9):
        node["a"] = {}
        node = node["a"]
    assert shop.send("/events", {"name": "x", "properties": deep}, expect=422)["error"]["details"][0][
        "field"
    ] == ("properties")
    soon = (clock.now() + timedelta(minutes=4)).isoformat()
    later = (clock.now() + timedelta(minutes=6)).isoformat()
    assert shop.send("/events", {"name": "x", "timestamp": soon})["accepted"] == 1
    assert (
        shop.send("/events", {"name": "x", "timestamp": later}, expect=422)["error"]["details"][0]["message"]
        == "is more than 5 minutes in the future"
    )


def test_malformed_and_oversized_bodies(shop: Shop) -> None:
    headers = {"Authorization": f"Bearer {shop.public}", "Content-Type": "application/json"}
    assert shop.client.post("/events", content=b"{nope", headers=headers).status_code == 400
    assert shop.client.post("/events", content=b'{"name": NaN}', headers=headers).status_code == 400
    big = b'{"name": "x", "properties": {"a": "' + b"x" * (1024 * 1024) + b'"}}'
    response = shop.client.post("/events", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_big_integers_and_nul_characters_never_fail(shop: Shop) -> None:
    headers = {"Authorization": f"Bearer {shop.public}", "Content-Type": "application/json"}
    big = b'{"name": "x", "properties": {"n": 123456789012345678901234567890, "m": 18446744073709551616}}'
    assert shop.client.post("/events", content=big, headers=headers).status_code == 202
    (stored,) = shop.client.get("/api/v1/events", headers=shop.admin.headers).json()["events"]
    assert stored["properties"] == {"n": 123456789012345678901234567890, "m": 2**64}  # exact, not floats
    for deep, field in (
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (b'{"name": "x", "properties": {"n": [' * 3000 + b"1" + b"]}}" * 3000, "properties"),
    ):
        answer = shop.client.post("/events", content=deep, headers=headers)
        assert answer.status_code == 422, answer.text  # not a 500 from the parser's recursion
        assert answer.json()["error"]["details"][0]["field"] == field
    nul = shop.client.post(
        "/events", json={"name": "x\u0000", "properties": {"k\u0000": "v\u0000"}}, headers=headers
    )
    assert nul.status_code == 422


def test_another_workspaces_events_are_invisible(
    shop: Shop, client: TestClient, db: Database, clock: FixedClock
) -> None:
    shop.send("/events", {"name": "secret_thing", "properties": {"pii": "x"}})
    other = Shop(client, db, clock)
    assert client.get("/api/v1/events", headers=other.admin.headers).json()["events"] == []
    assert client.get("/api/v1/events/names", headers=other.admin.headers).json()["names"] == []


def test_a_goal_can_be_tried_before_saving(shop: Shop, clock: FixedClock) -> None:
    shop.send(
        "/events",
        {
            "events": [
                {
                    "name": "purchase",
                    "timestamp": at(clock, 2),
                    "properties": {"plan": "premium", "grand_total": 10},
                },
                {
                    "name": "purchase",
                    "timestamp": at(clock, 3),
                    "properties": {"plan": "basic", "grand_total": 5},
                },
                {
                    "name": "purchase",
                    "timestamp": at(clock, 4),
                    "properties": {"grand_total": "x", "plan": "premium"},
                },
                {"name": "purchase", "timestamp": at(clock, 5), "properties": {}},
                {"name": "Purchase", "timestamp": at(clock, 5), "properties": {"plan": "premium"}},
            ]
        },
    )
    body = {k: v for k, v in PURCHASE_GOAL.items() if k != "code"}
    response = shop.client.post("/api/v1/goals/preview?range=30d", json=body, headers=shop.admin.headers)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["scanned"], preview["matched"], preview["truncated"]) == (4, 2, False)
    assert [(s["value"], s["currency"], s["value_error"]) for s in preview["samples"]] == [
        (None, None, "property 'grand_total' is not a number (got 'x')"),
        ("10", "EUR", None),
    ]
    assert [m["failed"] for m in preview["closest_misses"]] == [
        [{"key": "plan", "expected": "premium", "actual": None, "missing": True}],  # newest first
        [{"key": "plan", "expected": "premium", "actual": "basic", "missing": False}],
    ]
    assert shop.client.get("/api/v1/goals", headers=shop.admin.headers).json() == {"goals": []}

    wrong_case = shop.client.post(
        "/api/v1/goals/preview", json=body | {"trigger_event": "PURCHASE"}, headers=shop.admin.headers
    ).json()
    assert (wrong_case["scanned"], wrong_case["similar_names"]) == (0, ["Purchase", "purchase"])


def test_a_preview_validates_the_goal_like_a_create(shop: Shop) -> None:
    response = shop.client.post(
        "/api/v1/goals/preview?range=1y",
        json={"name": "x", "kind": "custom", "trigger_event": "e", "value_mode": "fixed"},
        headers=shop.admin.headers,
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == ["range"]
    response = shop.client.post(
        "/api/v1/goals/preview",
        json={"name": "x", "kind": "custom", "trigger_event": "e", "value_mode": "fixed"},
        headers=shop.admin.headers,
    )
    assert [d["field"] for d in response.json()["error"]["details"]] == ["fixed_value"]


def test_the_event_name_catalogue(shop: Shop, clock: FixedClock) -> None:
    first = clock.now()
    purchases = [
        {"name": "purchase", "timestamp": at(clock, 2), "properties": {"plan": "a", "order": {"total": 1}}},
        {"name": "purchase", "timestamp": at(clock, 3), "properties": {"plan": "b", "coupon.code": "X"}},
    ]
    shop.send("/events", {"events": purchases})
    clock.advance(timedelta(days=10))
    shop.send(
        "/events",
        {
            "events": [
                {"name": "message_sent", "timestamp": at(clock, 11), "properties": {"text": "hi"}},
                {"name": "queued", "timestamp": at(clock, -40)},  # sent 52 days late: counts today
            ]
        },
    )

    def names(range_: str) -> list[dict[str, Any]]:
        response = shop.client.get(f"/api/v1/events/names?range={range_}", headers=shop.admin.headers)
        return list(response.json()["names"])

    assert names("30d") == [
        {
            "name": "purchase",
            "count": 2,
            "last_seen_at": as_json(first),
            "property_keys": ["coupon.code", "order.total", "plan"],
        },
        {"name": "message_sent", "count": 1, "last_seen_at": as_json(clock.now()), "property_keys": ["text"]},
        {"name": "queued", "count": 1, "last_seen_at": as_json(clock.now()), "property_keys": []},
    ]
    assert [entry["name"] for entry in names("7d")] == ["message_sent", "queued"]
    assert shop.client.get("/api/v1/events?range=2d", headers=shop.admin.headers).status_code == 422


def test_the_explorer_lists_events_as_they_arrived(shop: Shop, clock: FixedClock) -> None:
    """The latest arrival first, whatever the event's own time: a sale the shop reports three days
    late is on top. The range counts arrivals too."""
    shop.send("/events", {"name": "purchase", "event_id": "in-chat", "timestamp": at(clock, 12)})
    clock.advance(timedelta(minutes=5))
    shop.send("/conversions", {"event": "purchase", "event_id": "reported-late", "timestamp": at(clock, 9)})

    def explorer(range_: str) -> list[tuple[str, str]]:
        response = shop.client.get(f"/api/v1/events?range={range_}", headers=shop.admin.headers)
        return [(e["event_id"], e["received_at"]) for e in response.json()["events"]]

    late, early = as_json(clock.now()), as_json(clock.now() - timedelta(minutes=5))
    assert explorer("7d") == [("reported-late", late), ("in-chat", early)]

    clock.advance(timedelta(days=7, minutes=-4))  # "in-chat" arrived 7 days and a minute ago
    assert explorer("7d") == [("reported-late", late)]
    assert explorer("30d") == [("reported-late", late), ("in-chat", early)]
    body = {k: v for k, v in PURCHASE_GOAL.items() if k != "code"} | {"match_conditions": {}}
    preview = shop.client.post("/api/v1/goals/preview?range=7d", json=body, headers=shop.admin.headers)
    assert [m["event"]["event_id"] for m in preview.json()["samples"]] == ["reported-late"]


def test_the_explorer_needs_the_telemetry_permission(shop: Shop, db: Database, clock: FixedClock) -> None:
    from comerix.auth.roles import Role

    with db.transaction() as session:
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=shop.admin.workspace)
        analyst = make_member(session, clock.now(), role=Role.ANALYST, workspace=shop.admin.workspace)
    assert shop.client.get("/api/v1/events", headers=viewer.headers).status_code == 403
    assert shop.client.get("/api/v1/events/names", headers=viewer.headers).status_code == 403
    assert shop.client.get("/api/v1/events", headers=analyst.headers).status_code == 200


# Hostile input (issue 21, items 4 to 6): a 422 naming the field, and nothing of the batch stored.


def stored_events(shop: Shop) -> list[dict[str, Any]]:
    answer = shop.client.get("/api/v1/events", headers=shop.admin.headers)
    return list(answer.json()["events"])


def post_raw(shop: Shop, path: str, body: bytes) -> Any:
    """Post bytes as they are: the JSON escapes and depths below are not what a client library writes."""
    key = shop.public if path == "/events" else shop.secret
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return shop.client.post(path, content=body, headers=headers)


def refused_fields(response: Any) -> list[tuple[int | None, str]]:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    return [(d.get("index"), d["field"]) for d in response.json()["error"]["details"]]


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/events", {"name": "x", "timestamp": "0001-01-01T00:00:00+01:00"}),
        ("/conversions", {"goal": "lead", "timestamp": "0001-01-01T00:00:00+01:00"}),
        ("/conversions", {"event": "purchase", "contact_id": "ann", "timestamp": "0001-01-01T00:00:00Z"}),
        ("/events", {"name": "purchase", "contact_id": "ann", "timestamp": "0001-01-01T00:00:00Z"}),
        ("/events", {"name": "x", "timestamp": "1999-12-31T23:59:59Z"}),
        (
            "/conversions",
            {"event": "purchase", "contact_id": "ann", "timestamp": "9999-12-31T23:59:59-23:59"},
        ),
    ],
)
def test_timestamps_outside_the_accepted_range_are_refused(
    shop: Shop, path: str, item: dict[str, Any]
) -> None:
    shop.goal(code="lead", name="Lead", kind="conversion", trigger_event="purchase")
    batch = {path.strip("/"): [{**item, "timestamp": "2026-11-01T10:00:00Z"}, item]}
    answer = shop.send(path, batch, expect=422)
    assert [(d["index"], d["field"]) for d in answer["error"]["details"]] == [(1, "timestamp")]
    if item["timestamp"] < "2000":
        assert "2000-01-01T00:00:00Z" in answer["error"]["details"][0]["message"]
    assert stored_events(shop) == []


def test_the_first_accepted_moment_is_stored_and_credited(shop: Shop) -> None:
    shop.goal(code="lead", name="Lead", kind="conversion", trigger_event="purchase")
    chat = {"conversation_id": "c1", "contact_id": "ann"}
    shop.send("/events", {"name": "conversation_started", "timestamp": "2000-01-01T01:00:00+01:00", **chat})
    first = {"event": "purchase", "contact_id": "ann", "timestamp": "2000-01-01T00:00:00Z"}
    (outcome,) = shop.send("/conversions", first)["results"][0]["outcomes"]
    assert (outcome["occurred_at"], outcome["attribution"]) == ("2000-01-01T00:00:00Z", "window")
    assert len(stored_events(shop)) == 2


SURROGATE_ESCAPE = b"\\udfff"  # as a client writes it in JSON; a lone surrogate is no Unicode character


@pytest.mark.parametrize("path", ["/events", "/conversions"])
@pytest.mark.parametrize(
    "properties",
    [
        b'{"' + SURROGATE_ESCAPE + b'": 1}',
        b'{"a": "' + SURROGATE_ESCAPE + b'"}',
        b'{"a": [1, {"b": {"c": ["x", "' + SURROGATE_ESCAPE + b'"]}}]}',
        b'{"a": {"b": {"k' + SURROGATE_ESCAPE + b'": null}}}',
        b'{"n": 123456789012345678901234567890, "a": "\\ud800"}',
    ],
)
def test_a_lone_surrogate_in_the_properties_is_refused(shop: Shop, path: str, properties: bytes) -> None:
    name = b'"name": "x"' if path == "/events" else b'"event": "x"'
    plural = path.strip("/").encode()
    body = b'{"%s": [{%s}, {%s, "properties": %s}]}' % (plural, name, name, properties)
    assert refused_fields(post_raw(shop, path, body)) == [(1, "properties")]
    assert stored_events(shop) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/events", "name"),
        ("/events", "event_id"),
        ("/events", "conversation_id"),
        ("/events", "contact_id"),
        ("/events", "flow_id"),
        ("/events", "timestamp"),
        ("/conversions", "event"),
        ("/conversions", "goal"),
        ("/conversions", "contact_id"),
    ],
)
def test_a_lone_surrogate_in_any_other_field_is_refused(shop: Shop, path: str, field: str) -> None:
    name = b'"name": "x"' if path == "/events" else b'"event": "x"'
    if field in {"name", "event", "goal"}:
        name = b'"name": "y"' if path == "/events" else b""
    body = b'{%s%s"%s": "a%s"}' % (name, b", " if name else b"", field.encode(), SURROGATE_ESCAPE)
    assert refused_fields(post_raw(shop, path, body)) == [(0, field)]


def nested_properties(levels: int, kind: str) -> bytes:
    """A properties object nesting `levels` deep, itself the first level, as JSON text."""
    if kind == "objects":
        return b'{"a": ' * (levels - 1) + b"{}" + b"}" * (levels - 1)
    return b'{"l": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize("kind", ["objects", "lists"])
@pytest.mark.parametrize("levels", [9, 100, 950, 1000, 1023, 1030, 5000, 100_000])
def test_properties_nested_beyond_eight_levels_are_refused_at_any_depth(
    shop: Shop, levels: int, kind: str
) -> None:
    properties = nested_properties(levels, kind)
    single = b'{"name": "x", "properties": %s}' % properties
    assert refused_fields(post_raw(shop, "/events", single)) == [(0, "properties")]
    batch = b'{"conversions": [{"goal": "x"}, {"event": "x", "properties": %s}]}' % properties
    assert refused_fields(post_raw(shop, "/conversions", batch)) == [(1, "properties")]
    # an integer beyond 64 bits sends the body to the standard library's parser
    big = b'{"events": [{"name": "x", "properties": {"n": 123456789012345678901}}, {"name": "y", '
    big += b'"properties": '
    assert refused_fields(post_raw(shop, "/events", big + properties + b"}]}")) == [(1, "properties")]
    assert stored_events(shop) == []


def test_eight_levels_of_properties_are_stored(shop: Shop) -> None:
    for kind in ("objects", "lists"):
        assert (
            post_raw(
                shop, "/events", b'{"name": "x", "properties": %s}' % nested_properties(8, kind)
            ).status_code
            == 202
        )
    assert len(stored_events(shop)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", "name"),
        (b'{"events": [{"name": "x"}, ' + b"[" * 5000 + b"]" * 5000 + b"]}", "events"),
        (b'{"name": "x", "extra": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001, "extra"),
        (
            b'{"events": [{"name": "x", "properties": {}}, {"name": "x", "properties": {"l": '
            + b"[" * 3000
            + b"]" * 3000
            + b"}}]}",
            "properties",
        ),
    ],
)
def test_any_other_deep_nesting_is_refused_where_it_is(shop: Shop, body: bytes, field: str) -> None:
    (problem,) = refused_fields(post_raw(shop, "/events", body))
    assert problem[1] == field
