"""Insights → Steps, the Step Explorer page, over HTTP on each backend: the path tree of events sent with
steps through the Engine API shown as columns along the selected branch (the path tree API's figures),
the catalogue of the steps executed, the filters, bad filters named next to their field, the empty
state, who may open it, one workspace only, and every label a client sent escaped."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, Shop, make_member
from tests.functional.test_steps_api import CHATS, DAY, step_events
from tests.pages import inner, sign_in, text

PAGE = "/admin/insights/steps"
RANGE = {"from": DAY, "to": DAY}


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> Shop:
    """The steps API's sales bot: greet → ask (twice in one chat) → buy | handoff, and a chat that only
    greets; the chats on DAY, the workspace in Europe/Berlin."""
    shop = Shop(pages, db, clock)
    shop.send("/events", {"events": step_events(shop, CHATS)})
    return shop


def member(db: Database, clock: FixedClock, role: Role, of: Member | None = None) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role, workspace=of.workspace if of else None)


def columns(page: str) -> list[list[str]]:
    """The cards of each column, as a reader sees them."""
    found = re.findall(r'<section class="step-column" id="level-\d+".*?</section>', page, re.S)
    return [[text(card) for card in re.findall(r"<li>(.*?)</li>", column, re.S)] for column in found]


def selected(page: str) -> list[str]:
    """The label of the selected card of each column."""
    cards = re.findall(r'aria-current="true">\s*<span class="step-label">(.*?)</span>', page, re.S)
    return [html.unescape(label) for label in cards]


def card_links(page: str) -> dict[str, str]:
    """Each clickable card's label and where it leads (the last seen, for a label in several columns)."""
    found = re.findall(
        r'<a class="step-node[^"]*" href="([^"]+)"[^>]*>\s*<span class="step-label">(.*?)</span>', page
    )
    return {html.unescape(label): html.unescape(href) for href, label in found}


