"""Insights → Events (the Event Explorer page) over HTTP, on each backend: ranges, the name filter, the
catalogue, the "create goal" link and its conditions, tenancy and permissions."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.telemetry import explorer
from comerix.telemetry.explorer import goal_conditions
from comerix.workspaces.models import Workspace
from tests.factories import make_engine_key, make_member, make_workspace
from tests.pages import sign_in

EXPLORER = "/admin/insights/events"
GOAL_LINK = re.compile(r'href="(/admin/insights/goals/new\?[^"]*)"')


class Shop:
    """A workspace with an Engine key, whose members sign in to the pages."""

    def __init__(self, pages: TestClient, db: Database, clock: FixedClock) -> None:
        self.pages, self.db, self.clock = pages, db, clock
        with db.transaction() as session:
            self.workspace: Workspace = make_workspace(session, clock.now())
            self.key = make_engine_key(session, self.workspace, clock.now(), EngineKeyKind.SECRET)

    def sign_in(self, role: Role = Role.ADMIN) -> None:
        """Sign a new member of `role` in (signing out whoever was)."""
        self.pages.cookies.clear()
        with self.db.transaction() as session:
            member = make_member(session, self.clock.now(), role=role, workspace=self.workspace)
        assert sign_in(self.pages, member.user.email).status_code == 303

    def send(self, *events: dict[str, Any]) -> None:
        response = self.pages.post(
            "/events", json={"events": list(events)}, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert response.status_code == 202, response.text

    def ago(self, days: float) -> str:
        return (self.clock.now() - timedelta(days=days)).isoformat()


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(pages, db, clock)


def shown_event_ids(page: str) -> list[str]:
    """The client event ids of the listed events, in page order."""
    return re.findall(r"<dt>Event id</dt><dd><code>([^<]*)</code>", page)


def goal_links(page: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(html.unescape(href)).query) for href in GOAL_LINK.findall(page)]


def prefilled_goals(shop: Shop, page: str) -> list[tuple[str, dict[str, object], dict[str, object]]]:
    """Follow each "Create goal from this event" link: the trigger event, the match conditions the goal
    form comes prefilled with, and the event's properties it offers to tick as conditions."""
    forms = []
    for href in GOAL_LINK.findall(page):
        form = shop.pages.get(html.unescape(href))
        assert form.status_code == 200
        trigger = re.search(r'id="trigger_event" name="trigger_event" type="text" value="([^"]*)"', form.text)
        conditions = re.search(r'<textarea id="match_conditions"[^>]*>([^<]*)</textarea>', form.text, re.S)
        assert trigger is not None
        assert conditions is not None
        offered = {
            html.unescape(path): json.loads(html.unescape(value))
            for path, value in re.findall(r'data-path="([^"]*)" data-value="([^"]*)"', form.text)
        }
        text = html.unescape(conditions.group(1)).strip()
        forms.append((html.unescape(trigger.group(1)), json.loads(text) if text else {}, offered))
    return forms


def value_fields(shop: Shop, page: str) -> dict[str, str]:
    """The value fields of the goal form the first "Create goal" link opens."""
    form = shop.pages.get(html.unescape(GOAL_LINK.findall(page)[0])).text
    found = {
        name: re.search(rf'id="{name}" name="{name}" type="text" value="([^"]*)"', form)
        for name in ("value_property", "currency_property")
    }
    chosen = re.search(r'<option value="([a-z_]+)" selected>', form.split('id="value_mode"')[1])
    return {name: html.unescape(m.group(1)) if m else "" for name, m in found.items()} | {
        "value_mode": chosen.group(1) if chosen else ""
    }


def test_the_explorer_shows_what_arrived_in_30_days_latest_first_in_the_workspace_time_zone(
    shop: Shop,
) -> None:
    shop.send({"event_id": "old", "name": "message_sent", "timestamp": shop.ago(0)})
    shop.clock.advance(timedelta(days=32))
    shop.send({"event_id": "week-ago", "name": "message_sent", "timestamp": shop.ago(0)})
    shop.clock.advance(timedelta(days=7))
    shop.send(
        {"event_id": "sent-late", "name": "purchase", "timestamp": shop.ago(40)},
        {"event_id": "just-now", "name": "message_sent", "timestamp": shop.ago(0)},
    )
    shop.sign_in(Role.ANALYST)
    page = shop.pages.get(EXPLORER)
    assert page.status_code == 200
    assert shown_event_ids(page.text) == ["just-now", "sent-late", "week-ago"]
    # START + 39 days is 2026-12-11 09:30 UTC: 10:30 in Berlin (CET, UTC+1).
    assert "2026-12-11 10:30:00 CET" in page.text
    assert "<strong>Europe/Berlin</strong>" in page.text
    assert '<option value="30d" selected>' in page.text
    arrivals = {
        event_id: "arrived <time" in block
        for block in page.text.split('<li class="event">')[1:]
        for event_id in shown_event_ids(block)
    }
    assert arrivals == {"just-now": False, "sent-late": True, "week-ago": False}


