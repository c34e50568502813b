"""Insights → Goals → a goal's page over HTTP, on each backend: its trend (the Analytics Hub's figures for
the goal), its latest outcomes with every client-sent value escaped, its change history, its links, and
who may open it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.models import Goal
from tests.factories import Member, make_engine_key, make_member, send_sales_day
from tests.pages import inner, post_form, sign_in, table_rows, text

LIST = "/admin/insights/goals"


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> dict[str, Any]:
    """The reports' example shop (tests.factories.send_sales_day) three days ago, and its secret key."""
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
    send_sales_day(pages, admin, key, (clock.now() - timedelta(days=3)).replace(hour=10))
    return {"admin": admin, "key": key}


def goal_named(db: Database, who: Member, code: str) -> Goal:
    with db.sessions() as session:
        [goal] = [g for g in goals.list_for_workspace(session, who.workspace.id) if g.code == code]
        return goal


def page_path(goal: Goal | str) -> str:
    return f"/admin/insights/goals/{goal if isinstance(goal, str) else goal.id}"


def member(db: Database, clock: FixedClock, role: Role, of: Member | None = None) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role, workspace=of.workspace if of else None)


def test_the_page_shows_the_goal_trend_as_the_analytics_hub_does(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    admin = shop["admin"]
    sign_in(pages, admin.user.email)
    sale = goal_named(pages.app.state.database, admin, "sale")
    response = pages.get(page_path(sale))
    assert response.status_code == 200
    body = response.text
    assert "<h1>Sale" in body
    assert "Code sale · Conversion · single event" in text(body)

    first = (pages.app.state.clock.now().date() - timedelta(days=29)).isoformat()
    summary = pages.get(
        "/api/v1/reports/summary",
        params={"from": first, "to": "2026-11-02", "goal": "sale"},
        headers=admin.headers,
    ).json()
    assert summary["totals"]["conversions"] == 3
    assert text(inner(body, "tile-outcomes")) == "Outcomes 3"
    assert text(inner(body, "tile-base-revenue")) == "Base revenue €4.78"  # a sum: to the cent
    assert text(inner(body, "tile-revenue")) == "Revenue €0.30 $5.00 per display currency"
    assert text(inner(body, "tile-conversations")) == "Conversations credited 1 started in the range"

    block = re.search(r'<script type="application/json" id="goal-trend-data">(.*?)</script>', body, re.S)
    assert block is not None
    chart = orjson.loads(block.group(1))
    assert len(chart["labels"]) == len(chart["outcomes"]) == 30
    assert chart["labels"][-1] == "Mon 2 Nov"
    assert chart["outcomes"][-4:] == [2, 1, 0, 0]  # 30 Oct in the chat, 31 Oct the late sale
    assert chart["outcomes"] == [p["conversions"] for p in summary["series"]]
    assert chart["revenue"] == [
        {
            "currency": "EUR",
            "values": [
                p["base_revenue"][0]["value"] if p["base_revenue"] else "0" for p in summary["series"]
            ],
        }
    ]
    assert len(table_rows(body, "trend-table")) == 30
    assert text(inner(body, "trend-table")).endswith("Total 3 €4.78")
    assert 'title="€4.775474 exactly">€4.78</span>' in inner(body, "trend-table")
    assert body.index("vendor/chart.js/chart.umd.min.js") < body.index("js/goal_page.js")
    sources = re.findall(r'<script src="([^"]+)"', body)
    assert all(src.startswith("https://testserver/admin/static/") for src in sources)  # no CDN

    links = re.findall(r'href="([^"]+)"', body)
    assert f"/admin/insights/goals/{sale.id}/edit" in links
    assert "/admin/insights/analytics?range=30d&amp;goal=sale" in body


def test_recent_outcomes_show_values_attribution_and_links_newest_first(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    admin = shop["admin"]
    sign_in(pages, admin.user.email)
    body = pages.get(page_path(goal_named(pages.app.state.database, admin, "sale"))).text
    assert table_rows(body, "outcomes-table") == [
        "2026-10-31 11:30:00 CET $5.00 €4.475474 converted at 1.1172 USD per EUR, the rate of 2026-10-30 "
        "Not attributed — bob",
        "2026-10-30 11:33:00 CET €0.20 €0.20 In the conversation c1 ann",
        "2026-10-30 11:32:00 CET €0.10 €0.10 In the conversation c1 ann",
    ]
    assert (
        '<a href="/admin/contacts/profile?contact_id=bob"><code>bob</code></a>' in body
    )  # admins see profiles


def test_a_designer_sees_contacts_without_links_to_profiles_they_may_not_open(
    pages: TestClient, db: Database, clock: FixedClock, shop: dict[str, Any]
) -> None:
    designer = member(db, clock, Role.DESIGNER, of=shop["admin"])
    sign_in(pages, designer.user.email)
    body = pages.get(page_path(goal_named(db, designer, "sale"))).text
    assert "<code>bob</code>" in body
    assert "/admin/contacts/profile" not in body
    assert "/admin/insights/analytics?range=30d" in body  # designers read the Analytics Hub


def test_every_value_a_client_sent_is_escaped(pages: TestClient, shop: dict[str, Any]) -> None:
    admin = shop["admin"]
    hostile = '<img src=x onerror="alert(1)">'
    sale = {
        "event": "sale",
        "conversation_id": f"c{hostile}",
        "contact_id": f"ann{hostile}",
        "flow_id": f"f{hostile}",
        "properties": {"total": hostile, "currency": "EUR"},
    }
    sent = pages.post("/conversions", json=sale, headers={"Authorization": f"Bearer {shop['key']}"})
    assert sent.status_code == 202
    sign_in(pages, admin.user.email)
    body = pages.get(page_path(goal_named(pages.app.state.database, admin, "sale"))).text
    assert "<img" not in body
    assert 'onerror="alert' not in body
    newest = table_rows(body, "outcomes-table")[0]
    assert f"c{hostile}" in newest
    assert f"ann{hostile}" in newest
    assert "No value: property 'total' is not a number" in newest
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in body


def test_the_change_history_is_newest_first_and_readable(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
    sign_in(pages, admin.user.email)
    form = {
        "name": "Lead",
        "code": "lead",
        "kind": "conversion",
        "trigger_event": "lead",
        "match_conditions": '{"form": "<b>x</b>"}',
        "value_mode": "none",
        "attribution_window_hours": "168",
    }
    assert post_form(pages, "/admin/insights/goals/new", form).status_code == 303
    goal = goal_named(db, admin, "lead")
    clock.advance(timedelta(hours=1))
    changed = form | {"name": "Lead form", "value_mode": "fixed", "fixed_value": "25", "currency": "EUR"}
    assert post_form(pages, f"{page_path(goal)}/edit", changed).status_code == 303
    clock.advance(timedelta(hours=1))
    paused = post_form(pages, f"{page_path(goal)}/status", {"status": "paused", "next": page_path(goal)})
    assert (paused.status_code, paused.headers["location"]) == (303, page_path(goal))

    body = pages.get(page_path(goal)).text
    assert "Goal “Lead form” paused." in body
    entries = re.findall(r'<li id="revision-[^"]+">(.*?)</li>\s*(?=<li id="revision-|</ol>)', body, re.S)
    assert [text(entry) for entry in entries] == [
        f"Status changed by {admin.user.email} · 2026-11-02 12:30:00 CET Status: active → paused",
        f"Edited by {admin.user.email} · 2026-11-02 11:30:00 CET Name: Lead → Lead form "
        "Value: none → fixed Fixed value: (none) → 25 Currency: (none) → EUR",
        f"Created by {admin.user.email} · 2026-11-02 10:30:00 CET Name: Lead Code: lead Kind: conversion "
        'Primary goal: no Trigger event: lead Match conditions: {"form":"<b>x</b>"} Value: none '
        "Attribution window (hours): 168 Status: active",
    ]
    assert "<b>x</b>" not in body


def test_another_workspaces_goal_and_a_made_up_one_are_404_pages(
    pages: TestClient, db: Database, clock: FixedClock, shop: dict[str, Any]
) -> None:
    stranger = member(db, clock, Role.ADMIN)
    sign_in(pages, stranger.user.email)
    theirs = goal_named(db, shop["admin"], "sale")
    for path in (
        page_path(theirs),
        page_path("not-a-goal"),
        page_path("00000000-0000-0000-0000-000000000000"),
    ):
        response = pages.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "Sale" not in response.text


def test_the_page_needs_goal_management(
    pages: TestClient, db: Database, clock: FixedClock, shop: dict[str, Any]
) -> None:
    sale = goal_named(db, shop["admin"], "sale")
    for role in (Role.ANALYST, Role.VIEWER):
        who = member(db, clock, role, of=shop["admin"])
        sign_in(pages, who.user.email)
        response = pages.get(page_path(sale))
        assert response.status_code == 403, role
        assert "comerix.insights.goals.manage" in response.text
    pages.cookies.clear()
    signed_out = pages.get(page_path(sale), follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/admin/login?next=")


def test_a_goal_without_outcomes_says_so(pages: TestClient, db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
    sign_in(pages, admin.user.email)
    created = pages.post(
        "/api/v1/goals",
        json={"code": "quiet", "name": "Quiet", "kind": "custom", "trigger_event": "q"},
        headers=admin.headers,
    )
    assert created.status_code == 201
    body = pages.get(page_path(created.json()["id"])).text
    assert "This goal has no outcome yet." in body
    assert text(inner(body, "tile-outcomes")) == "Outcomes 0"
    assert text(inner(body, "tile-base-revenue")) == "Base revenue —"


def test_the_list_shows_each_goals_outcomes_and_base_revenue_of_the_last_30_days(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    old = {
        "event": "sale",
        "contact_id": "cid",
        "timestamp": (pages.app.state.clock.now() - timedelta(days=31)).isoformat(),
        "properties": {"total": "100", "currency": "EUR"},
    }
    sent = pages.post("/conversions", json=old, headers={"Authorization": f"Bearer {shop['key']}"})
    assert sent.status_code == 202
    sign_in(pages, shop["admin"].user.email)
    listed = pages.get(LIST).text
    figures = {
        text(name): text(rest)
        for name, rest in re.findall(
            r"<tr>\s*<td>\s*(<a[^>]*>[^<]*</a>).*?(<td class=\"num\">.*?)</tr>", listed, re.S
        )
    }
    # The sale of 31 days ago is not counted; a goal without a value has no base revenue.
    assert figures == {"Sale": "3 €4.78 Pause Archive", "Reply": "1 — Pause Archive"}
    sale = goal_named(pages.app.state.database, shop["admin"], "sale")
    assert f'<a href="/admin/insights/goals/{sale.id}">Sale</a>' in listed


BOOKING = {
    "code": "booking",
    "name": "Booking",
    "kind": "conversion",
    "value_mode": "fixed",
    "fixed_value": "90",
    "steps": [
        {"key": "started", "name": "Started", "trigger_event": "booking_started"},
        {"key": "dates", "name": "Dates", "trigger_event": "dates_chosen", "time_saved_seconds": 3725},
        {
            "key": "paid",
            "name": "Paid",
            "trigger_event": "payment",
            "completion": True,
            "cost_savings": "2.50",
            "revenue_earned": "40",
        },
    ],
}


@pytest.fixture
def booking(pages: TestClient, shop: dict[str, Any]) -> dict[str, Any]:
    """A multi-step goal and three chats of the day before: one completed, one partial, one incomplete."""
    admin = shop["admin"]
    created = pages.post("/api/v1/goals", json=BOOKING, headers=admin.headers)
    assert created.status_code == 201, created.text
    start = pages.app.state.clock.now() - timedelta(days=1)

    def event(name: str, chat: str, minute: int) -> dict[str, Any]:
        moment = (start + timedelta(minutes=minute)).isoformat()
        return {"name": name, "timestamp": moment, "conversation_id": chat, "contact_id": f"guest-{chat}"}

    events = [
        event("booking_started", "b1", 0),
        event("dates_chosen", "b1", 1),
        event("payment", "b1", 2),
        event("booking_started", "b2", 0),
        event("dates_chosen", "b2", 1),
        event("booking_started", "b3", 0),
    ]
    sent = pages.post("/events", json={"events": events}, headers={"Authorization": f"Bearer {shop['key']}"})
    assert sent.status_code == 202, sent.text
    return dict(created.json())


def test_a_multi_step_goal_page_shows_its_cycles_as_the_goals_report_does(
    pages: TestClient, shop: dict[str, Any], booking: dict[str, Any]
) -> None:
    admin = shop["admin"]
    params = {"from": "2026-10-04", "to": "2026-11-02", "goal": "booking"}
    [report] = pages.get("/api/v1/reports/goals", params=params, headers=admin.headers).json()["goals"]
    assert (report["started"], report["completed"], report["time_saved_seconds"]) == (3, 1, 7450)
    sign_in(pages, admin.user.email)
    body = pages.get(page_path(booking["id"])).text

    assert "multi-step process, 3 steps" in text(body)
    tiles = {
        key: text(inner(body, f"tile-{key}")) for key in ("started", "incomplete", "partial", "completed")
    }
    assert tiles == {
        "started": "Started 3 cycles begun in the range",
        "incomplete": "Incomplete 1 only the start step",
        "partial": "Partial 1 past the start, not completed",
        "completed": "Completed 1 each recorded one outcome",
    }
    assert text(inner(body, "tile-completion-rate")) == "Completion rate 33.3% completed / started"
    # Two cycles past the start reached "dates" (3,725 s each).
    assert text(inner(body, "tile-time-saved")) == "Time saved 2 h 4 min 7,450 seconds"
    assert text(inner(body, "tile-cost-savings")) == f"Cost savings €{report['cost_savings']} in EUR"
    assert text(inner(body, "tile-revenue-earned")) == f"Revenue earned €{report['revenue_earned']} in EUR"

    assert table_rows(body, "funnel-table") == [
        f"Started started Start 3 100.0% {report['funnel'][0]['drop_off']}",
        f"Dates dates Step 2 66.7% {report['funnel'][1]['drop_off']}",
        "Paid paid Completion 1 33.3% 0",
    ]
    funnel = re.search(r'<script type="application/json" id="goal-funnel-data">(.*?)</script>', body, re.S)
    assert funnel is not None
    assert orjson.loads(funnel.group(1)) == {
        "labels": ["Started", "Dates", "Paid"],
        "reached": [3, 2, 1],
        "drop_off": [step["drop_off"] for step in report["funnel"]],
        "share": ["100.0%", "66.7%", "33.3%"],
    }
    states = re.search(r'<script type="application/json" id="goal-states-data">(.*?)</script>', body, re.S)
    assert states is not None
    chart = orjson.loads(states.group(1))
    assert (len(chart["labels"]), chart["labels"][-2]) == (30, "Sun 1 Nov")
    assert {label: values[-2] for label, values in chart["states"].items()} == {
        "Completed": 1,
        "Partial": 1,
        "Incomplete": 1,
    }
    assert text(inner(body, "cycles-table")).endswith("Total 1 1 1")
    assert text(inner(body, "tile-outcomes")) == "Outcomes 1"  # the completion recorded one outcome
    assert '<canvas id="goal-funnel-chart"' in body


def test_the_range_changes_every_figure_of_the_page(
    pages: TestClient, shop: dict[str, Any], booking: dict[str, Any]
) -> None:
    sign_in(pages, shop["admin"].user.email)
    week = pages.get(page_path(booking["id"]), params={"range": "7d"}).text
    assert '<a class="button small" href="?range=7d" aria-current="page">7 days</a>' in week
    assert "2026-10-27 to 2026-11-02" in text(week)
    assert len(table_rows(week, "trend-table")) == len(table_rows(week, "cycles-table")) == 7
    assert text(inner(week, "tile-started")).startswith("Started 3")
    sale = goal_named(pages.app.state.database, shop["admin"], "sale")
    assert (
        text(inner(pages.get(page_path(sale), params={"range": "90d"}).text, "tile-outcomes")) == "Outcomes 3"
    )
    assert (
        "/admin/insights/analytics?range=90d&amp;goal=sale"
        in pages.get(page_path(sale), params={"range": "90d"}).text
    )
    wrong = pages.get(page_path(booking["id"]), params={"range": "1y"})
    assert wrong.status_code == 422
    assert "text/html" in wrong.headers["content-type"]


def test_a_single_event_goal_has_no_cycles_section(pages: TestClient, shop: dict[str, Any]) -> None:
    sign_in(pages, shop["admin"].user.email)
    body = pages.get(page_path(goal_named(pages.app.state.database, shop["admin"], "sale"))).text
    assert 'id="process"' not in body
    assert "goal-funnel-chart" not in body
