"""Insights → Steps, the Step Explorer, in a real browser on the demo workspace (whose flows mark their
steps): opened from the menu, its columns along the most frequent branch, a node chosen and its
children shown in the next column, the filters sent without the empty ones, and the same without
JavaScript."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Browser, Locator, Page, expect

from tests.functional.browser.conftest import screenshot, sign_in

PAGE = "/admin/insights/steps"


def figure(card: Locator, name: str) -> int:
    """A card's figure (`Conversations`, `Drop-off`) as a number: the count before any share."""
    text = card.locator(".step-figures div").filter(has=card.page.get_by_text(name, exact=True)).locator("dd")
    return int(text.inner_text().split("·")[0].strip().replace(",", ""))


def labels(column: Locator) -> list[str]:
    return column.locator(".step-label").all_inner_texts()


def test_a_designer_follows_the_paths_column_by_column(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/events")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Steps").click()
    expect(page.get_by_role("heading", name="Steps", exact=True)).to_be_visible()
    expect(page.locator("#steps-summary")).to_contain_text(
        re.compile(r"^[\d,]+ conversations counted · .+ \(local days\) · time zone Europe/Berlin$")
    )
    columns = page.locator(".step-column")
    assert columns.count() >= 3
    for column in columns.all()[:-1]:  # each column but the last has its most frequent step selected
        expect(column.locator("a.step-node[aria-current=true]")).to_have_count(1)
    catalogue = page.locator("#steps-catalogue")
    expect(catalogue.get_by_role("rowheader", name="Greeting", exact=True).first).to_be_visible()

    level_2 = page.locator("#level-2")
    choices = level_2.locator("a.step-node:not(.selected)").all()
    goes_on = [card for card in choices if figure(card, "Conversations") > figure(card, "Drop-off")]
    assert goes_on, "the second column offers another step that conversations went beyond"
    chosen = goes_on[0]
    label = chosen.locator(".step-label").inner_text()
    conversations, drop_off = figure(chosen, "Conversations"), figure(chosen, "Drop-off")
    before = labels(page.locator("#level-3"))

    chosen.click()
    expect(page).to_have_url(re.compile(r"[?&]path=.+&path=.+#explorer$"))
    expect(level_2.locator("a.step-node[aria-current=true] .step-label")).to_have_text(label)
    level_3 = page.locator("#level-3")
    expect(level_3.locator(".column-note")).to_have_text(f"after “{label}”")
    children = level_3.locator(".step-node").all()
    assert sum(figure(card, "Conversations") for card in children) == conversations - drop_off
    expect(level_3.locator("a.step-node[aria-current=true]")).to_have_count(0)  # none chosen there yet
    assert labels(level_3) != before or page.locator(".step-column").count() == 3
    expect(page.locator("#step-detail h3")).to_have_text(f"Selected: {label}")
    expect(page.locator("#step-detail .step-path li")).to_have_count(2)

    level_3.locator("a.step-node").first.click()  # one more level: the fourth column follows it
    expect(page.locator("#step-detail .step-path li")).to_have_count(3)
    expect(page.locator("#step-detail .step-path li").nth(1)).to_have_text(label)
    screenshot(page, "step-explorer")


def test_the_filters_reload_the_tree_with_the_filters_in_use(admin_page: Page) -> None:
    page = admin_page
    page.goto(PAGE)
    page.get_by_label("Direction", exact=True).select_option("backward")
    page.get_by_label("Depth", exact=True).fill("2")
    page.get_by_role("button", name="Show paths").click()
    expect(page).to_have_url(
        re.compile(r"\?from=\d{4}-\d\d-\d\d&to=\d{4}-\d\d-\d\d&direction=backward&depth=2$")
    )
    expect(page.locator(".step-column")).to_have_count(2)
    expect(page.locator("#level-1 .column-note")).to_have_text("last steps")
    expect(page.locator("#level-2 .column-note")).to_contain_text("before “")
    expect(page.get_by_label("Direction", exact=True)).to_have_value("backward")

    page.get_by_label("Depth", exact=True).fill("12")  # past the browser's own check: the server's
    page.get_by_label("Depth", exact=True).evaluate("input => input.removeAttribute('max')")
    page.get_by_role("button", name="Show paths").click()
    expect(page.locator("#depth-error")).to_have_text("must be a whole number from 1 to 10")
    expect(page.get_by_role("alert")).to_contain_text("The paths cannot be shown")


def test_the_explorer_works_without_javascript(browser: Browser, service_url: str) -> None:
    context = browser.new_context(base_url=service_url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "analyst@demo-shop.example")
        page.goto(PAGE)
        first = page.locator("#level-1 a.step-node").first
        label = first.locator(".step-label").inner_text()
        first.click()
        expect(page.locator("#level-1 a.step-node[aria-current=true] .step-label")).to_have_text(label)
        expect(page.locator("#step-detail h3")).to_have_text(f"Selected: {label}")
        expect(page.locator("#level-2 .column-note")).to_have_text(f"after “{label}”")
    finally:
        context.close()
