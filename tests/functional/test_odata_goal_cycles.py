"""The OData feed's sets of multi-step goals (SPEC §9) over HTTP, on each backend: `GoalSteps`,
`GoalCycles` and `GoalEvents` in `$metadata` and the service document, their rows, every query option and
paging, the `Goals` of multi-step goals (no trigger of their own), and another workspace seeing nothing.

The cycles are written through the ORM as ingestion stores them (`tests.integration.test_contact_cycles`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.conversions.models import GoalCycle
from comerix.db import Database
from tests.functional.test_odata import EDM, ROOT, Shop, error_of, follow
from tests.integration.test_contact_cycles import Step, add_cycle, add_multistep_goal

HOUR = timedelta(hours=1)
BOOKING = (
    Step("start"),
    Step("choose", time_saved_seconds=60, cost_savings="0.50"),
    Step("upsell", revenue_earned="5", retired=True),
    # More seconds than an Edm.Int32 holds, summed over a cycle: the feed says Edm.Int64.
    Step(
        "pay", completion=True, time_saved_seconds=3_000_000_000, cost_savings="1.25", revenue_earned="49.90"
    ),
)
QUOTE = (Step("ask"), Step("done", completion=True, revenue_earned="0.10"))


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(client, db, clock)


@pytest.fixture
def cycles(shop: Shop, db: Database, clock: FixedClock) -> dict[str, GoalCycle]:
    """Two multi-step goals and a single-step one; four cycles, by name:

    - `ann`: booking in chat-1 (booking-bot), completed through start, choose, pay;
    - `bob`: booking in chat-2, partial (start, choose);
    - `anon`: booking in chat-3, no contact and no flow, incomplete (start);
    - `quote`: quote in chat-1 by ann, completed (ask, done), the newest.
    """
    shop.goal(code="signup", name="Sign-up", kind="engagement", trigger_event="signed_up")
    start = clock.now() - timedelta(days=2)
    with db.transaction() as session:
        workspace = shop.admin.workspace.id
        booking, steps = add_multistep_goal(session, workspace, "booking", start, BOOKING, is_primary=True)
        quote, quote_steps = add_multistep_goal(session, workspace, "quote", start, QUOTE)
        made = {
            "ann": add_cycle(session, booking, steps, "chat-1", "ann", start, ["start", "choose", "pay"]),
            "bob": add_cycle(session, booking, steps, "chat-2", "bob", start + HOUR, ["start", "choose"]),
            "anon": add_cycle(
                session, booking, steps, "chat-3", None, start + 2 * HOUR, ["start"], flow_id=None
            ),
            "quote": add_cycle(
                session, quote, quote_steps, "chat-1", "ann", start + 3 * HOUR, ["ask", "done"]
            ),
        }
    return made


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def names_of(cycles: dict[str, GoalCycle], rows: list[dict[str, Any]]) -> set[str]:
    by_id = {str(cycle.id): name for name, cycle in cycles.items()}
    return {by_id[row["id"]] for row in rows}


# Documents -----------------------------------------------------------------------------------------


def test_the_service_document_and_metadata_declare_the_sets_of_multi_step_goals(shop: Shop) -> None:
    listed = [entry["name"] for entry in shop.get("/")["value"]]
    assert listed[4:7] == ["GoalSteps", "GoalCycles", "GoalEvents"]

    response = shop.client.get(f"{ROOT}/$metadata", headers=shop.admin.headers)
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 (our own service's document)
    schema = root.find("edmx:DataServices/edm:Schema", EDM)
    assert schema is not None
    sets = {
        s.get("Name"): s.get("EntityType") for s in schema.findall("edm:EntityContainer/edm:EntitySet", EDM)
    }
    assert (sets["GoalSteps"], sets["GoalCycles"], sets["GoalEvents"]) == (
        "Comerix.GoalStep",
        "Comerix.GoalCycle",
        "Comerix.GoalEvent",
    )
    types = {t.get("Name"): t for t in schema.findall("edm:EntityType", EDM)}
    # Every set named in the container has its type, and every type a key that is one of its properties.
    assert {f"Comerix.{name}" for name in types} == set(sets.values())
    facets = {
        name: {p.get("Name"): (p.get("Type"), p.get("Nullable")) for p in t.findall("edm:Property", EDM)}
        for name, t in types.items()
    }
    for name, entity_type in types.items():
        [key] = [ref.get("Name") for ref in entity_type.findall("edm:Key/edm:PropertyRef", EDM)]
        assert (key, facets[name][key]) == ("id", ("Edm.String", "false")), name
    string, decimal, moment = "Edm.String", "Edm.Decimal", "Edm.DateTimeOffset"
    assert facets["GoalStep"] == {
        "id": (string, "false"),
        "goal": (string, "false"),
        "key": (string, "false"),
        "name": (string, "false"),
        "order": ("Edm.Int32", "false"),
        "type": (string, "false"),
        "time_saved_seconds": ("Edm.Int64", "false"),
        "cost_savings": (decimal, "false"),
        "revenue_earned": (decimal, "false"),
        "retired": ("Edm.Boolean", "false"),
    }
    assert facets["GoalCycle"] == {
        "id": (string, "false"),
        "goal": (string, "false"),
        "conversation_id": (string, "false"),
        "contact_id": (string, "true"),
        "flow_id": (string, "true"),
        "started_at": (moment, "false"),
        "ended_at": (moment, "true"),
        "state": (string, "false"),
        "steps_reached": ("Edm.Int32", "false"),
        "time_saved_seconds": ("Edm.Int64", "false"),
        "cost_savings": (decimal, "false"),
        "revenue_earned": (decimal, "false"),
    }
    assert facets["GoalEvent"] == {
        "id": (string, "false"),
        "goal": (string, "false"),
        "step": (string, "false"),
        "cycle_id": (string, "false"),
        "conversation_id": (string, "false"),
        "occurred_at": (moment, "false"),
    }
    # A multi-step goal has no trigger of its own.
    assert facets["Goal"]["trigger_event"] == (string, "true")


# Rows ----------------------------------------------------------------------------------------------


def test_goal_steps_in_order_with_their_type_metrics_and_retired_flag(
    shop: Shop, cycles: dict[str, GoalCycle]
) -> None:
    rows = shop.get("/GoalSteps", **{"$filter": "goal eq 'booking'", "$orderby": "order desc"})["value"]

    assert [(r["key"], r["order"], r["type"], r["retired"]) for r in rows] == [
        ("pay", 3, "completion", False),
        ("upsell", 2, "step", True),
        ("choose", 1, "step", False),
        ("start", 0, "start", False),
    ]
    pay = rows[0]
    assert (pay["goal"], pay["name"], pay["time_saved_seconds"]) == ("booking", "Pay", 3_000_000_000)
    assert (pay["cost_savings"], pay["revenue_earned"]) == (Decimal("1.25"), Decimal("49.90"))
    assert shop.get(f"/GoalSteps('{pay['id']}')")["key"] == "pay"
    completions = shop.get("/GoalSteps", **{"$filter": "type eq 'completion'", "$select": "goal,key"})
    assert sorted((r["goal"], r["key"]) for r in completions["value"]) == [
        ("booking", "pay"),
        ("quote", "done"),
    ]
    assert set(completions["value"][0]) == {"goal", "key"}
    starts = shop.get(
        "/GoalSteps", **{"$filter": "type in ('start',) and order eq 0 and startswith(goal, 'b')"}
    )["value"]
    assert [r["key"] for r in starts] == ["start"]
    retired = shop.client.get(f"{ROOT}/GoalSteps/$count?$filter=retired", headers=shop.admin.headers)
    assert (retired.status_code, retired.text) == (200, "1")


def test_goal_cycles_with_their_goal_conversation_state_and_metrics(
    shop: Shop, cycles: dict[str, GoalCycle]
) -> None:
    rows = {row["id"]: row for row in shop.get("/GoalCycles")["value"]}

    ann = rows[str(cycles["ann"].id)]
    assert ann == {
        "id": str(cycles["ann"].id),
        "goal": "booking",
        "conversation_id": "chat-1",
        "contact_id": "ann",
        "flow_id": "booking-bot",
        "started_at": "2026-10-31T09:30:00Z",
        "ended_at": "2026-10-31T09:32:00Z",
        "state": "completed",
        "steps_reached": 3,
        "time_saved_seconds": 3_000_000_060,
        "cost_savings": Decimal("1.75"),
        "revenue_earned": Decimal("49.90"),
    }
    anon = rows[str(cycles["anon"].id)]
    assert (anon["contact_id"], anon["flow_id"], anon["ended_at"], anon["state"]) == (
        None,
        None,
        None,
        "incomplete",
    )
    assert (anon["time_saved_seconds"], anon["cost_savings"]) == (0, Decimal(0))
    raw = shop.client.get(f"{ROOT}/GoalCycles('{cycles['ann'].id}')", headers=shop.admin.headers)
    assert '"time_saved_seconds":3000000060,"cost_savings":1.75,' in raw.text  # exact JSON numbers
    compatible = shop.client.get(
        f"{ROOT}/GoalCycles('{cycles['ann'].id}')",
        headers=shop.admin.headers | {"Accept": "application/json;IEEE754Compatible=true"},
    ).json()
    # As OData's JSON format asks: 64-bit integers and decimals as strings.
    assert (compatible["time_saved_seconds"], compatible["cost_savings"]) == ("3000000060", "1.75")
    assert compatible["steps_reached"] == 3


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("state eq 'completed'", {"ann", "quote"}),
        ("goal eq 'booking' and steps_reached ge 2", {"ann", "bob"}),
        ("goal ne 'booking'", {"quote"}),
        ("contact_id eq null", {"anon"}),
        ("contact_id ne 'ann'", {"bob", "anon"}),
        ("flow_id eq null", {"anon"}),
        ("ended_at ne null", {"ann", "quote"}),
        ("conversation_id eq 'chat-1'", {"ann", "quote"}),
        ("cost_savings gt 1", {"ann"}),
        ("revenue_earned eq 0.1", {"quote"}),
        ("time_saved_seconds gt 2147483647", {"ann"}),  # beyond 32 bits: an Edm.Int64
        ("started_at ge 2026-10-31T11:30:00Z", {"anon", "quote"}),
        ("state in ('partial', 'incomplete')", {"bob", "anon"}),
        ("contains(goal, 'ook')", {"ann", "bob", "anon"}),
    ],
)
def test_each_filter_on_goal_cycles(
    shop: Shop, cycles: dict[str, GoalCycle], expression: str, expected: set[str]
) -> None:
    assert names_of(cycles, shop.get("/GoalCycles", **{"$filter": expression})["value"]) == expected


def test_goal_cycles_sort_count_and_page(shop: Shop, cycles: dict[str, GoalCycle]) -> None:
    newest = shop.get("/GoalCycles", **{"$orderby": "started_at desc", "$top": "2", "$count": "true"})
    assert newest["@odata.count"] == 4
    assert ids(newest["value"]) == [str(cycles["quote"].id), str(cycles["anon"].id)]
    by_goal = shop.get("/GoalCycles", **{"$orderby": "goal desc,started_at", "$skip": "1"})["value"]
    assert ids(by_goal) == [str(cycles[name].id) for name in ("ann", "bob", "anon")]
    counted = shop.client.get(
        f"{ROOT}/GoalCycles/$count", params={"$filter": "state eq 'completed'"}, headers=shop.admin.headers
    )
    assert (counted.status_code, counted.text) == (200, "2")

    rows, pages = follow(
        shop.client, f"{ROOT}/GoalCycles", shop.admin.headers | {"Prefer": "odata.maxpagesize=3"}
    )
    assert len(pages) == 2
    assert "$skiptoken=" in pages[0].json()["@odata.nextLink"]
    assert sorted(ids(rows)) == sorted(str(cycle.id) for cycle in cycles.values())
    ordered, pages = follow(
        shop.client,
        f"{ROOT}/GoalCycles?$orderby=cost_savings desc",
        shop.admin.headers | {"Prefer": "odata.maxpagesize=1"},
    )
    assert len(pages) == 4
    assert ids(ordered)[0] == str(cycles["ann"].id)


def test_goal_events_one_per_step_reached(shop: Shop, cycles: dict[str, GoalCycle]) -> None:
    ann = str(cycles["ann"].id)
    rows = shop.get("/GoalEvents", **{"$filter": f"cycle_id eq '{ann}'", "$orderby": "occurred_at"})["value"]

    assert [(r["goal"], r["step"], r["cycle_id"], r["conversation_id"]) for r in rows] == [
        ("booking", "start", ann, "chat-1"),
        ("booking", "choose", ann, "chat-1"),
        ("booking", "pay", ann, "chat-1"),
    ]
    assert [r["occurred_at"] for r in rows] == [
        "2026-10-31T09:30:00Z",
        "2026-10-31T09:31:00Z",
        "2026-10-31T09:32:00Z",
    ]
    assert set(rows[0]) == {"id", "goal", "step", "cycle_id", "conversation_id", "occurred_at"}
    assert [r["id"] for r in rows] == [f"{ann}:start", f"{ann}:choose", f"{ann}:pay"]
    assert shop.get(f"/GoalEvents('{ann}:pay')")["occurred_at"] == "2026-10-31T09:32:00Z"
    later = shop.get(
        "/GoalEvents", **{"$filter": f"cycle_id eq '{ann}' and occurred_at gt 2026-10-31T09:30:30Z"}
    )["value"]
    assert [r["step"] for r in later] == ["choose", "pay"]
    reached_choose = shop.get("/GoalEvents", **{"$filter": "step eq 'choose'", "$select": "cycle_id"})[
        "value"
    ]
    assert {r["cycle_id"] for r in reached_choose} == {ann, str(cycles["bob"].id)}
    assert shop.get("/GoalEvents", **{"$count": "true", "$top": "0"})["@odata.count"] == 8
    counted = shop.client.get(
        f"{ROOT}/GoalEvents/$count", params={"$filter": "goal eq 'quote'"}, headers=shop.admin.headers
    )
    assert counted.text == "2"


def test_goals_of_both_kinds_keep_being_served(shop: Shop, cycles: dict[str, GoalCycle]) -> None:
    goals = {g["code"]: g for g in shop.get("/Goals")["value"]}
    assert {code: g["trigger_event"] for code, g in goals.items()} == {
        "signup": "signed_up",
        "booking": None,
        "quote": None,
    }
    assert json.loads(goals["booking"]["match_conditions"]) == {}
    multi_step = shop.get("/Goals", **{"$filter": "trigger_event eq null", "$orderby": "code"})["value"]
    assert [g["code"] for g in multi_step] == ["booking", "quote"]
    single = shop.get("/Goals", **{"$filter": "trigger_event ne null"})["value"]
    assert [g["code"] for g in single] == ["signup"]
    assert [g["code"] for g in shop.get("/Goals", **{"$orderby": "trigger_event desc,code"})["value"]] == [
        "signup",
        "booking",
        "quote",
    ]


# Tenancy and errors ----------------------------------------------------------------------------------


def test_another_workspace_sees_none_of_the_cycles_and_their_keys_are_404(
    shop: Shop, cycles: dict[str, GoalCycle], client: TestClient, db: Database, clock: FixedClock
) -> None:
    other = Shop(client, db, clock)
    ours = {
        "GoalSteps": shop.get("/GoalSteps")["value"][0]["id"],
        "GoalCycles": str(cycles["ann"].id),
        "GoalEvents": shop.get("/GoalEvents")["value"][0]["id"],
    }
    for entity_set, key in ours.items():
        assert other.get(f"/{entity_set}", **{"$count": "true"}) | {"@odata.context": ""} == {
            "@odata.context": "",
            "@odata.count": 0,
            "value": [],
        }
        response = other.client.get(f"{ROOT}/{entity_set}('{key}')", headers=other.admin.headers)
        assert error_of(response, 404)["code"] == "entity_not_found"
        assert other.client.get(f"{ROOT}/{entity_set}/$count", headers=other.admin.headers).text == "0"
        assert shop.get(f"/{entity_set}('{key}')")["id"] == key
    # Filtering on another workspace's goal finds nothing either.
    assert other.get("/GoalCycles", **{"$filter": "goal eq 'booking'"})["value"] == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/GoalSteps", "$filter=nope eq 1"),
        ("/GoalSteps", "$filter=order eq 'first'"),
        ("/GoalSteps", "$orderby=goal sideways"),
        ("/GoalCycles", "$filter=time_saved_seconds eq 99999999999999999999"),
        ("/GoalCycles", "$filter=steps_reached eq 3000000000"),  # beyond an Edm.Int32
        ("/GoalCycles", "$filter=state eq 3"),
        ("/GoalCycles", "$select=goal,reached"),
        ("/GoalEvents", "$filter=cycle_id gt 5"),
        ("/GoalEvents", "$filter=occurred_at gt 5"),
        ("/GoalEvents", "$orderby=reached_at"),
    ],
)
def test_a_bad_query_on_the_new_sets_is_a_400(shop: Shop, path: str, query: str) -> None:
    response = shop.client.get(f"{ROOT}{path}?{query}", headers=shop.admin.headers)
    assert error_of(response, 400)["code"] == "bad_query"
