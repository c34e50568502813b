"""Multi-step goals and a goal's page in a real browser, on the demo workspace: a process built in the
steps editor (add, reorder, remove, a refusal shown on its row, then retire), Try it on an unsaved
process (each step's matches and misses; a problem shown on its row until the next run), its page with
the funnel drawn, and a demo goal's page with its trend, latest outcomes and change history."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from playwright.sync_api import Browser, Locator, Page, expect

from tests.functional.browser.conftest import screenshot, sign_in

# Chart.js comes in a deferred script that may not have run yet: the wait keeps polling until it has.
CHART_DRAWN = (
    "(id) => { const c = document.getElementById(id);"
    " return !!(c && typeof Chart !== 'undefined' && Chart.getChart(c)); }"
)


def field(page: Page, label: str) -> Locator:
    """The control labelled exactly `label` (a required field's label ends with an asterisk)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def step_field(page: Page, number: int, label: str) -> Locator:
    """A field of the steps editor's row `number` (its label says "Step N" to screen readers)."""
    return page.get_by_label(re.compile(rf"^Step {number} {re.escape(label)}( \*)?$"))


def legends(page: Page) -> list[str]:
    return [
        " ".join(text.split()) for text in page.locator("#step-rows > .step-row > legend").all_inner_texts()
    ]


def test_a_designer_builds_a_multi_step_goal_in_the_steps_editor(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/goals/new")
    expect(page.locator("#steps-editor")).to_be_hidden()  # a single event by default
    expect(page.locator("#try-it")).to_be_visible()
    page.get_by_label("Multi-step process").check()
    expect(page.locator("#steps-editor")).to_be_visible()
    expect(page.locator("#single-event")).to_be_hidden()
    expect(page.locator("#try-it-steps-note")).to_be_visible()  # Try it tries each step

    field(page, "Name").fill("Plan upgrade")
    field(page, "Code").fill("plan_upgrade")
    for number, (key, name, trigger) in enumerate(
        [("pricing", "Pricing shown", "pricing_viewed"), ("paid", "Paid", "purchase")], start=1
    ):
        step_field(page, number, "Key").fill(key)
        step_field(page, number, "Name").fill(name)
        step_field(page, number, "Trigger event").fill(trigger)
    expect(step_field(page, 2, "Completes the goal")).to_be_checked()

    page.get_by_role("button", name="Add a step").click()
    expect(step_field(page, 3, "Key")).to_be_focused()
    step_field(page, 3, "Key").fill("Plan Chosen")  # refused below, on its row
    step_field(page, 3, "Name").fill("Plan chosen")
    step_field(page, 3, "Trigger event").fill("plan_selected")
    step_3_conditions = page.get_by_role("group", name="Step 3 Match conditions (rows)")
    step_3_conditions.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Step 3 Match conditions: condition 1, property path").fill("plan")
    page.get_by_label("Step 3 Match conditions: condition 1, value").fill("premium")
    step_field(page, 3, "Time saved (seconds)").fill("120")
    step_field(page, 3, "Revenue earned (EUR)").fill("4.50")
    page.get_by_role("button", name="Move step 3 up").click()
    assert legends(page) == ["Step 1 · start step new", "Step 2 new", "Step 3 new"]
    expect(step_field(page, 2, "Name")).to_have_value("Plan chosen")
    expect(page.get_by_role("button", name="Move step 1 up")).to_be_disabled()
    expect(page.get_by_role("button", name="Move step 3 down")).to_be_disabled()

    page.get_by_role("button", name="Add a step").click()
    step_field(page, 4, "Name").fill("A mistake")
    page.get_by_role("button", name="Remove step 4").click()
    expect(page.locator("#step-rows > .step-row")).to_have_count(3)

    page.get_by_role("button", name="Create goal").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("1 problem to fix")
    expect(page.locator("#steps-2-key-error")).to_contain_text("must start with a lowercase letter")
    expect(step_field(page, 2, "Key")).to_have_attribute("aria-invalid", "true")
    expect(step_field(page, 2, "Key")).to_have_value("Plan Chosen")
    expect(page.get_by_label("Step 2 Match conditions: condition 1, value")).to_have_value("premium")
    assert json.loads(step_field(page, 2, "Match conditions").input_value()) == {"plan": "premium"}
    expect(page.get_by_label("Multi-step process")).to_be_checked()
    summary.get_by_role("link", name=re.compile("Step 2")).click()
    expect(step_field(page, 2, "Key")).to_be_focused()
    screenshot(page, "goal-steps-form-error")

    step_field(page, 2, "Key").fill("plan_chosen")
    step_field(page, 2, "Key").press("Enter")  # Enter saves: the form's first button is not "Move up"
    expect(page.get_by_role("status")).to_have_text("Goal “Plan upgrade” created.")
    row = page.locator("#goals-active").get_by_role("row", name=re.compile("Plan upgrade"))
    expect(row).to_contain_text("3 steps")

    row.get_by_role("link", name="Edit Plan upgrade").click()
    expect(page.get_by_label("Multi-step process")).to_have_count(0)  # fixed once created
    expect(page.locator("#shape")).to_contain_text("Multi-step process")
    expect(step_field(page, 2, "Key")).to_have_attribute("readonly", "")
    expect(page.get_by_role("button", name="Remove step 2")).to_have_count(0)  # saved: retire it instead
    step_field(page, 2, "Retired").check()
    expect(page.locator("#step-rows > .step-row").nth(1)).to_have_class(re.compile("retired"))
    screenshot(page, "goal-steps-form")
    page.get_by_role("button", name="Try it").click()  # the edit page sends its stored steps' rows
    tried = page.locator("#try-it-results .try-step")
    expect(tried).to_have_count(3)
    expect(tried.nth(1)).to_contain_text("Retired: it matches nothing new, so it was not tried.")
    expect(tried.nth(2)).to_contain_text("“purchase” events matched")
    page.get_by_role("button", name="Save goal").click()
    expect(page.get_by_role("status")).to_have_text("Goal “Plan upgrade” saved.")
    expect(row).to_contain_text("2 steps")
    expect(row).to_contain_text("+ 1 retired")

    row.get_by_role("link", name="Plan upgrade", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Plan upgrade"))).to_be_visible()
    page.wait_for_function(CHART_DRAWN, arg="goal-funnel-chart")
    page.wait_for_function(CHART_DRAWN, arg="goal-states-chart")
    page.wait_for_function(CHART_DRAWN, arg="goal-trend-chart")
    labels = page.evaluate("() => Chart.getChart(document.getElementById('goal-funnel-chart')).data.labels")
    assert labels == ["Pricing shown", "Plan chosen (retired)", "Paid"]
    expect(page.locator("#funnel-table tbody tr")).to_have_count(3)
    expect(page.locator("#tile-started .value")).to_have_text("0")
    history = page.locator("#history ol.history > li")
    expect(history.first).to_contain_text("Edited")
    expect(history.first).to_contain_text("“plan_chosen” retired: no → yes")
    expect(history.last).to_contain_text("pricing (Pricing shown), plan_chosen (Plan chosen), paid (Paid)")
    screenshot(page, "goal-page-new-process")


def test_try_it_shows_each_step_of_an_unsaved_process(
    signed_in_as: Callable[[str], Page], page_errors: list[str]
) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/goals/new")
    page.get_by_label("Multi-step process").check()
    field(page, "Name").fill("Fitting, tried")
    field(page, "Code").fill("fitting_tried")
    for number, (key, name, trigger) in enumerate(
        [("started", "Booking started", "booking_started"), ("paid", "Deposit paid", "")], start=1
    ):
        step_field(page, number, "Key").fill(key)
        step_field(page, number, "Name").fill(name)
        step_field(page, number, "Trigger event").fill(trigger)  # the completion's left blank: refused
    page.get_by_role("button", name="Add a step").click()
    step_field(page, 3, "Key").fill("trail")
    step_field(page, 3, "Name").fill("Trail runner")
    step_field(page, 3, "Trigger event").fill("booking_details_given")
    page.locator("#step-rows > .step-row").nth(2).get_by_text("Edit as JSON").click()  # JSON, as ever
    step_field(page, 3, "Match conditions").fill('{"activity": "trail"}')
    page.get_by_role("button", name="Move step 3 up").click()  # now the completion is the third step
    field(page, "Value").select_option("from_property")
    field(page, "Value property").fill("amount")
    field(page, "Currency property").fill("currency")
    page.get_by_label("Events of the last").select_option("90d")

    page.get_by_role("button", name="Try it").click()
    problems = page.locator("#try-it-results").get_by_role("alert")
    expect(problems).to_contain_text("Fix the form first")
    expect(problems).to_contain_text("steps[2].trigger_event: is required")
    trigger = step_field(page, 3, "Trigger event")
    expect(page.locator("#step-rows > .step-row").nth(2).locator(".try-inline-error")).to_have_text(
        "is required"
    )
    expect(trigger).to_have_attribute("aria-invalid", "true")
    problems.get_by_role("link", name="steps[2].trigger_event").click()
    expect(trigger).to_be_focused()
    screenshot(page, "goal-steps-try-it-error")
    expected_refusal = [entry for entry in page_errors if entry.startswith("422 for ")]
    assert len(expected_refusal) == 1  # the refusal shown above; nothing else went wrong
    page_errors.remove(expected_refusal[0])

    trigger.fill("deposit_paid")
    page.get_by_role("button", name="Try it").click()
    steps = page.locator("#try-it-results .try-step")
    expect(steps).to_have_count(3)
    expect(page.locator(".try-inline-error")).to_have_count(0)  # cleared by the next run
    expect(trigger).not_to_have_attribute("aria-invalid", "true")
    titles = [" ".join(text.split()) for text in steps.locator("h3").all_inner_texts()]
    assert titles == [
        "Step 1 · Booking started started",
        "Step 2 · Trail runner trail",
        "Step 3 · Deposit paid paid",
    ]
    started, trail, paid = steps.all()
    expect(started.locator(".step-type")).to_have_text("start step")
    expect(started.locator(".headline")).to_contain_text(
        re.compile(r"^\d+ of \d+ “booking_started” events matched")
    )
    assert int(started.locator(".headline strong").inner_text()) > 0
    expect(started.locator(".samples .amount")).to_have_count(0)  # no outcome, no value
    expect(trail.locator(".misses")).to_contain_text(
        re.compile(r'activity: expected "trail", found "(road|hiking)"')
    )
    expect(paid.locator(".step-type")).to_have_text("completes the goal")
    expect(paid.locator(".samples > li").first).to_contain_text("20.00 EUR")
    expect(paid.locator(".samples > li").first).to_contain_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST)")
    )
    screenshot(page, "goal-steps-try-it")


def test_a_demo_goal_page_shows_its_trend_outcomes_and_history(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("designer")
    page.goto("/admin/insights/goals")
    purchases = page.locator("#goals-active").get_by_role("row", name=re.compile("Product purchase"))
    outcomes = purchases.locator("td.num").first.inner_text()
    assert int(outcomes.replace(",", "")) > 0
    purchases.get_by_role("link", name="Product purchase", exact=True).click()

    expect(page.get_by_role("heading", name=re.compile("^Product purchase"))).to_be_visible()
    expect(page.locator("#tile-outcomes .value")).to_have_text(outcomes)  # the list's figure, 30 days
    page.wait_for_function(CHART_DRAWN, arg="goal-trend-chart")
    points = page.evaluate(
        "() => Chart.getChart(document.getElementById('goal-trend-chart')).data.labels.length"
    )
    assert points == 30
    rows = page.locator("#outcomes-table tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST)"))
    expect(page.locator("#history ol.history > li").last).to_contain_text("Created")
    expect(page.get_by_role("link", name="Open in the Analytics Hub")).to_have_attribute(
        "href", "/admin/insights/analytics?range=30d&goal=product_purchase"
    )
    screenshot(page, "goal-page")

    page.get_by_role("navigation", name="Range of the figures below").get_by_role(
        "link", name="7 days"
    ).click()
    expect(page).to_have_url(re.compile(r"\?range=7d$"))
    page.wait_for_function(CHART_DRAWN, arg="goal-trend-chart")
    points = page.evaluate(
        "() => Chart.getChart(document.getElementById('goal-trend-chart')).data.labels.length"
    )
    assert points == 7
    page.get_by_role("link", name="Edit goal").click()
    expect(field(page, "Code")).to_have_value("product_purchase")


def test_the_steps_editor_works_without_javascript(browser: Browser, service_url: str) -> None:
    context = browser.new_context(base_url=service_url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "designer@demo-shop.example")
        page.goto("/admin/insights/goals/new")
        expect(page.locator("#steps-editor")).to_be_visible()  # both types shown: the radio decides
        page.get_by_label("Multi-step process").check()
        field(page, "Name").fill("Callback request")
        field(page, "Code").fill("callback_request")
        for number, (key, trigger) in enumerate(
            [("asked", "callback_asked"), ("booked", "callback_booked")], 1
        ):
            step_field(page, number, "Key").fill(key)
            step_field(page, number, "Name").fill(key.capitalize())
            step_field(page, number, "Trigger event").fill(trigger)

        page.get_by_role("button", name="Add a step").click()  # the server shows the form again, a row more
        step_field(page, 3, "Key").fill("number")
        step_field(page, 3, "Name").fill("Number given")
        step_field(page, 3, "Trigger event").fill("phone_given")
        page.get_by_role("button", name="Move step 3 up").click()
        expect(step_field(page, 2, "Key")).to_have_value("number")
        expect(step_field(page, 1, "Key")).to_have_value("asked")  # nothing typed was lost
        page.get_by_role("button", name="Create goal").click()

        expect(page.get_by_role("status")).to_have_text("Goal “Callback request” created.")
        row = page.locator("#goals-active").get_by_role("row", name=re.compile("Callback request"))
        expect(row).to_contain_text("3 steps")
    finally:
        context.close()


def test_the_demo_booking_shows_its_funnel_with_drop_off(signed_in_as: Callable[[str], Page]) -> None:
    """The demo's fitting booking, as a new user first sees a process: cycles in every state, a funnel
    that narrows step by step, and completions both in the chat and by the backend's deposit."""
    page = signed_in_as("designer")
    page.goto("/admin/insights/goals")
    page.get_by_role("link", name="Fitting booked", exact=True).click()
    page.get_by_role("link", name="90 days").click()
    page.wait_for_function(CHART_DRAWN, arg="goal-funnel-chart")
    for tile in ("started", "incomplete", "partial", "completed"):
        assert int(page.locator(f"#tile-{tile} .value").inner_text().replace(",", "")) > 0, tile
    reached = [
        int(cell.replace(",", ""))
        for cell in page.locator("#funnel-table tbody tr > :nth-child(3)").all_inner_texts()
    ]
    assert reached[0] > reached[1] > reached[2] > 0  # started, details given, slot chosen
    assert reached[3] > 0  # confirmed in the chat
    assert reached[4] > 0  # deposit paid
    page.evaluate("document.querySelector('ul.tiles.states').scrollIntoView({block: 'start'})")
    screenshot(page, "goal-page-multi-step")
