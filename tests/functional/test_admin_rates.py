"""Settings → Exchange rates, the page over HTTP (SPEC §11), on each backend: a rate set, changed and
removed through the form, each change in the history; a bad rate named on its field; the page for
settings managers only."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import make_member
from tests.pages import post_form, sign_in

PAGE = "/admin/settings/rates"


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert found is not None, f"no element #{element_id}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def test_a_rate_is_set_changed_and_removed_and_each_change_is_kept(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
    assert sign_in(pages, admin.user.email).status_code == 303
    assert "None yet" in text_of(pages.get(PAGE).text, "no-rates")

    saved = post_form(pages, PAGE, {"currency": "USD", "date": "2026-11-02", "per_base": "1.1172"})
    assert (saved.status_code, saved.headers["location"]) == (303, PAGE)
    page = pages.get(PAGE).text
    assert "Rate saved: 1 EUR = 1.1172 USD from 2026-11-02" in html.unescape(page)
    assert text_of(page, "rates-table").endswith(
        "USD 2026-11-02 1.1172 USD Remove the USD rate of 2026-11-02"
    )

    post_form(pages, PAGE, {"currency": "USD", "date": "2026-11-02", "per_base": "1.12"})
    assert "1.12 USD" in text_of(pages.get(PAGE).text, "rates-table")
    removed = post_form(pages, f"{PAGE}/remove", {"currency": "USD", "date": "2026-11-02"}, page=PAGE)
    assert removed.status_code == 303
    page = pages.get(PAGE).text
    assert 'id="rates-table"' not in page
    history = text_of(page, "rate-changes")
    assert history.count(admin.user.email) == 3
    assert "USD 2026-11-02 1.12 removed" in history
    assert "USD 2026-11-02 1.1172 1.12" in history
    assert "USD 2026-11-02 added 1.1172" in history


def test_a_bad_rate_is_named_on_its_field_and_nothing_is_saved(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
    sign_in(pages, admin.user.email)
    answer = post_form(pages, PAGE, {"currency": "USD", "date": "2026-11-02", "per_base": "-3"})
    assert answer.status_code == 422
    assert 'class="form-problem"' in answer.text
    assert "must be a positive number" in answer.text
    assert 'value="-3"' in answer.text  # what was typed stays in the form
    base = post_form(pages, PAGE, {"currency": "EUR", "date": "2026-11-02", "per_base": "1"})
    assert base.status_code == 422
    assert "EUR is the base currency: it needs no rate" in base.text
    assert 'id="rates-table"' not in pages.get(PAGE).text


def test_only_settings_managers_reach_the_page(pages: TestClient, db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        analyst = make_member(session, clock.now(), role=Role.ANALYST)
    sign_in(pages, analyst.user.email)
    assert pages.get(PAGE).status_code == 403
