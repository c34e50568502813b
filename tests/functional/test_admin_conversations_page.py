"""Insights → Conversations, the Conversation Explorer pages, over HTTP on each backend: the list (the
list API's rows) with its filters and its cursor paging, a conversation's timeline with each kind of
entry, bad filters named next to their field, the 404 and 403 pages, one workspace only, everything a
client sent escaped, and the links to a conversation from the Event Explorer, a contact's profile, a
goal's page and the Step Explorer's selected node."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals import service as goals
from tests.factories import Member, Shop, make_member
from tests.pages import inner, sign_in, text

LIST = "/admin/insights/conversations"
DAY = "2026-11-02"  # the clock's day; the chats are two hours before it
RANGE = {"from": DAY, "to": DAY}
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> Shop:
    """The list API's shop: chats of the sales flow and one of support; ann's chat buys in the chat and
    runs a multi-step booking, bob's buys later from the shop's backend (credited by window)."""
    shop = Shop(pages, db, clock)
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
                event("ann-chat", 1, "booking_started", "ask", properties={"topic": "table"}),
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


def member(db: Database, clock: FixedClock, role: Role, of: Member | None = None) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role, workspace=of.workspace if of else None)


def rows(page: str) -> list[str]:
    """The list's rows as a reader sees them."""
    if 'id="conversation-list"' not in page:
        return []
    body = re.search(r"<tbody>(.*?)</tbody>", inner(page, "conversation-list"), re.S)
    assert body is not None
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def chat_ids(page: str) -> list[str]:
    return [html.unescape(found) for found in re.findall(r'<code class="chat-id muted">(.*?)</code>', page)]


def entries(page: str) -> list[str]:
    """The timeline's entries as a reader sees them."""
    return [text(entry) for entry in re.findall(r'<li class="entry [^"]+">(.*?)</li>', page, re.S)]


def older(page: str) -> str | None:
    found = re.search(r'<a class="button" href="([^"]+)" rel="next">Older</a>', page)
    return html.unescape(found.group(1)) if found else None


def test_the_list_shows_the_newest_first_with_counts_goals_and_paths(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    response = pages.get(LIST)  # the last 7 local days by default, DAY the last of them
    assert response.status_code == 200
    page = response.text
    assert text(inner(page, "conversations-summary")) == (
        "Started 27 Oct 2026 \N{EN DASH} 2 Nov 2026 (local days, Europe/Berlin) · 3 shown, newest first"
    )
    assert 'name="from" type="date" value="2026-10-27"' in page
    assert rows(page) == [
        "2026-11-02 08:35:00 CET help-chat cy support 1 1 — Greet",
        "2026-11-02 08:33:00 CET bob-chat bob sales 2 2 purchase Greet → Ask",
        "2026-11-02 08:30:00 CET ann-chat ann sales 3 3 purchase Greet → Ask → Buy",
    ]
    assert f'<a href="{LIST}/ann-chat"><time' in page
    api = pages.get("/api/v1/conversations", params=RANGE, headers=shop.admin.headers).json()
    assert [row["id"] for row in api["conversations"]] == chat_ids(page)
    assert older(page) is None
    assert 'id="conversations-empty"' not in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"flow": "support"}, ["help-chat"]),
        ({"contact": "bob"}, ["bob-chat"]),
        ({"contains_step": "ask"}, ["bob-chat", "ann-chat"]),
        ({"contains_step": "buy"}, ["ann-chat"]),
        ({"goal": "purchase"}, ["bob-chat", "ann-chat"]),
        ({"converting": "true", "contains_step": "buy"}, ["ann-chat"]),
        ({"flow": "", "contact": "", "contains_step": "", "goal": ""}, ["help-chat", "bob-chat", "ann-chat"]),
    ],
)
def test_the_filters_narrow_the_list(
    pages: TestClient, shop: Shop, params: dict[str, str], expected: list[str]
) -> None:
    sign_in(pages, shop.admin.user.email)
    assert chat_ids(pages.get(LIST, params=RANGE | params).text) == expected


