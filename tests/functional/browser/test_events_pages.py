"""The Event Explorer in a real browser, on the demo workspace: filtering by range and name through the
URL, starting a goal from an event, and opening the contact of an event."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import profile_url, screenshot


def test_filter_the_explorer_by_range_and_name(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("analyst")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Events").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()
    expect(page.get_by_label("Range")).to_have_value("30d")
    events = page.locator("li.event")
    expect(events).to_have_count(100)
    expect(page.get_by_text("Europe/Berlin").first).to_be_visible()
    screenshot(page, "events")

    page.get_by_label("Range").select_option(label="Last 7 days")
    page.get_by_label("Event name").fill("purchase")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(re.compile(r"/admin/insights/events\?range=7d&name=purchase$"))
    expect(page.get_by_role("heading", name="purchase events · Last 7 days")).to_be_visible()
    names = page.locator("li.event .event-name")
    expect(names.first).to_have_text("purchase")
    assert 0 < names.count() < 100
    assert set(names.all_inner_texts()) == {"purchase"}

    catalogue = page.get_by_role("complementary")
    catalogue.get_by_role("link", name="conversation_started").click()
    expect(page).to_have_url(re.compile(r"range=7d&name=conversation_started$"))
    expect(page.locator("li.event .event-name").first).to_have_text("conversation_started")

    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/admin/insights/events$"))
    expect(events).to_have_count(100)


def test_create_a_goal_from_an_event_in_one_click(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/events?range=30d&name=purchase")
    # A purchase with a total, a plan and items (the demo also sends some without, or with a total that
    # is no number, at every scale).
    shown = [json.loads(text) for text in page.locator("li.event pre.json").all_inner_texts()]
    index = next(
        i
        for i, found in enumerate(shown)
        if {"grand_total", "plan", "items"} <= found.keys()
        and re.fullmatch(r"-?\d+(\.\d+)?", str(found["grand_total"]))
    )
    event, properties = page.locator("li.event").nth(index), shown[index]

    event.get_by_role("link", name="Create goal from this event").click()

    page.wait_for_url(re.compile(r"/admin/insights/goals/new\?from_event="))
    expect(page.get_by_label(re.compile(r"^Trigger event( \*)?$"))).to_have_value("purchase")
    conditions = page.get_by_label("Match conditions", exact=True)
    expect(conditions).to_have_value("{}")  # nothing ticked: the goal counts every purchase
    expect(page.get_by_label("Value", exact=True)).to_have_value("from_property")
    expect(page.get_by_label("Value property", exact=True)).to_have_value("grand_total")  # reads as a total
    expect(page.get_by_label("Currency property", exact=True)).to_have_value("currency")

    offered = page.locator("#event-properties")
    offered.get_by_label(re.compile(r"plan = \"")).check()
    assert json.loads(conditions.input_value()) == {"plan": properties["plan"]}
    offered.get_by_label(re.compile(r"items = \d")).check()
    assert json.loads(conditions.input_value()) == {"plan": properties["plan"], "items": properties["items"]}
    offered.get_by_label(re.compile(r"plan = \"")).uncheck()
    assert json.loads(conditions.input_value()) == {"items": properties["items"]}
    offered.locator("li", has_text="items").get_by_role("button", name="Use as the value").click()
    expect(page.get_by_label("Value property", exact=True)).to_have_value("items")
    screenshot(page, "goal-from-event")


def test_analysts_see_no_goal_link_nor_contact_link(signed_in_as: Callable[[str], Page]) -> None:
    """An analyst may read conversations (the telemetry permission), not manage goals or contacts."""
    page = signed_in_as("analyst")
    page.goto("/admin/insights/events")
    expect(page.locator("li.event")).to_have_count(100)
    expect(page.get_by_role("link", name="Create goal from this event")).to_have_count(0)
    expect(page.locator("li.event .event-ids a[href^='/admin/contacts/']")).to_have_count(0)
    expect(
        page.locator("li.event .event-ids a[href^='/admin/insights/conversations/']").first
    ).to_be_visible()


def test_open_the_contact_of_an_event(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/insights/events?name=message_sent")
    contact_link = page.locator("li.event").first.locator(".event-ids a[href^='/admin/contacts/']")
    contact_id = contact_link.inner_text()

    contact_link.click()

    expect(page).to_have_url(profile_url(contact_id))
    expect(page.get_by_role("heading", name=f"Contact {contact_id}")).to_be_visible()
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    expect(page.get_by_role("link", name="Erase this contact…")).to_be_visible()


def test_filter_the_explorer_by_a_property_of_the_demo_purchases(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("analyst")
    page.goto("/admin/insights/events?range=30d&name=purchase")
    page.get_by_label("Property", exact=True).fill("plan")
    page.get_by_label("Value", exact=True).fill("premium")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"name=purchase&property=plan&value=premium$"))
    shown = page.locator("li.event pre.json")
    expect(shown.first).to_be_visible()
    assert {json.loads(text)["plan"] for text in shown.all_inner_texts()} == {"premium"}
    expect(page.get_by_text("with plan = premium")).to_be_visible()
    suggested = page.locator("datalist#property-paths option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert "plan" in suggested
    screenshot(page, "events-by-property")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "phone-events-by-property")
