"""Insights → Analytics in a real browser, on the demo workspace: the dashboard's tiles, chart and
breakdowns, filters that change the URL and the figures, the CSV download, and an inline error."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import screenshot

PAGE = "/admin/insights/analytics"
# Chart.js comes in a deferred script that may not have run yet: the wait keeps polling until it has.
CHART_DRAWN = (
    "() => { const c = document.getElementById('analytics-chart');"
    " return !!(c && typeof Chart !== 'undefined' && Chart.getChart(c)); }"
)


def tile_value(page: Page, key: str) -> str:
    return page.locator(f"#tile-{key} .value").first.inner_text()


def test_the_dashboard_shows_tiles_a_chart_and_breakdowns(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("viewer")
    page.goto(PAGE)
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    expect(page.get_by_label("Range", exact=True)).to_have_value("30d")
    expect(page.locator("#tile-goal-product_purchase")).to_contain_text("Product purchase")
    assert int(tile_value(page, "conversations").replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d%", tile_value(page, "conversion-rate"))
    assert tile_value(page, "base-revenue").startswith("€")

    page.wait_for_function(CHART_DRAWN)
    datasets = page.evaluate(
        "() => Chart.getChart(document.getElementById('analytics-chart')).data.datasets.map(d => d.label)"
    )
    assert datasets == [
        "Conversions",
        "Engagements",
        "Custom",
        "Base revenue (EUR)",
        "Outcomes, 4 Sep 2026 \N{EN DASH} 3 Oct 2026",  # the previous 30 days, faint under them
        "Base revenue (EUR), 4 Sep 2026 \N{EN DASH} 3 Oct 2026",
    ]
    expect(page.locator("#compare-note")).to_contain_text("4 Sep 2026 \N{EN DASH} 3 Oct 2026")
    expect(page.locator("#tile-conversations .change")).to_have_text(re.compile(r"(▲|▼) \d+\.\d%|no change"))

    by_goal = page.get_by_role("region", name="By goal").get_by_role("table")
    expect(by_goal.get_by_role("rowheader").first).to_contain_text("Primary")
    expect(page.get_by_role("region", name="By flow").get_by_role("table")).to_contain_text("sales-assistant")
    expect(page.get_by_role("region", name="By attribution").get_by_role("table")).to_contain_text(
        "In the conversation"
    )
    screenshot(page, "analytics")
    page.get_by_text("Show the figures as a table").click()
    expect(page.locator("#series tbody tr")).to_have_count(30)


def test_changing_the_filters_changes_the_url_and_the_figures(admin_page: Page) -> None:
    page = admin_page
    page.goto(PAGE)
    page.wait_for_function(CHART_DRAWN)
    month = tile_value(page, "conversations")

    page.get_by_label("Range", exact=True).select_option("7d")
    page.get_by_label("Interval", exact=True).select_option("week")
    expect(page.get_by_label("From", exact=True)).to_have_value("2026-10-27")  # the preset's dates
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(f"{PAGE}?range=7d&interval=week")  # only the filters in use
    expect(page.locator("#tile-conversations .value")).not_to_have_text(month)
    page.wait_for_function(CHART_DRAWN)
    labels = page.evaluate("() => Chart.getChart(document.getElementById('analytics-chart')).data.labels")
    assert labels
    assert all(label.startswith("Week of") for label in labels)

    # Editing a date switches the range to custom dates; the keyboard submits the form.
    page.get_by_label("From", exact=True).fill("2026-10-01")
    expect(page.get_by_label("Range", exact=True)).to_have_value("custom")
    page.get_by_label("Flow", exact=True).select_option("support-bot")
    page.get_by_role("button", name="Apply filters").press("Enter")
    expect(page).to_have_url(
        f"{PAGE}?range=custom&from=2026-10-01&to=2026-11-02&flow=support-bot&interval=week"
    )
    expect(page.get_by_role("region", name="By flow").get_by_role("rowheader")).to_have_text(
        ["support-bot", "Total"]
    )
    support_bot = page.get_by_role("region", name="By flow").locator("tbody tr").first
    expect(page.locator("#tile-conversations .value")).to_have_text(
        support_bot.locator("td").first.inner_text()
    )


def test_the_csv_download_carries_the_filters(admin_page: Page) -> None:
    page = admin_page
    page.goto(f"{PAGE}?range=last_month&goal=product_purchase")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "outcomes-2026-10-01-2026-10-31.csv"
    with open(download.path(), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert rows
    assert {row["goal"] for row in rows} == {"product_purchase"}
    assert all("2026-10-01" <= row["local_date"] <= "2026-10-31" for row in rows)
    purchases = page.locator("#tile-goal-product_purchase .value").inner_text()
    assert len(rows) == int(purchases.replace(",", ""))


def test_impossible_dates_are_named_inline(admin_page: Page) -> None:
    page = admin_page
    response = page.goto(f"{PAGE}?range=custom&from=2026-11-05&to=2026-11-01")
    assert response is not None
    assert response.status == 422
    expect(page.get_by_role("alert")).to_contain_text("to is before from")  # "from" set in code, no backticks
    expect(page.get_by_label("To", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("link", name="Download CSV")).to_have_count(0)
