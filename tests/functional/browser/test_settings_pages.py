"""The settings pages in a real browser, as the demo's admin: the reporting time zone, adding a user and
changing their role, and an Engine API key shown once, copied, then revoked.

The service and its demo workspace are shared by every browser test: each test here puts back what it
changed (the time zone, the added user) so the other pages still see the demo as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import screenshot

DEMO_ZONE = "Europe/Berlin"


def save_time_zone(page: Page, zone: str) -> None:
    page.goto("/admin/settings/analytics")
    page.get_by_label("Reporting time zone").select_option(zone)
    page.get_by_role("button", name="Save settings").click()


def test_an_admin_changes_the_reporting_time_zone(admin_page: Page) -> None:
    page = admin_page
    page.goto("/admin/settings/analytics")
    expect(page.get_by_label("Base currency")).to_have_value("EUR")
    expect(page.get_by_label("Reporting time zone")).to_have_value(DEMO_ZONE)
    try:
        save_time_zone(page, "America/New_York")
        expect(page.get_by_role("status")).to_contain_text(
            "Reports are now cut into days of America/New_York"
        )
        expect(page.get_by_label("Reporting time zone")).to_have_value("America/New_York")
        expect(page.locator("dl.facts")).to_contain_text("America/New_York")
        screenshot(page, "settings-analytics")
    finally:
        save_time_zone(page, DEMO_ZONE)
    expect(page.get_by_label("Reporting time zone")).to_have_value(DEMO_ZONE)


def test_an_admin_adds_a_user_changes_their_role_and_removes_them(admin_page: Page) -> None:
    page = admin_page
    email = "new.colleague@demo-shop.example"
    page.goto("/admin/settings/users")
    expect(page.get_by_role("heading", name="Roles")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role", exact=True).select_option("analyst")
    page.get_by_label("Initial password").fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#password-error")).to_contain_text("at least 8 characters")
    expect(page.get_by_label("Email")).to_have_value(email)

    page.get_by_label("Initial password").fill("a long enough password")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Added {email} as analyst. They sign in with the password you chose."
    )
    role = page.get_by_label(f"Role of {email}")
    expect(role).to_have_value("analyst")
    role.select_option("designer")
    page.get_by_role("button", name=f"Change role of {email}").click()
    expect(page.get_by_role("status")).to_have_text(f"{email} is now designer.")
    expect(page.get_by_label(f"Role of {email}")).to_have_value("designer")
    screenshot(page, "settings-users")

    page.get_by_role("link", name=f"Remove {email}").click()
    expect(page.get_by_role("heading", name=f"Remove {email}?")).to_be_visible()
    page.get_by_role("button", name="Remove user").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed {email}")
    expect(page.get_by_label(f"Role of {email}")).to_have_count(0)


def test_a_new_public_key_is_shown_once_copied_and_revoked(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("admin")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/admin/settings/keys")
    page.get_by_label("Name").fill("Browser test widget")
    page.get_by_label("Public").check()
    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    shown = page.get_by_label(re.compile("shown once"))
    key = shown.input_value()
    assert key.startswith("cx_pub_")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard. Keep it somewhere safe.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "settings-keys")

    page.reload()
    expect(page).to_have_url(re.compile(r"/admin/settings/keys$"))
    expect(page.get_by_label(re.compile("shown once"))).to_have_count(0)
    assert key not in page.content()
    row = page.get_by_role("row", name=re.compile("Browser test widget"))
    expect(row).to_have_count(1)  # the reload did not create a second key
    expect(row).to_contain_text(f"cx_pub_…{key[-4:]}")

    row.get_by_role("link", name=re.compile("^Revoke")).click()
    expect(
        page.get_by_role("heading", name=re.compile("Revoke the public key “Browser test widget”"))
    ).to_be_visible()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the public key “Browser test widget”")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("link", name=re.compile("^Revoke"))).to_have_count(0)