def catalogue_rows(page: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", inner(page, "steps-catalogue"), re.S)
    assert body is not None
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def test_the_tree_is_shown_as_columns_along_the_most_frequent_branch(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    response = pages.get(PAGE)  # the last 30 local days by default, DAY the last of them
    assert response.status_code == 200
    page = response.text
    assert text(inner(page, "steps-summary")) == (
        "4 conversations counted · 4 Oct 2026 \N{EN DASH} 2 Nov 2026 (local days) · time zone Europe/Berlin"
    )
    api = pages.get(
        "/api/v1/steps/paths", params={"from": "2026-10-04", "to": DAY}, headers=shop.admin.headers
    ).json()
    assert api["conversations"] == 4
    assert columns(page) == [
        ["Hello! Conversations 4 Share 100.0% Drop-off 1 · 25.0%"],
        ["What are you looking for? Conversations 3 Share 75.0% Drop-off 0 · 0.0%"],
        [
            "Checkout Conversations 2 Share 66.7% Drop-off 2 · 100.0%",
            "What are you looking for? Conversations 1 Share 33.3% Drop-off 0 · 0.0%",
        ],
    ]
    assert [text(inner(page, f"level-{n}-title")) for n in (1, 2, 3)] == ["Level 1", "Level 2", "Level 3"]
    assert selected(page) == ["Hello!", "What are you looking for?", "Checkout"]
    detail = text(inner(page, "step-detail"))
    assert detail.startswith("Selected: Checkout Hello! What are you looking for? Checkout")
    assert "Conversations on this path 2 · 50.0% of all counted" in detail
    assert "Share 66.7% of “What are you looking for?”" in detail
    assert "Drop-off here 2" in detail
    assert 'id="steps-empty"' not in page


def test_choosing_a_node_shows_its_children_in_the_next_column(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    first = pages.get(PAGE, params=RANGE).text
    again = card_links(first)["What are you looking for?"]  # the second ask, in the third column
    assert again == f"{PAGE}?from={DAY}&to={DAY}&path=greet&path=ask&path=ask#explorer"

    page = pages.get(again).text
    assert selected(page) == ["Hello!", "What are you looking for?", "What are you looking for?"]
    assert columns(page)[3] == ["Agent Conversations 1 Share 100.0% Drop-off 1 · 100.0%"]
    assert text(inner(page, "level-4")).startswith("Level 4 after “What are you looking for?”")
    assert text(inner(page, "step-detail")).startswith(
        "Selected: What are you looking for? Hello! What are you looking for? What are you looking for?"
    )

    leaf = pages.get(card_links(page)["Agent"]).text  # a step no conversation went beyond: no column more
    assert selected(leaf)[-1] == "Agent"
    assert len(columns(leaf)) == 4

    stale = pages.get(PAGE, params={**RANGE, "path": ["greet", "gone"]}).text  # as far as it is found
    assert selected(stale) == ["Hello!"]
    assert len(columns(stale)) == 2


def test_the_filters_go_to_the_path_tree_and_stay_in_the_form(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    page = pages.get(PAGE, params=RANGE | {"start": "buy", "direction": "backward", "depth": "2"}).text
    assert columns(page) == [
        ["Checkout Conversations 2 Share 100.0% Drop-off 0 · 0.0%"],
        ["What are you looking for? Conversations 2 Share 100.0% Drop-off 0 · 0.0%"],
    ]
    assert text(inner(page, "level-2")).startswith("Level 2 before “Checkout”")
    assert '<option value="buy" selected>Checkout</option>' in page
    assert '<option value="backward" selected>' in page
    assert 'name="depth" type="number" value="2"' in page
    assert "backward, the steps before the first execution of “Checkout”, 2 levels" in text(page)

    handoff = pages.get(PAGE, params=RANGE | {"contains": "handoff", "flow": "sales"}).text
    assert text(inner(handoff, "steps-summary")).startswith("1 conversation counted")
    assert '<option value="sales" selected>sales</option>' in handoff
    assert '<option value="handoff" selected>Agent</option>' in handoff
    other_flow = pages.get(PAGE, params=RANGE | {"flow": "support"}).text
    assert 'id="steps-empty"' in other_flow
    assert "No conversation is counted with these filters" in text(other_flow)
    assert catalogue_rows(other_flow) == ["No step was executed in these days."]


def test_the_catalogue_lists_the_steps_most_executed_first(pages: TestClient, shop: Shop) -> None:
    sign_in(pages, shop.admin.user.email)
    page = pages.get(PAGE, params=RANGE).text
    assert catalogue_rows(page) == [
        "Hello! greet sales node 4 4 2026-11-02 08:30:00 CET",
        "What are you looking for? ask sales intent 4 3 2026-11-02 08:32:00 CET",
        "Checkout buy sales node 2 2 2026-11-02 08:32:00 CET",
        "Agent handoff sales node 1 1 2026-11-02 08:33:00 CET",
    ]
    assert "In the last 7 days (UTC days" in text(inner(page, "catalogue"))  # DAY is today
    month = pages.get(PAGE).text  # the last 30 days: the catalogue's 30 days reach back to them
    assert "In the last 30 days (UTC days" in text(inner(month, "catalogue"))
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', inner(page, "start"))
    assert options == [
        ("", "First steps"),
        ("handoff", "Agent"),
        ("buy", "Checkout"),
        ("greet", "Hello!"),
        ("ask", "What are you looking for?"),
    ]


def test_the_catalogue_table_keeps_to_the_most_executed_and_says_so(pages: TestClient, shop: Shop) -> None:
    chat = {"name": "message_sent", "conversation_id": "long", "flow_id": "faq"}
    questions = [chat | {"step": {"label": f"Question {n:02}"}} for n in range(1, 31)]
    shop.send("/events", {"events": questions})
    sign_in(pages, shop.admin.user.email)
    page = pages.get(PAGE, params=RANGE).text
    assert len(catalogue_rows(page)) == 25
    assert "the 25 most executed of 34 (choose a flow to see its own)" in text(inner(page, "catalogue"))
    faq = pages.get(PAGE, params=RANGE | {"flow": "faq"}).text
    assert len(catalogue_rows(faq)) == 25
    assert len(re.findall(r"<option ", inner(faq, "start"))) == 31  # the selects offer every one


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-02"}, "to"),
        ({"from": "yesterday", "to": DAY}, "from"),
        ({"from": DAY, "to": "2026-11-01"}, "to"),
        (RANGE | {"direction": "sideways"}, "direction"),
        (RANGE | {"depth": "11"}, "depth"),
        (RANGE | {"depth": "two"}, "depth"),
        (RANGE | {"start": "x" * 129}, "start"),
    ],
)
def test_bad_filters_are_named_next_to_their_field(
    pages: TestClient, shop: Shop, params: dict[str, str], field: str
) -> None:
    sign_in(pages, shop.admin.user.email)
    response = pages.get(PAGE, params=params)
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]
    assert f'id="{field}-error"' in response.text
    control = re.search(rf'<(?:input|select) id="{field}"[^>]*>', response.text)
    assert control is not None
    assert 'aria-invalid="true"' in control.group(0)
    assert "The paths cannot be shown" in response.text
    assert 'id="step-columns"' not in response.text


def test_with_no_step_recorded_the_page_says_how_to_send_them(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    designer = member(db, clock, Role.DESIGNER)
    sign_in(pages, designer.user.email)
    response = pages.get(PAGE)
    assert response.status_code == 200
    empty = text(inner(response.text, "steps-empty"))
    assert empty.startswith("No step has been recorded yet.")
    assert '"step": {"id": "greeting", "label": "Greeting", "type": "node"}' in empty
    assert "POST /events" in empty
    assert text(inner(response.text, "steps-summary")).startswith("0 conversations counted")


def test_an_analyst_may_open_it_and_a_viewer_gets_the_403_page(
    pages: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    assert pages.get(PAGE, follow_redirects=False).status_code == 303  # no session: sign in first
    analyst = member(db, clock, Role.ANALYST, of=shop.admin)
    sign_in(pages, analyst.user.email)
    page = pages.get(PAGE, params=RANGE).text
    assert selected(page)[0] == "Hello!"
    assert '<a href="/admin/insights/steps" aria-current="page">Steps</a>' in page  # in the menu

    viewer = member(db, clock, Role.VIEWER, of=shop.admin)
    pages.cookies.clear()  # signed out
    sign_in(pages, viewer.user.email)
    refused = pages.get(PAGE, params=RANGE)
    assert refused.status_code == 403
    assert "comerix.insights.telemetry" in refused.text
    assert "Hello!" not in refused.text
    assert 'href="/admin/insights/steps"' not in pages.get("/admin/account").text


def test_another_workspace_sees_none_of_it(
    pages: TestClient, shop: Shop, db: Database, clock: FixedClock
) -> None:
    stranger = member(db, clock, Role.ADMIN)
    sign_in(pages, stranger.user.email)
    page = pages.get(PAGE, params=RANGE).text
    assert 'id="steps-empty"' in page
    for theirs in ("Hello!", ">greet<", "Checkout", ">sales<"):
        assert theirs not in page
    chosen = pages.get(PAGE, params=RANGE | {"start": "greet", "path": "greet"}).text
    assert 'id="step-columns"' not in chosen  # naming their step shows nothing of it


def test_every_label_and_id_a_client_sent_is_escaped(pages: TestClient, shop: Shop) -> None:
    hostile = "<script>alert(1)</script>"
    chat: dict[str, Any] = {"name": "message_sent", "conversation_id": "x1", "flow_id": f"{hostile}flow"}
    events = [
        chat | {"step": {"label": f"{hostile} label", "id": f"{hostile}id"}, "timestamp": f"{DAY}T07:40:00Z"},
        chat | {"step": {"label": "After", "id": '"><b>after'}, "timestamp": f"{DAY}T07:41:00Z"},
    ]
    shop.send("/events", {"events": events})
    sign_in(pages, shop.admin.user.email)
    chosen = {**RANGE, "flow": f"{hostile}flow", "path": [f"{hostile}id", '"><b>after']}
    page = pages.get(PAGE, params=chosen).text
    assert hostile not in page
    assert "<b>after" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; label" in page
    assert selected(page) == [f"{hostile} label", "After"]
    assert catalogue_rows(page)[0].startswith(f"{hostile} label {hostile}id {hostile}flow node 1 1 ")
