"""A new, empty workspace in a real browser: the Analytics page sends its admin to Get started, which
creates a public key, shows the request to send, sees the first event arrive, and opens the goal form
made from it."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable

from playwright.sync_api import Page, expect

from comerix.db import Database
from tests.conftest import START
from tests.factories import make_member
from tests.functional.browser.conftest import screenshot, sign_in
from tests.pages import PASSWORD


def test_a_new_workspace_gets_from_nothing_to_its_first_goal(
    anonymous_page: Page, live_database: Database, service_url: str
) -> None:
    with live_database.transaction() as session:
        newcomer = make_member(session, START)
    page = anonymous_page
    sign_in(page, newcomer.user.email, PASSWORD)
    page.goto("/admin/insights/analytics")
    note = page.locator("#get-started-note")
    expect(note).to_contain_text("Nothing has arrived in this workspace yet.")
    note.get_by_role("link", name="Get started").click()

    expect(page.get_by_role("heading", name="Get started", exact=True)).to_be_visible()
    expect(page.locator("#first-event-status")).to_contain_text("Waiting for your first event")
    page.get_by_role("button", name="Create a public key").click()
    key = page.locator("#new-secret-value").input_value()
    assert key.startswith("cx_pub_")
    expect(page.locator("#curl-example")).to_contain_text(f"Authorization: Bearer {key}")
    expect(page.locator("#fetch-example")).to_contain_text(f"{service_url}/events")

    body = {"name": "conversation_started", "conversation_id": "chat-1", "contact_id": "ann"}
    request = urllib.request.Request(  # noqa: S310 - the test's own service
        f"{service_url}/events",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310 - the test's own service
        assert answer.status == 202

    expect(page.locator("#first-event-status")).to_contain_text(
        re.compile(r"Your first event arrived: conversation_started, at 2026-\d\d-\d\d"), timeout=10_000
    )
    screenshot(page, "get-started")
    page.get_by_role("link", name="Create a goal from this event").click()
    expect(page.get_by_label(re.compile(r"^Trigger event( \*)?$"))).to_have_value("conversation_started")


def test_the_empty_pages_of_a_busy_workspace_do_not_send_it_to_get_started(
    signed_in_as: Callable[[str], Page],
) -> None:
    page = signed_in_as("admin")
    page.goto("/admin/insights/analytics")
    expect(page.locator("#get-started-note")).to_have_count(0)
