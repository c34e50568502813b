"""Signing in and out of the admin pages over HTTP, on each backend: sessions, CSRF, throttling, menus."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Member, make_member
from tests.pages import PASSWORD, csrf_of, post_form, sign_in


def member(db: Database, clock: FixedClock, role: Role = Role.ADMIN) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role)


def test_a_page_without_a_session_redirects_to_sign_in_and_back(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    response = pages.get("/admin/account?tab=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/account%3Ftab%3D1"

    form = pages.get(response.headers["location"])
    signed_in = pages.post(
        "/admin/login",
        data={
            "email": admin.user.email.upper(),
            "password": "correct horse",
            "csrf_token": csrf_of(form.text),
            "next": "/admin/account?tab=1",
        },
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/admin/account?tab=1"


def test_the_session_cookie_is_secure_httponly_and_samesite(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    response = sign_in(pages, admin.user.email)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("comerix_session=cx_ses_")
    for attribute in ("secure", "httponly", "samesite=lax", "path=/admin"):
        assert attribute in cookie


def test_a_wrong_password_shows_the_form_again_with_an_error(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    response = sign_in(pages, admin.user.email, "wrong password")
    assert response.status_code == 401
    assert "The email or the password is wrong." in response.text
    assert "comerix_session" not in response.headers.get("set-cookie", "")


def test_sign_in_without_the_form_token_is_refused(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    pages.get("/admin/login")
    response = pages.post(
        "/admin/login", data={"email": admin.user.email, "password": "correct horse"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "comerix_session" not in response.headers.get("set-cookie", "")


def test_failed_sign_ins_are_throttled_then_allowed_again(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    for _ in range(5):
        assert sign_in(pages, admin.user.email, "wrong password").status_code == 401
    throttled = sign_in(pages, admin.user.email)  # even the right password waits
    assert throttled.status_code == 429
    assert "try again in 15 minutes" in throttled.text
    assert int(throttled.headers["retry-after"]) == 15 * 60

    clock.advance(timedelta(minutes=15))
    assert sign_in(pages, admin.user.email).status_code == 303


def test_the_menu_shows_only_what_the_role_may_open(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    viewer = member(db, clock, Role.VIEWER)
    landing = sign_in(pages, viewer.user.email)
    assert landing.headers["location"] == "/admin/insights/analytics"
    page = pages.get("/admin/logout")
    assert 'href="/admin/insights/analytics"' in page.text
    for hidden in ("/admin/insights/goals", "/admin/insights/events", "/admin/settings/users"):
        assert f'href="{hidden}"' not in page.text


def test_a_page_the_role_may_not_open_is_a_403_page(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    viewer = member(db, clock, Role.VIEWER)
    sign_in(pages, viewer.user.email)
    response = pages.get("/admin/insights/goals")
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "comerix.insights.goals.manage" in response.text
    assert "the permission to view, create, edit and pause goals" in response.text
    assert "the designer or admin role does" in response.text  # the narrowest role that would help first


def test_the_account_page_says_what_the_role_allows_in_words(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    analyst = member(db, clock, Role.ANALYST)
    sign_in(pages, analyst.user.email)
    page = pages.get("/admin/account").text
    allowed = re.findall(r"<li>([^<]+) <code class=\"muted small\">([^<]+)</code></li>", page)
    assert allowed == [
        ("Use the Event Explorer", "comerix.insights.telemetry"),
        ("View the Analytics Hub, the OData feed and exports", "comerix.insights.analytics.view"),
    ]


def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    sign_in(pages, admin.user.email)
    refused = pages.post("/admin/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert pages.get("/admin/logout").status_code == 200  # still signed in

    out = post_form(pages, "/admin/logout", {})
    assert out.headers["location"] == "/admin/login?signed_out=1"
    assert pages.get("/admin/logout", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/goals"])
def test_sign_in_never_redirects_off_the_admin_pages(
    pages: TestClient, db: Database, clock: FixedClock, target: str
) -> None:
    admin = member(db, clock)
    form = pages.get("/admin/login")
    response = pages.post(
        "/admin/login",
        data={
            "email": admin.user.email,
            "password": "correct horse",
            "csrf_token": csrf_of(form.text),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/insights/goals"


def test_pages_forbid_framing_and_foreign_scripts(pages: TestClient) -> None:
    response = pages.get("/admin/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_the_service_address_leads_to_the_sign_in_form(pages: TestClient) -> None:
    root = pages.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/admin")
    admin = pages.get("/admin", follow_redirects=False)
    assert (admin.status_code, admin.headers["location"]) == (303, "/admin/login?next=/admin")


def test_an_unknown_admin_address_is_a_404_page_with_the_menu(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    sign_in(pages, admin.user.email)
    response = pages.get("/admin/no-such-page")
    assert response.status_code == 404
    assert "There is no such page." in response.text
    assert 'aria-label="Main menu"' in response.text


@pytest.mark.parametrize(
    "address",
    [
        "/admin/insights/events?name=%00",
        "/admin/contacts/a%00b",
        "/admin/insights/analytics?flow=%00",
        "/api/v1/events?name=%00",
    ],
)
def test_a_nul_character_in_the_address_is_a_400_not_a_server_error(
    pages: TestClient, db: Database, clock: FixedClock, address: str
) -> None:
    admin = member(db, clock)
    sign_in(pages, admin.user.email)
    response = pages.get(address, headers=admin.headers, follow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_nul_character_in_the_sign_in_email_is_a_wrong_login(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    member(db, clock)
    assert sign_in(pages, "a\x00b@shop.example").status_code == 401


def test_a_failed_sign_in_keeps_where_to_go_next(pages: TestClient, db: Database, clock: FixedClock) -> None:
    admin = member(db, clock)
    form = pages.get("/admin/login?next=/admin/account")
    failed = pages.post(
        "/admin/login",
        data={
            "email": admin.user.email,
            "password": "wrong password",
            "csrf_token": csrf_of(form.text),
            "next": "/admin/account",
        },
    )
    assert 'name="next" value="/admin/account"' in failed.text


def test_a_form_sent_after_the_session_ended_leads_back_to_its_page(pages: TestClient) -> None:
    response = pages.post(
        "/admin/account/tokens",
        data={"name": "excel"},
        headers={"referer": "https://testserver/admin/account"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/login?next=/admin/account"
    elsewhere = pages.post(
        "/admin/account/tokens", headers={"referer": "https://evil.example/admin/x"}, follow_redirects=False
    )
    assert elsewhere.headers["location"] == "/admin/login?next=/admin"


def test_a_malformed_request_to_a_page_says_which_field(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock)
    sign_in(pages, admin.user.email)
    response = pages.get("/admin/settings/keys/not-a-uuid/revoke")
    assert response.status_code == 422
    assert "key_id" in response.text
    assert "The server failed" not in response.text


def change_password(pages: TestClient, **typed: str) -> Response:
    fields = {"current_password": "", "new_password": "", "confirm_password": ""} | typed
    return post_form(pages, "/admin/account/password", fields, page="/admin/account")


def test_a_user_changes_their_own_password_and_their_other_sessions_end(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    ann = member(db, clock, Role.ANALYST)
    with TestClient(pages.app, base_url="https://testserver") as elsewhere:
        assert sign_in(elsewhere, ann.user.email).status_code == 303  # another browser
        assert sign_in(pages, ann.user.email).status_code == 303
        for typed, field, message in (
            (
                {
                    "current_password": "wrong one",
                    "new_password": "a new long one",
                    "confirm_password": "a new long one",
                },
                "current_password",
                "is not your current password",
            ),
            (
                {
                    "current_password": PASSWORD,
                    "new_password": "a new long one",
                    "confirm_password": "a new long on",
                },
                "confirm_password",
                "does not match the new password",
            ),
            (
                {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
                "new_password",
                "at least 8 characters",
            ),
        ):
            refused = change_password(pages, **typed)
            assert refused.status_code == 422, field
            assert re.search(rf'<p class="error" id="{field}-error">[^<]*{message}', refused.text), (
                refused.text
            )
            assert "a new long one" not in refused.text  # a password is never shown again
            assert PASSWORD not in refused.text
        assert elsewhere.get("/admin/account").status_code == 200  # nothing changed yet

        changed = change_password(
            pages, current_password=PASSWORD, new_password="a new long one", confirm_password="a new long one"
        )
        assert changed.status_code == 303
        assert "Your password is changed. Your 1 other session ended." in pages.get("/admin/account").text
        assert elsewhere.get("/admin/account", follow_redirects=False).status_code == 303  # signed out there
    assert pages.get("/api/v1/goals", headers=ann.headers).status_code in (200, 403)  # the token still works
    pages.cookies.clear()
    assert sign_in(pages, ann.user.email).status_code == 401  # the old password: refused
    assert sign_in(pages, ann.user.email, "a new long one").status_code == 303


def test_a_password_change_needs_the_form_token(pages: TestClient, db: Database, clock: FixedClock) -> None:
    ann = member(db, clock)
    sign_in(pages, ann.user.email)
    typed = {
        "current_password": PASSWORD,
        "new_password": "a new long one",
        "confirm_password": "a new long one",
    }
    assert pages.post("/admin/account/password", data=typed, follow_redirects=False).status_code == 403
    pages.cookies.clear()
    assert sign_in(pages, ann.user.email).status_code == 303  # the password is unchanged
