"""Every main page, opened by the role that may see it: it answers 200 without console errors, each
form control has a label, and the keyboard reaches the controls (Tab moves focus through them)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.functional.browser.conftest import screenshot

MAIN_PAGES = [
    "/admin/insights/goals",
    "/admin/insights/goals/new",
    "/admin/insights/events",
    "/admin/insights/steps",
    "/admin/insights/conversations",
    "/admin/insights/conversations/chat-85-000",  # a demo chat of every scale, 5 days before the clock
    "/admin/insights/analytics",
    "/admin/contacts",
    "/admin/settings/analytics",
    "/admin/settings/rates",
    "/admin/settings/users",
    "/admin/settings/keys",
    "/admin/account",
    "/admin/start",
]

# Controls a person fills in or operates, and whether each has a name from a <label> (or aria-label).
UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((control) => !control.labels?.length && !control.getAttribute('aria-label')
                       && !control.getAttribute('aria-labelledby'))
  .map((control) => control.outerHTML.slice(0, 120))
"""

FOCUSED = "() => document.activeElement ? document.activeElement.outerHTML.slice(0, 80) : null"


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_each_main_page_is_labelled_and_keyboard_reachable(
    signed_in_as: Callable[[str], Page], path: str
) -> None:
    page = signed_in_as("admin")
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path} answered {response.status}"
    assert page.evaluate(UNLABELLED_CONTROLS) == [], f"{path} has controls without a label"
    # 1,400 px wide: the menu is open beside the page, and there is no button to fold it.
    expect(page.get_by_role("navigation", name="Main menu").get_by_role("link").first).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    screenshot(page, "wide-" + path.strip("/").replace("/", "-"))

    visited = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        visited.add(page.evaluate(FOCUSED))
    assert len(visited - {None}) >= 5, f"Tab reaches too little on {path}: {visited}"


@pytest.mark.parametrize(
    ("role", "forbidden"),
    [
        ("viewer", "/admin/insights/goals"),
        ("viewer", "/admin/insights/events"),
        ("viewer", "/admin/insights/steps"),
        ("viewer", "/admin/insights/conversations"),
        ("analyst", "/admin/insights/goals/new"),
        ("designer", "/admin/contacts"),
        ("designer", "/admin/settings/keys"),
    ],
)
def test_a_page_outside_the_role_is_refused_with_a_403_page(
    signed_in_as: Callable[[str], Page], role: str, forbidden: str
) -> None:
    page = signed_in_as(role)
    response = page.goto(forbidden)
    assert response is not None
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert page.get_by_role("navigation", name="Main menu").is_visible()


# What is wider than the window at 390 px (a phone): the page itself must not scroll sideways; a wide
# table scrolls inside its card (.table-wrap), which is allowed.
TOO_WIDE = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('main *')].filter((element) => {
    if (element.parentElement.closest('.table-wrap, pre, .chart-box, .step-columns')) return false;
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1;
  });
  const shown = wide.slice(0, 5).map((element) => element.outerHTML.slice(0, 100));
  return {scroll: document.documentElement.scrollWidth, width, wide: shown};
}
"""


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_each_main_page_fits_a_phone_and_its_menu_folds(
    signed_in_as: Callable[[str], Page], path: str
) -> None:
    page = signed_in_as("admin")
    page.set_viewport_size({"width": 390, "height": 844})
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    found = page.evaluate(TOO_WIDE)
    assert found["scroll"] <= found["width"], f"{path} scrolls sideways at 390 px: {found}"
    assert found["wide"] == [], f"{path}: wider than the window at 390 px: {found['wide']}"
    menu = page.get_by_role("navigation", name="Main menu")
    expect(menu.get_by_role("link").first).to_be_hidden()  # folded: the page starts with its content
    page.get_by_role("button", name="Menu").click()
    expect(menu.get_by_role("link", name="Analytics").first).to_be_visible()
    screenshot(page, "phone-" + path.strip("/").replace("/", "-"))


def fits(page: Page, name: str) -> None:
    """The page as it is, at 1,400 px and at 390 px: no sideways scrolling on the phone; a picture of each."""
    for width, prefix in ((1400, "wide"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 900 if width > 390 else 844})
        found = page.evaluate(TOO_WIDE)
        assert found["scroll"] <= found["width"], f"{name} scrolls sideways at {width} px: {found}"
        assert found["wide"] == [], f"{name}: wider than the window at {width} px: {found['wide']}"
        screenshot(page, f"{prefix}-{name}")


def test_a_contact_profile_and_the_403_page_fit_both_widths(signed_in_as: Callable[[str], Page]) -> None:
    """The pages of this kind that are no menu entry: a profile (reached from the list) and the page that
    refuses a role, which says in words which roles would do."""
    page = signed_in_as("admin")
    page.goto("/admin/contacts")
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=re.compile("^Contact "))).to_be_visible()
    fits(page, "contact-profile")

    page.context.clear_cookies()  # signed out
    page = signed_in_as("viewer")
    response = page.goto("/admin/insights/events")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    fits(page, "forbidden")