def test_range_and_name_filter_the_list_and_the_catalogue(shop: Shop) -> None:
    shop.send({"event_id": "old-purchase", "name": "purchase", "timestamp": shop.ago(0)})
    shop.clock.advance(timedelta(days=37))
    shop.send(
        {"event_id": "purchase", "name": "purchase", "timestamp": shop.ago(3), "properties": {"plan": "x"}},
        {"event_id": "message", "name": "message_sent", "timestamp": shop.ago(2)},
    )
    shop.sign_in()
    assert shown_event_ids(shop.pages.get(f"{EXPLORER}?range=90d").text) == [
        "message",
        "purchase",
        "old-purchase",
    ]

    page = shop.pages.get(f"{EXPLORER}?range=90d&name=purchase").text
    assert shown_event_ids(page) == ["purchase", "old-purchase"]
    assert shown_event_ids(shop.pages.get(f"{EXPLORER}?range=7d&name=purchase").text) == ["purchase"]
    assert shown_event_ids(shop.pages.get(f"{EXPLORER}?name=Purchase").text) == []  # case-sensitive

    catalogue = page.split('id="catalogue-heading"')[1]
    assert 'href="/admin/insights/events?range=90d&amp;name=message_sent"' in catalogue
    assert re.search(r"<code>purchase</code></a>\s*<span class=\"count\">2</span>", catalogue)
    assert "<li><code>plan</code></li>" in catalogue
    assert '<option value="purchase">' in page  # the datalist of known names


def test_an_unknown_range_shows_30_days_and_says_so(shop: Shop) -> None:
    shop.send({"event_id": "recent", "name": "purchase", "timestamp": shop.ago(2)})
    shop.sign_in()
    page = shop.pages.get(f"{EXPLORER}?range=1y<script>")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "There is no range “1y&lt;script&gt;”: showing the last 30 days." in page.text
    assert shown_event_ids(page.text) == ["recent"]


def test_the_create_goal_link_fills_in_the_name_and_offers_the_flattened_scalar_properties(
    shop: Shop,
) -> None:
    properties = {
        "order": {"plan": "premium", "total": 129.5, "lines": [{"sku": "a"}], "meta": {"coupon": None}},
        "currency": "EUR",
        "vip": True,
        "tags": ["new"],
    }
    shop.send({"name": "purchase", "timestamp": shop.ago(1), "properties": properties})
    shop.sign_in(Role.DESIGNER)
    page = shop.pages.get(EXPLORER).text
    [link] = goal_links(page)
    assert list(link) == ["from_event"]  # the link names the event; no property value in the URL
    [(trigger, conditions, offered)] = prefilled_goals(shop, page)
    assert trigger == "purchase"
    assert conditions == {}  # every value of one event would match almost nothing else: none is ticked
    assert offered == {
        "order.plan": "premium",
        "order.total": 129.5,
        "order.meta.coupon": None,
        "currency": "EUR",
        "vip": True,
    }
    # The total is offered as the value, in the currency the event names.
    assert value_fields(shop, page) == {
        "value_mode": "from_property",
        "value_property": "order.total",
        "currency_property": "currency",
    }


def test_the_create_goal_link_offers_at_most_20_conditions(shop: Shop) -> None:
    shop.send({"name": "survey", "timestamp": shop.ago(1), "properties": {f"q{n:02d}": n for n in range(25)}})
    shop.sign_in()
    [(_trigger, conditions, offered)] = prefilled_goals(shop, shop.pages.get(EXPLORER).text)
    assert (conditions, offered) == ({}, {f"q{n:02d}": n for n in range(20)})
    assert value_fields(shop, shop.pages.get(EXPLORER).text)["value_mode"] == "none"  # 20 numbers: no guess


def test_goal_conditions_hold_on_the_event_they_come_from() -> None:
    # A top-level key with a dot is read before the nested path, so the nested leaf would not match.
    properties = {"order": {"plan": "basic"}, "order.plan": "premium", "note": "x" * 1001, "a..b": 1}
    assert goal_conditions(properties) == {"order.plan": "premium"}


