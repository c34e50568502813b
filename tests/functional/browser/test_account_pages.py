"""Signing in and out in a real browser: the form, the keyboard, the menu of a role, the 403 page."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import DEMO_PASSWORD, screenshot


def test_sign_in_with_the_keyboard_and_sign_out(anonymous_page: Page) -> None:
    page = anonymous_page
    page.goto("/admin/account")
    expect(page).to_have_url("/admin/login?next=/admin/account")
    screenshot(page, "login")
    page.get_by_label("Email").fill("analyst@demo-shop.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("comerix.insights.telemetry")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/admin/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_wrong_password_is_told_inline(anonymous_page: Page) -> None:
    page = anonymous_page
    page.goto("/admin/login")
    page.get_by_label("Email").fill("admin@demo-shop.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or the password is wrong.")
    expect(page.get_by_label("Email")).to_have_value("admin@demo-shop.example")


def test_the_menu_follows_the_role(signed_in_as: Callable[[str], Page]) -> None:
    page = signed_in_as("viewer")
    menu = page.get_by_role("navigation", name="Main menu")
    expect(menu.get_by_role("link", name="Analytics")).to_be_visible()
    expect(menu.get_by_role("link", name="Goals")).to_have_count(0)
    expect(menu.get_by_role("link", name="Users")).to_have_count(0)