def test_the_filters_stay_in_the_form(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    page = pages.get(
        LIST, params=RANGE | {"contains_step": "buy", "goal": "purchase", "converting": "true"}
    ).text
    assert '<option value="buy" selected>Buy</option>' in page
    assert '<option value="purchase" selected>Purchase (purchase)</option>' in page
    assert 'name="converting" type="checkbox" value="true" checked' in page
    steps = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', inner(page, "contains_step"))
    assert steps == [("", "Any step"), ("ask", "Ask"), ("buy", "Buy"), ("greet", "Greet")]
    assert "executed “Buy” · credited with purchase · converting" in text(
        inner(page, "conversations-summary")
    )

    nothing = pages.get(LIST, params=RANGE | {"contact": "nobody"}).text
    assert "No conversation matches these filters" in text(inner(nothing, "conversations-empty"))
    assert f'href="{LIST}?from={DAY}&amp;to={DAY}"' in nothing  # the same days without the filters
    empty_days = pages.get(LIST, params={"from": "2026-10-01", "to": "2026-10-02"}).text
    assert "No conversation started in these days" in text(inner(empty_days, "conversations-empty"))


def test_older_pages_follow_the_cursor_and_keep_the_filters(
    pages: TestClient, shop: Shop, clock: FixedClock
) -> None:
    at = clock.now() - timedelta(hours=1)
    chats = [
        {"name": "ping", "conversation_id": f"many-{n:03d}", "flow_id": "bulk", "timestamp": at.isoformat()}
        for n in range(120)
    ]
    shop.send("/events", {"events": chats})
    sign_in(pages, shop.admin.user.email)
    first = pages.get(LIST, params=RANGE | {"flow": "bulk"}).text
    assert 'rel="next">Older</a>' in first
    assert ">Newest</a>" not in first
    seen = chat_ids(first)
    link = older(first)
    pages_seen = 1
    while link is not None:
        query = parse_qs(urlsplit(link).query)
        assert (query["flow"], query["from"], query["to"]) == (["bulk"], [DAY], [DAY])
        later = pages.get(link).text
        assert "Older conversations" in later
        assert f'<a class="button" href="{LIST}?from={DAY}&amp;to={DAY}&amp;flow=bulk">Newest</a>' in later
        seen += chat_ids(later)
        link, pages_seen = older(later), pages_seen + 1
    assert pages_seen == 3
    assert len(seen) == len(set(seen)) == 120
    assert seen[:2] == ["many-119", "many-118"]


def test_a_conversation_shows_its_timeline_in_time_order(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    list_page = pages.get(LIST, params=RANGE).text
    ann = re.search(r'<a href="([^"]+)"><time[^>]*>2026-11-02 08:30:00 CET', list_page)
    assert ann is not None
    response = pages.get(html.unescape(ann.group(1)))
    assert response.status_code == 200
    page = response.text
    facts = text(inner(page, "conversation-facts"))
    assert "Started 2026-11-02 08:30:00 CET Last activity 2026-11-02 08:32:00 CET Ended open" in facts
    assert "Contact ann Flow sales Events 3 Steps 3" in facts
    assert '<a href="/admin/contacts/profile?contact_id=ann"><code>ann</code></a>' in page  # an admin's
    assert entries(page) == [
        "2026-11-02 08:30:00 CET event conversation_started no properties",
        "2026-11-02 08:30:00 CET step Greet id greet · position 0 · first step",
        '2026-11-02 08:31:00 CET event booking_started 1 property {"topic":"table"}',
        "2026-11-02 08:31:00 CET step Ask id ask · position 1 · after greet",
        "2026-11-02 08:31:00 CET cycle booking incomplete Steps reached 1 Ended not yet",
        "2026-11-02 08:32:00 CET event purchase no properties",
        "2026-11-02 08:32:00 CET step Buy id buy · position 2 · after ask",
        "2026-11-02 08:32:00 CET outcome purchase conversion Value — Base value — "
        "Attribution In the conversation Credited here yes",
    ]
    assert '<span class="badge kind-step">step</span>' in page
    assert "<details" in page
    assert '<a href="/admin/insights/conversations" aria-current="page">Conversations</a>' in page

    bob = pages.get(f"{LIST}/bob-chat").text
    (sale,) = [entry for entry in entries(bob) if " outcome " in entry]
    assert sale.endswith("Attribution Within the attribution window Credited here yes")


def test_bad_filters_are_named_next_to_their_field(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    for params, field in (
        ({"to": DAY}, "from"),
        ({"from": "yesterday", "to": DAY}, "from"),
        ({"from": DAY, "to": "2026-11-01"}, "to"),
        (RANGE | {"goal": "nope"}, "goal"),
        (RANGE | {"converting": "yes"}, "converting"),
    ):
        response = pages.get(LIST, params=params)
        assert response.status_code == 422, params
        assert "text/html" in response.headers["content-type"]
        assert f'id="{field}-error"' in response.text
        control = re.search(rf'<(?:input|select) id="{field}"[^>]*>', response.text)
        assert control is not None
        assert 'aria-invalid="true"' in control.group(0)
        assert "The conversations cannot be listed" in response.text
        assert 'id="conversation-list"' not in response.text
    cursor = pages.get(LIST, params=RANGE | {"cursor": "%%%"})
    assert cursor.status_code == 422
    assert "is not a cursor this list gave" in cursor.text
    assert "Start from the newest" in cursor.text


def test_an_unknown_conversation_is_the_404_page(
    pages: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    sign_in(pages, shop.admin.user.email)
    missing = pages.get(f"{LIST}/no-such-chat")
    assert missing.status_code == 404
    assert "Not found" in missing.text
    assert "text/html" in missing.headers["content-type"]

    stranger = member(db, clock, Role.ADMIN)
    pages.cookies.clear()
    sign_in(pages, stranger.user.email)
    theirs = pages.get(f"{LIST}/ann-chat")
    assert theirs.status_code == 404
    assert "booking_started" not in theirs.text
    page = pages.get(LIST, params=RANGE).text
    assert rows(page) == []
    for their in ("ann-chat", ">Greet<", "purchase", ">Buy<"):
        assert their not in page


def test_an_analyst_may_open_them_and_a_viewer_gets_the_403_page(
    pages: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    assert pages.get(LIST, follow_redirects=False).status_code == 303  # no session: sign in first
    analyst = member(db, clock, Role.ANALYST, of=shop.admin)
    sign_in(pages, analyst.user.email)
    assert chat_ids(pages.get(LIST, params=RANGE).text) == ["help-chat", "bob-chat", "ann-chat"]
    chat = pages.get(f"{LIST}/ann-chat").text
    assert "<code>ann</code>" in chat
    assert "/admin/contacts/profile" not in chat  # no contacts permission: the id, not a link

    viewer = member(db, clock, Role.VIEWER, of=shop.admin)
    pages.cookies.clear()
    sign_in(pages, viewer.user.email)
    for path in (LIST, f"{LIST}/ann-chat"):
        refused = pages.get(path)
        assert refused.status_code == 403
        assert "comerix.insights.telemetry" in refused.text
        assert "ann-chat" not in refused.text
    assert f'href="{LIST}"' not in pages.get("/admin/account").text


def test_everything_a_client_sent_is_escaped(pages: TestClient, shop: Shop) -> None:
    chat = {"conversation_id": f"{HOSTILE}/chat x", "flow_id": HOSTILE, "contact_id": HOSTILE}
    events = [
        chat
        | {
            "name": HOSTILE,
            "timestamp": f"{DAY}T07:40:00Z",
            "properties": {"note": HOSTILE, "quote": '"><b>bold'},
            "step": {"label": f"{HOSTILE} label", "id": f"{HOSTILE}id"},
        },
    ]
    shop.send("/events", {"events": events})
    sign_in(pages, shop.admin.user.email)
    page = pages.get(LIST, params=RANGE | {"contains_step": f"{HOSTILE}id"}).text
    assert HOSTILE not in page
    assert rows(page)[0].endswith(f"{HOSTILE} label")
    assert f'title="{html.escape(HOSTILE)} label"' in page
    href = re.search(r'<a href="([^"]+)"><time', page)
    assert href is not None
    assert href.group(1) == f"{LIST}/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Fchat%20x"

    timeline = pages.get(html.unescape(href.group(1)))
    assert timeline.status_code == 200
    assert HOSTILE not in timeline.text
    assert "<b>bold" not in timeline.text
    assert f"Conversation {HOSTILE}/chat x" in text(timeline.text)
    assert f"step {HOSTILE} label id {HOSTILE}id" in " ".join(entries(timeline.text))
    assert html.escape(HOSTILE, quote=False) in timeline.text


def test_other_pages_link_a_conversation_to_its_timeline(
    pages: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    designer = member(db, clock, Role.DESIGNER, of=shop.admin)
    sign_in(pages, designer.user.email)
    link = f'<a href="{LIST}/ann-chat"><code>ann-chat</code></a>'
    assert link in pages.get("/admin/insights/events").text
    with db.sessions() as session:
        [purchase] = [
            g for g in goals.list_for_workspace(session, shop.admin.workspace.id) if g.code == "purchase"
        ]
    goal_page = pages.get(f"/admin/insights/goals/{purchase.id}").text
    assert link in goal_page
    assert f'<a href="{LIST}/bob-chat"><code>bob-chat</code></a>' in goal_page  # credited by window

    pages.cookies.clear()
    sign_in(pages, shop.admin.user.email)
    profile = pages.get("/admin/contacts/profile", params={"contact_id": "ann"}).text
    assert link in profile


def test_the_step_explorer_links_a_node_to_its_conversations(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    steps = pages.get(
        "/admin/insights/steps", params=RANGE | {"flow": "sales", "path": ["greet", "ask"]}
    ).text
    found = re.search(
        r'<a id="step-conversations" href="([^"]+)">Conversations that took this path</a>', steps
    )
    assert found is not None
    href = html.unescape(found.group(1))
    assert href == f"{LIST}?from={DAY}&to={DAY}&flow=sales&contains_step=ask"
    assert chat_ids(pages.get(href).text) == ["bob-chat", "ann-chat"]