def test_only_goal_managers_get_the_link_and_only_contact_managers_the_contact_link(shop: Shop) -> None:
    shop.send({"name": "purchase", "timestamp": shop.ago(1), "contact_id": "ann/1 <b>"})
    contact_link = 'href="/admin/contacts/profile?contact_id=ann%2F1%20%3Cb%3E"'

    shop.sign_in(Role.ANALYST)
    analyst = shop.pages.get(EXPLORER).text
    assert "Create goal from this event" not in analyst
    assert contact_link not in analyst
    assert "<code>ann/1 &lt;b&gt;</code>" in analyst

    shop.sign_in(Role.DESIGNER)
    designer = shop.pages.get(EXPLORER).text
    assert "Create goal from this event" in designer
    assert contact_link not in designer

    shop.sign_in(Role.ADMIN)
    admin = shop.pages.get(EXPLORER).text
    assert "Create goal from this event" in admin
    assert contact_link in admin


def test_another_workspaces_events_never_show(
    shop: Shop, pages: TestClient, db: Database, clock: FixedClock
) -> None:
    other = Shop(pages, db, clock)
    other.send({"event_id": "theirs", "name": "their_secret_event", "timestamp": other.ago(1)})
    shop.send({"event_id": "ours", "name": "purchase", "timestamp": shop.ago(1)})
    shop.sign_in()
    page = shop.pages.get(EXPLORER).text
    assert shown_event_ids(page) == ["ours"]
    assert "their_secret_event" not in page
    filtered = shop.pages.get(f"{EXPLORER}?range=90d&name=their_secret_event").text
    assert shown_event_ids(filtered) == []
    assert "their_secret_event" not in filtered.split('id="catalogue-heading"')[1]


def test_a_viewer_may_not_open_the_explorer(shop: Shop) -> None:
    shop.sign_in(Role.VIEWER)
    page = shop.pages.get(EXPLORER)
    assert page.status_code == 403
    message = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
    assert (
        "This page needs the permission to use the Event Explorer (comerix.insights.telemetry). Your role, "
        "viewer, does not grant it; the analyst, designer or admin role does. An admin of this workspace "
        "can change your role under Settings → Users."
    ) in message


@pytest.mark.parametrize("event", ["not-a-uuid", "0190b2a4-0000-7000-8000-000000000000"])
def test_a_goal_from_an_unknown_event_is_a_404_page(shop: Shop, event: str) -> None:
    shop.sign_in(Role.DESIGNER)
    response = shop.pages.get(f"/admin/insights/goals/new?from_event={event}")
    assert response.status_code == 404
    assert "No event" in response.text


def test_a_goal_from_another_workspaces_event_is_a_404_page(shop: Shop, pages: TestClient) -> None:
    shop.send({"name": "purchase", "timestamp": shop.ago(1), "properties": {"plan": "premium"}})
    shop.sign_in()
    [link] = goal_links(shop.pages.get(EXPLORER).text)
    pages.cookies.clear()
    with shop.db.transaction() as session:
        stranger = make_member(session, shop.clock.now())
    sign_in(pages, stranger.user.email)
    assert pages.get(f"/admin/insights/goals/new?from_event={link['from_event'][0]}").status_code == 404


def test_integers_beyond_64_bits_show_exactly(shop: Shop) -> None:
    """JSON allows them, the Engine API keeps them exact, and so do the page and its goal link."""
    big = b'{"event_id": "big", "name": "order", "properties": {"n": 123456789012345678901234567890}}'
    body = b'{"events": [' + big + b"]}"
    headers = {"Authorization": f"Bearer {shop.key}", "Content-Type": "application/json"}
    assert shop.pages.post("/events", content=body, headers=headers).status_code == 202
    shop.sign_in()
    page = shop.pages.get(EXPLORER)
    assert page.status_code == 200
    assert "123456789012345678901234567890" in page.text
    assert prefilled_goals(shop, page.text) == [("order", {}, {"n": 123456789012345678901234567890})]


