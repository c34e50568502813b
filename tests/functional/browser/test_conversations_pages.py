"""Insights → Conversations, the Conversation Explorer, in a real browser on the demo workspace: the list
opened from the menu, filtered by a step, a conversation opened and its timeline read; and the way in
from the Step Explorer's selected node."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import screenshot

LIST = "/admin/insights/conversations"


def test_a_designer_filters_by_a_step_and_reads_a_timeline(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/steps")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Conversations").click()
    expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    expect(page.locator("#conversations-summary")).to_contain_text("(local days, Europe/Berlin)")
    assert page.locator("#conversation-list tbody tr").count() > 0

    page.get_by_label("Contains step").select_option(label="Checkout")
    page.get_by_role("button", name="Show conversations").click()
    expect(page).to_have_url(re.compile(r"[?&]contains_step=checkout(&|$)"))
    expect(page.get_by_label("Contains step")).to_have_value("checkout")
    expect(page.locator("#conversations-summary")).to_contain_text("executed “Checkout”")
    rows = page.locator("#conversation-list tbody tr")
    assert rows.count() > 0
    first = rows.first
    expect(first.locator("td.path span[title]")).to_have_attribute("title", re.compile(r"Checkout|…$"))
    screenshot(page, "conversation-explorer")

    chat_id = first.locator(".chat-id").inner_text()
    first.locator("td.started a").click()
    expect(page.get_by_role("heading", name=f"Conversation {chat_id}")).to_be_visible()
    timeline = page.locator("#timeline > li")
    assert timeline.count() > 0
    expect(page.locator("#timeline .badge.kind-step").first).to_be_visible()
    steps = page.locator("#timeline .entry-step .entry-name").all_inner_texts()
    assert "Checkout" in steps
    times = page.locator("#timeline > li > .entry-head > time").evaluate_all(
        "nodes => nodes.map((node) => node.getAttribute('datetime'))"
    )
    assert times == sorted(times), "the timeline is in time order"
    with_properties = page.locator("#timeline details.entry-properties")
    if with_properties.count():
        with_properties.first.locator("summary").click()
        expect(with_properties.first.locator("pre.json")).to_be_visible()
    page.get_by_role("link", name="Conversations", exact=True).first.click()
    expect(page.locator("#conversation-list")).to_be_visible()


def test_a_node_of_the_step_explorer_opens_its_conversations(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/insights/steps")
    label = page.locator("#step-detail h3").inner_text().removeprefix("Selected: ")
    page.get_by_role("link", name="Conversations that took this path").click()
    expect(page).to_have_url(re.compile(rf"^[^?]*{LIST}\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert set(query) == {"from", "to", "contains_step"}
    expect(page.get_by_label("Contains step")).to_have_value(query["contains_step"][0])
    expect(page.locator("#conversations-summary")).to_contain_text(f"executed “{label}”")
    assert page.locator("#conversation-list tbody tr").count() > 0
