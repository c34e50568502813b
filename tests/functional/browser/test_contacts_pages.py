"""The Contacts pages in a real browser, on the demo workspace: looking a contact up, the profile, and
erasure with its confirmation step."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import profile_url, screenshot


def test_look_a_contact_up_and_read_the_profile(admin_page: Page) -> None:
    page = admin_page
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="Recently active")).to_be_visible()
    recent = page.get_by_role("table").get_by_role("link")
    expect(recent).to_have_count(50)
    # One who bought something (a value in the last column), for a profile with outcomes to show.
    rows = page.get_by_role("table").locator("tbody tr")
    valued = [i for i, text in enumerate(rows.locator("td:last-child").all_inner_texts()) if "—" not in text]
    assert valued, "no contact of the latest 50 has a lifetime base value"
    contact_id = recent.nth(valued[0]).inner_text()
    page.get_by_role("link", name="Seen earlier →").click()
    expect(recent).to_have_count(50)
    assert contact_id not in recent.all_inner_texts()  # the next 50

    page.get_by_label("Contact id").fill("no-such-contact")
    page.get_by_label("Contact id").press("Enter")
    expect(page.get_by_text("No contact id starts with “no-such-contact” in this workspace.")).to_be_visible()
    expect(page.get_by_label("Contact id")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Contact id").fill(contact_id[:-1])  # its beginning: a list
    page.get_by_role("button", name="Find").click()
    expect(
        page.get_by_role("heading", name=f"Contacts whose id starts with “{contact_id[:-1]}”")
    ).to_be_visible()
    expect(page.get_by_role("table").get_by_role("link", name=contact_id, exact=True)).to_be_visible()
    screenshot(page, "contacts")

    page.get_by_label("Contact id").fill(contact_id)
    page.get_by_role("button", name="Find").click()

    expect(page).to_have_url(profile_url(contact_id))
    expect(page.get_by_role("heading", name=f"Contact {contact_id}")).to_be_visible()
    for section in ("Goals achieved", "Conversations", "Newest events"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.get_by_text("Europe/Berlin")).to_be_visible()
    expect(page.locator("time").first).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T"))
    screenshot(page, "contact")


def test_erase_a_contact_after_confirming(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/contacts")
    contact_id = page.get_by_role("table").get_by_role("link").nth(10).inner_text()
    page.get_by_role("table").get_by_role("link", name=contact_id, exact=True).click()

    page.get_by_role("link", name="Erase this contact…").click()
    expect(page.get_by_role("heading", name=f"Erase contact {contact_id}?")).to_be_visible()
    expect(page.get_by_text("report totals, counts and revenue stay as they are")).to_be_visible()

    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name=f"Contact {contact_id}")).to_be_visible()

    page.get_by_role("link", name="Erase this contact…").click()
    page.get_by_label("Type the contact id to confirm").fill("not-the-id")
    page.get_by_role("button", name="Erase contact").click()
    expect(page.get_by_text("Type the contact id exactly as shown to erase it.")).to_be_visible()

    page.get_by_label("Type the contact id to confirm").fill(contact_id)
    page.get_by_role("button", name="Erase contact").click()

    expect(page).to_have_url(re.compile(r"/admin/contacts$"))
    expect(page.get_by_role("status")).to_contain_text(f"Contact “{contact_id}” erased:")
    expect(page.get_by_role("table").get_by_role("link", name=contact_id, exact=True)).to_have_count(0)
    response = page.goto(f"/admin/contacts/profile?contact_id={quote(contact_id, safe='')}")
    assert response is not None
    assert response.status == 404