def test_the_explorer_filters_by_contact_and_flow_and_pages_to_older_events(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.send(
        *(
            {"event_id": f"e{n}", "name": "message_sent", "contact_id": f"c{n % 2}", "flow_id": f"f{n % 3}"}
            for n in range(7)
        )
    )
    shop.sign_in()
    assert shown_event_ids(shop.pages.get(EXPLORER, params={"contact": "c1"}).text) == ["e5", "e3", "e1"]
    assert shown_event_ids(shop.pages.get(EXPLORER, params={"flow": "f0", "contact": "c0"}).text) == [
        "e6",
        "e0",
    ]

    monkeypatch.setattr(explorer, "NEWEST_LIMIT", 3)  # pages of 3: e6 e5 e4, e3 e2 e1, e0
    seen, path = [], f"{EXPLORER}?range=30d"
    for _ in range(4):
        page = shop.pages.get(path).text
        seen.append(shown_event_ids(page))
        older = re.search(r'<a href="([^"]+)" rel="next">Older events', page)
        if older is None:
            break
        path = html.unescape(older.group(1))
    assert seen == [["e6", "e5", "e4"], ["e3", "e2", "e1"], ["e0"]]
    assert "← The latest" in page
    assert shop.pages.get(EXPLORER, params={"before": "not-a-cursor"}).status_code == 200  # the latest


def test_a_name_in_the_wrong_case_is_answered_with_the_right_one(shop: Shop) -> None:
    shop.send({"event_id": "p", "name": "Purchase"})
    shop.sign_in()
    page = shop.pages.get(EXPLORER, params={"name": "purchase"}).text
    hint = re.search(r'id="did-you-mean">(.*?)</p>', page, re.S)
    assert hint is not None
    assert "Did you mean" in hint.group(1)
    assert 'href="/admin/insights/events?range=30d&amp;name=Purchase"' in hint.group(1)
    assert 'id="did-you-mean"' not in shop.pages.get(EXPLORER, params={"name": "Purchase"}).text


def test_a_property_filter_matches_as_a_goal_condition_would(shop: Shop) -> None:
    shop.send(
        {"event_id": "premium", "name": "purchase", "properties": {"plan": "premium", "items": 2}},
        {"event_id": "basic", "name": "purchase", "properties": {"plan": "basic", "items": "2"}},
        {"event_id": "nested", "name": "purchase", "properties": {"order": {"plan": "basic"}}},
        {"event_id": "none", "name": "purchase", "properties": {"plan": None}},
        {"event_id": "long", "name": "purchase", "properties": {"ref": 12345678901234567890}},
    )
    shop.sign_in()

    def shown(**filters: str) -> list[str]:
        return shown_event_ids(shop.pages.get(EXPLORER, params=filters).text)

    assert shown(property="plan", value="premium") == ["premium"]  # text as typed
    assert shown(property="items", value="2") == ["premium"]  # a number
    assert shown(property="items", value='"2"') == ["basic"]  # quoted: text
    assert shown(property="order.plan", value="basic") == ["nested"]  # inside an object
    assert shown(property="plan", value="null") == ["none"]  # null, not a missing property
    assert shown(property="ref", value="12345678901234567890") == ["long"]  # exact, beyond 64 bits
    assert shown(property="ref", value="12345678901234567891") == []
    assert shown(property="plan", value="gold") == []
    assert shown(property="plan", value='""') == []  # the empty text, which no event has
    page = shop.pages.get(EXPLORER, params={"property": "plan", "value": "premium"}).text
    assert "with <code>plan</code> = <code>premium</code>" in page
    assert (
        'href="/admin/insights/events?range=30d&amp;property=plan&amp;value=premium' not in page
    )  # no pager


@pytest.mark.parametrize(
    ("filters", "field", "says"),
    [
        ({"value": "premium"}, "property", "Give the property path"),
        ({"property": "order..plan", "value": "x"}, "property", "two dots in a row"),
        (
            {"property": "order", "value": '{"plan": "basic"}'},
            "value",
            "nested objects and lists are not allowed",
        ),
        ({"property": "plan", "value": ""}, "value", "Give the value it must have"),
        ({"property": "total", "value": "1e400"}, "value", "a number beyond what a property may hold"),
    ],
)
def test_a_property_filter_that_cannot_be_is_told_by_its_field(
    shop: Shop, filters: dict[str, str], field: str, says: str
) -> None:
    shop.send({"event_id": "e", "name": "purchase", "properties": {"plan": "premium"}})
    shop.sign_in()
    page = shop.pages.get(EXPLORER, params=filters)
    assert page.status_code == 200
    error = re.search(rf'id="{field}-error">(.*?)</p>', page.text, re.S)
    assert error is not None
    assert says in html.unescape(error.group(1))
    assert shown_event_ids(page.text) == ["e"]  # the other filters still apply


def test_a_property_search_reads_a_bounded_number_of_events_a_page(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.send(
        *(
            {
                "event_id": f"e{n}",
                "name": "purchase",
                "properties": {"plan": "gold" if n in (0, 5) else "basic"},
            }
            for n in range(7)
        )
    )
    shop.sign_in()
    monkeypatch.setattr(explorer, "SEARCH_LIMIT", 3)  # e6 e5 e4 | e3 e2 e1 | e0
    seen, path = [], f"{EXPLORER}?range=30d&property=plan&value=gold"
    for _ in range(4):
        page = shop.pages.get(path).text
        seen.append(shown_event_ids(page))
        older = re.search(r'<a href="([^"]+)" rel="next">Older events', page) or re.search(
            r'<a href="([^"]+)">search older events</a>', page
        )
        if older is None:
            break
        assert "3 latest" in page
        path = html.unescape(older.group(1))
    assert seen == [["e5"], [], ["e0"]]
