"""The settings pages and the account page's tokens over HTTP, on each backend: analytics settings,
users and roles, Engine API keys and personal access tokens; CSRF and permissions."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from comerix.auth.models import EngineKey, EngineKeyKind, PersonalAccessToken, User
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.workspaces.models import Workspace
from tests.factories import Member, make_engine_key, make_member
from tests.pages import csrf_of, post_form, sign_in

EVENT = {"name": "conversation_started", "conversation_id": "chat-1"}


@dataclass(frozen=True)
class Team:
    """An admin and a designer of one workspace, each with a token, and a stranger in another."""

    admin: Member
    designer: Member
    stranger: Member
    public_key: str


@pytest.fixture
def team(db: Database, clock: FixedClock) -> Team:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        designer = make_member(session, clock.now(), role=Role.DESIGNER, workspace=admin.workspace)
        stranger = make_member(session, clock.now())
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.PUBLIC)
    return Team(admin, designer, stranger, key)


@pytest.fixture
def admin_pages(pages: TestClient, team: Team) -> TestClient:
    """The browser of the team's admin, signed in."""
    sign_in(pages, team.admin.user.email)
    return pages


@pytest.fixture
def second_browser(pages: TestClient) -> TestClient:
    """Another browser on the same running service (the person whose account the admin changes). Not
    entered as a context manager: the service's lifespan already runs for `pages`."""
    return TestClient(pages.app, base_url="https://testserver")


def flash_after(client: TestClient, response_location: str) -> str:
    return client.get(response_location).text


def user_row(db: Database, user_id: uuid.UUID) -> User | None:
    with db.sessions() as session:
        return session.scalar(select(User).where(User.id == user_id))


def token_id_of(db: Database, member: Member) -> uuid.UUID:
    with db.sessions() as session:
        found = session.scalar(
            select(PersonalAccessToken.id).where(PersonalAccessToken.user_id == member.user.id)
        )
    assert found is not None
    return found


def key_id_of(db: Database, workspace_id: uuid.UUID) -> uuid.UUID:
    with db.sessions() as session:
        found = session.scalar(select(EngineKey.id).where(EngineKey.workspace_id == workspace_id))
    assert found is not None
    return found


def count(db: Database, model: type[User] | type[EngineKey] | type[PersonalAccessToken]) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def workspace_settings(db: Database, workspace_id: uuid.UUID) -> tuple[str, str]:
    with db.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        return workspace.base_currency, workspace.timezone


def shown_secret(html: str, prefix: str) -> str:
    found = re.search(rf'id="new-secret-value"[^>]*value="({prefix}[^"]+)"', html)
    assert found is not None, "the page shows no new secret"
    return found.group(1)


# Settings → Analytics ------------------------------------------------------------------------------


def test_the_analytics_form_offers_named_currencies_and_zones_by_region(
    admin_pages: TestClient,
) -> None:
    html = admin_pages.get("/admin/settings/analytics").text
    assert '<option value="EUR" selected>EUR · Euro</option>' in html
    assert '<option value="JPY">JPY · Yen</option>' in html
    assert '<optgroup label="America">' in html
    assert re.search(r'<option value="Europe/Berlin" selected>Europe/Berlin \(UTC\+01:00\)</option>', html)
    assert "nothing is converted" in html


def test_saving_analytics_settings_redirects_with_a_flash_and_changes_the_api_view(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    response = post_form(
        admin_pages,
        "/admin/settings/analytics",
        {"base_currency": "usd", "timezone": "America/New_York"},
    )
    assert (response.status_code, response.headers["location"]) == (303, "/admin/settings/analytics")
    page = flash_after(admin_pages, response.headers["location"])
    assert "Outcomes recorded from now on take USD as their base currency." in page
    assert "Reports are now cut into days of America/New_York" in page
    assert '<option value="America/New_York" selected>' in page
    api = admin_pages.get("/api/v1/settings/analytics", headers=team.admin.headers).json()
    assert api == {"base_currency": "USD", "timezone": "America/New_York"}


def test_an_unknown_currency_and_zone_are_told_inline_and_nothing_is_saved(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    response = post_form(
        admin_pages, "/admin/settings/analytics", {"base_currency": "XYZ", "timezone": "Mars/Olympus"}
    )
    assert response.status_code == 422
    assert re.search(r'id="base_currency-error">.*not an ISO 4217 currency code', response.text)
    assert re.search(r'id="timezone-error">.*not an IANA time zone', response.text)
    assert 'aria-invalid="true"' in response.text
    assert workspace_settings(db, team.admin.workspace.id) == ("EUR", "Europe/Berlin")


# Settings → Users -----------------------------------------------------------------------------------


def test_the_users_page_lists_users_and_describes_every_role(admin_pages: TestClient, team: Team) -> None:
    html = admin_pages.get("/admin/settings/users").text
    assert team.admin.user.email in html
    assert team.designer.user.email in html
    assert team.stranger.user.email not in html
    assert "2026-11-02" in html  # added on the clock's day, in the workspace's zone
    for role in Role:
        assert f'<span class="badge primary">{role.value}</span>' in html
    assert "use the Event Explorer <code>comerix.insights.telemetry</code>" in html


def test_an_added_user_can_sign_in_with_the_initial_password(
    admin_pages: TestClient, second_browser: TestClient, team: Team
) -> None:
    response = post_form(
        admin_pages,
        "/admin/settings/users",
        {"email": "Ann@Shop.example", "role": "analyst", "password": "a long secret"},
    )
    assert (response.status_code, response.headers["location"]) == (303, "/admin/settings/users")
    assert "Added ann@shop.example as analyst." in flash_after(admin_pages, "/admin/settings/users")
    assert sign_in(second_browser, "ann@shop.example", "a long secret").status_code == 303
    assert "ann@shop.example" in second_browser.get("/admin/account").text


def test_a_taken_email_and_a_short_password_are_told_inline(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    users_before = count(db, User)
    taken = post_form(
        admin_pages,
        "/admin/settings/users",
        {"email": team.designer.user.email.upper(), "role": "viewer", "password": "a long secret"},
    )
    assert taken.status_code == 422
    assert 'id="email-error">is already taken in this workspace' in taken.text
    assert f'value="{team.designer.user.email.upper()}"' in taken.text  # the form keeps what was typed
    assert "a long secret" not in taken.text  # but never the password

    short = post_form(
        admin_pages,
        "/admin/settings/users",
        {"email": "bob@shop.example", "role": "viewer", "password": "short"},
    )
    assert short.status_code == 422
    assert re.search(r'id="password-error">.*at least 8 characters', short.text)
    assert count(db, User) == users_before


def test_a_new_role_applies_at_the_users_next_request(
    admin_pages: TestClient, second_browser: TestClient, team: Team, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        other_admin = make_member(session, clock.now(), workspace=team.admin.workspace)
    sign_in(second_browser, other_admin.user.email)
    assert second_browser.get("/admin/settings/users").status_code == 200

    response = post_form(
        admin_pages,
        f"/admin/settings/users/{other_admin.user.id}/role",
        {"role": "viewer"},
        page="/admin/settings/users",
    )
    assert response.status_code == 303
    assert f"{other_admin.user.email} is now viewer." in flash_after(admin_pages, "/admin/settings/users")
    refused = second_browser.get("/admin/settings/users")
    assert refused.status_code == 403  # same session, new permissions
    assert second_browser.get("/admin/account").status_code == 200  # still signed in
    assert admin_pages.get("/api/v1/goals", headers=other_admin.headers).status_code == 403


def test_an_admin_cannot_change_their_own_role(admin_pages: TestClient, team: Team, db: Database) -> None:
    page = admin_pages.get("/admin/settings/users").text
    assert f'action="/admin/settings/users/{team.admin.user.id}/role"' not in page
    assert "Another admin must change your role" in page

    forced = post_form(
        admin_pages,
        f"/admin/settings/users/{team.admin.user.id}/role",
        {"role": "viewer"},
        page="/admin/settings/users",
    )
    assert forced.status_code == 422
    assert "You cannot change your own role: another admin must do it" in forced.text
    row = user_row(db, team.admin.user.id)
    assert row is not None
    assert row.role is Role.ADMIN


def test_an_unknown_role_is_told_on_its_row(admin_pages: TestClient, team: Team, db: Database) -> None:
    response = post_form(
        admin_pages,
        f"/admin/settings/users/{team.designer.user.id}/role",
        {"role": "owner"},
        page="/admin/settings/users",
    )
    assert response.status_code == 422
    assert f'id="error-{team.designer.user.id}" role="alert">' in response.text
    row = user_row(db, team.designer.user.id)
    assert row is not None
    assert row.role is Role.DESIGNER


def test_removing_a_user_asks_first_then_ends_their_sessions_and_tokens(
    admin_pages: TestClient, second_browser: TestClient, team: Team, db: Database
) -> None:
    sign_in(second_browser, team.designer.user.email)
    path = f"/admin/settings/users/{team.designer.user.id}/remove"
    confirm = admin_pages.get(path)
    assert f"Remove {team.designer.user.email}?" in confirm.text
    assert "(1 active)" in confirm.text
    assert user_row(db, team.designer.user.id) is not None  # asking changes nothing

    response = post_form(admin_pages, path, {})
    assert (response.status_code, response.headers["location"]) == (303, "/admin/settings/users")
    listing = flash_after(admin_pages, "/admin/settings/users")
    assert f"Removed {team.designer.user.email}; their sessions and tokens ended." in listing
    assert user_row(db, team.designer.user.id) is None
    assert second_browser.get("/admin/account", follow_redirects=False).status_code == 303  # to sign-in
    assert admin_pages.get("/api/v1/goals", headers=team.designer.headers).status_code == 401


def test_an_admin_cannot_remove_themselves(admin_pages: TestClient, team: Team, db: Database) -> None:
    path = f"/admin/settings/users/{team.admin.user.id}/remove"
    confirm = admin_pages.get(path).text
    assert "You cannot remove yourself" in confirm
    assert f'action="{path}"' not in confirm

    forced = post_form(admin_pages, path, {}, page="/admin/settings/users")
    assert forced.status_code == 422
    assert "You cannot remove yourself" in forced.text
    assert user_row(db, team.admin.user.id) is not None


def test_another_workspaces_user_is_a_404_and_untouched(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    stranger = team.stranger.user.id
    assert admin_pages.get(f"/admin/settings/users/{stranger}/remove").status_code == 404
    for path, data in (
        (f"/admin/settings/users/{stranger}/role", {"role": "viewer"}),
        (f"/admin/settings/users/{stranger}/remove", {}),
    ):
        response = post_form(admin_pages, path, data, page="/admin/settings/users")
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
    row = user_row(db, stranger)
    assert row is not None
    assert row.role is Role.ADMIN


# Settings → API keys & tokens -----------------------------------------------------------------------


def test_a_new_engine_key_is_shown_once_and_works(admin_pages: TestClient, team: Team, db: Database) -> None:
    response = post_form(admin_pages, "/admin/settings/keys", {"name": "Chat widget", "kind": "secret"})
    assert response.status_code == 200
    assert "Copy it now: it will not be shown again." in response.text
    key = shown_secret(response.text, "cx_sec_")
    assert "set-cookie" not in response.headers or key not in response.headers["set-cookie"]

    sent = admin_pages.post(
        "/conversions", json={"event": "purchase"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert sent.status_code == 202, sent.text
    listing = admin_pages.get("/admin/settings/keys").text
    assert key not in listing
    assert f"cx_sec_…{key[-4:]}" in listing
    assert "Chat widget" in listing


def test_a_key_of_no_known_kind_is_told_inline(admin_pages: TestClient, db: Database) -> None:
    before = count(db, EngineKey)
    response = post_form(admin_pages, "/admin/settings/keys", {"name": "x", "kind": "private"})
    assert response.status_code == 422
    assert re.search(r'id="kind-error">.*public.*secret', response.text)
    assert count(db, EngineKey) == before


def test_a_revoked_engine_key_is_refused_at_once(admin_pages: TestClient, team: Team, db: Database) -> None:
    headers = {"Authorization": f"Bearer {team.public_key}"}
    assert admin_pages.post("/events", json=EVENT, headers=headers).status_code == 202  # now remembered
    path = f"/admin/settings/keys/{key_id_of(db, team.admin.workspace.id)}/revoke"
    assert "The Engine API refuses it at once" in admin_pages.get(path).text

    response = post_form(admin_pages, path, {})
    assert (response.status_code, response.headers["location"]) == (303, "/admin/settings/keys")
    assert "Revoked the public key" in flash_after(admin_pages, "/admin/settings/keys")
    assert admin_pages.post("/events", json=EVENT, headers=headers).status_code == 401
    # The clock reads 2026-11-02 09:30 UTC: 10:30 in the workspace's Berlin.
    assert "It was already revoked on 2026-11-02 10:30 CET." in admin_pages.get(path).text


def test_another_workspaces_key_is_a_404_and_untouched(
    admin_pages: TestClient, team: Team, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        make_engine_key(session, team.stranger.workspace, clock.now())
    key_id = key_id_of(db, team.stranger.workspace.id)
    path = f"/admin/settings/keys/{key_id}/revoke"
    assert admin_pages.get(path).status_code == 404
    assert post_form(admin_pages, path, {}, page="/admin/settings/keys").status_code == 404
    with db.sessions() as session:
        assert session.scalar(select(EngineKey.revoked_at).where(EngineKey.id == key_id)) is None


def test_the_workspaces_tokens_are_listed_and_a_revoked_one_opens_nothing(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    listing = admin_pages.get("/admin/settings/keys").text
    assert team.designer.user.email in listing
    assert f"cx_pat_…{team.designer.token[-4:]}" in listing
    assert team.stranger.user.email not in listing
    assert admin_pages.get("/api/v1/goals", headers=team.designer.headers).status_code == 200

    path = f"/admin/settings/tokens/{token_id_of(db, team.designer)}/revoke"
    assert team.designer.user.email in admin_pages.get(path).text
    response = post_form(admin_pages, path, {}, page=path)
    assert response.headers["location"] == "/admin/settings/keys"
    assert "Revoked the token" in flash_after(admin_pages, "/admin/settings/keys")
    assert admin_pages.get("/api/v1/goals", headers=team.designer.headers).status_code == 401
    assert admin_pages.get("/api/v1/goals", headers=team.admin.headers).status_code == 200

    stranger_token = token_id_of(db, team.stranger)
    assert (
        post_form(admin_pages, f"/admin/settings/tokens/{stranger_token}/revoke", {}, page=path).status_code
        == 404
    )
    assert admin_pages.get("/api/v1/goals", headers=team.stranger.headers).status_code == 200


def test_keys_and_tokens_say_when_they_were_last_used(
    admin_pages: TestClient, second_browser: TestClient, team: Team
) -> None:
    """Each use is noted and written within a minute (`auth.usage`); the test writes them at once."""

    def last_used(listing: str, name: str) -> str:
        row = re.search(rf"<tr>(?:(?!</tr>).)*{re.escape(name)}(?:(?!</tr>).)*</tr>", listing, re.S)
        assert row is not None, name
        cell = re.search(r'<td class="last-used">(.*?)</td>', row.group(0), re.S)
        assert cell is not None
        return re.sub(r"<[^>]+>", "", cell.group(1)).strip()

    public_key, designer_token = f"cx_pub_…{team.public_key[-4:]}", f"cx_pat_…{team.designer.token[-4:]}"
    listing = admin_pages.get("/admin/settings/keys").text
    assert last_used(listing, public_key) == last_used(listing, designer_token) == "never"

    assert (
        admin_pages.post(
            "/events", json=EVENT, headers={"Authorization": f"Bearer {team.public_key}"}
        ).status_code
        == 202
    )
    assert admin_pages.get("/api/v1/goals", headers=team.designer.headers).status_code == 200
    assert admin_pages.get("/api/v1/goals", headers=team.stranger.headers).status_code == 200
    assert admin_pages.app.state.credential_uses.flush() == 3  # type: ignore[attr-defined]

    listing = admin_pages.get("/admin/settings/keys").text
    # The clock reads 2026-11-02 09:30 UTC: 10:30 in the workspace's Berlin.
    assert last_used(listing, public_key) == last_used(listing, designer_token) == "2026-11-02 10:30 CET"
    assert last_used(listing, f"cx_pat_…{team.admin.token[-4:]}") == "never"
    sign_in(second_browser, team.designer.user.email)
    assert last_used(second_browser.get("/admin/account").text, designer_token) == "2026-11-02 10:30 CET"


# Account → tokens -----------------------------------------------------------------------------------


def test_a_user_creates_a_token_shown_once_and_revokes_it(
    pages: TestClient, team: Team, db: Database
) -> None:
    sign_in(pages, team.designer.user.email)
    account = pages.get("/admin/account").text
    assert "Authorization: Bearer &lt;token&gt;" in account
    assert "?apikey=&lt;token&gt;" in account
    assert f"cx_pat_…{team.designer.token[-4:]}" in account
    assert f"cx_pat_…{team.admin.token[-4:]}" not in account  # only their own

    created = post_form(pages, "/admin/account/tokens", {"name": "Power BI"}, page="/admin/account")
    assert created.status_code == 200
    assert "Copy it now: it will not be shown again." in created.text
    token = shown_secret(created.text, "cx_pat_")
    headers = {"Authorization": f"Bearer {token}"}
    assert pages.get("/api/v1/goals", headers=headers).status_code == 200
    assert token not in pages.get("/admin/account").text

    with db.sessions() as session:
        token_id = session.scalar(
            select(PersonalAccessToken.id).where(PersonalAccessToken.name == "Power BI")
        )
    path = f"/admin/account/tokens/{token_id}/revoke"
    assert "Revoke your token “Power BI”" in pages.get(path).text
    revoked = post_form(pages, path, {})
    assert revoked.headers["location"] == "/admin/account"
    assert "Revoked your token “Power BI”" in flash_after(pages, "/admin/account")
    assert pages.get("/api/v1/goals", headers=headers).status_code == 401
    assert pages.get("/api/v1/goals", headers=team.designer.headers).status_code == 200


def test_the_account_page_revokes_only_your_own_tokens(pages: TestClient, team: Team, db: Database) -> None:
    sign_in(pages, team.designer.user.email)
    path = f"/admin/account/tokens/{token_id_of(db, team.admin)}/revoke"
    assert pages.get(path).status_code == 404
    assert post_form(pages, path, {}, page="/admin/account").status_code == 404
    assert pages.get("/api/v1/goals", headers=team.admin.headers).status_code == 200


def test_a_token_name_too_long_is_told_inline(pages: TestClient, team: Team, db: Database) -> None:
    sign_in(pages, team.designer.user.email)
    before = count(db, PersonalAccessToken)
    response = post_form(pages, "/admin/account/tokens", {"name": "x" * 121}, page="/admin/account")
    assert response.status_code == 422
    assert re.search(r'id="name-error">.*at most 120 characters', response.text)
    assert count(db, PersonalAccessToken) == before


# CSRF and permissions -------------------------------------------------------------------------------


def test_every_form_refuses_a_post_without_the_csrf_token_and_changes_nothing(
    admin_pages: TestClient, team: Team, db: Database
) -> None:
    designer = team.designer.user.id
    posts = [
        ("/admin/settings/analytics", {"base_currency": "USD", "timezone": "UTC"}),
        (
            "/admin/settings/users",
            {"email": "eve@shop.example", "role": "admin", "password": "a long secret"},
        ),
        (f"/admin/settings/users/{designer}/role", {"role": "admin"}),
        (f"/admin/settings/users/{designer}/remove", {}),
        ("/admin/settings/keys", {"name": "x", "kind": "secret"}),
        (f"/admin/settings/keys/{key_id_of(db, team.admin.workspace.id)}/revoke", {}),
        (f"/admin/settings/tokens/{token_id_of(db, team.designer)}/revoke", {}),
        ("/admin/account/tokens", {"name": "x"}),
        (f"/admin/account/tokens/{token_id_of(db, team.admin)}/revoke", {}),
    ]
    counts = [count(db, model) for model in (User, EngineKey, PersonalAccessToken)]
    for path, data in posts:
        for token in (None, "not-the-token"):
            body = data | ({"csrf_token": token} if token else {})
            response = admin_pages.post(path, data=body, follow_redirects=False)
            assert response.status_code == 403, path
            assert "security token" in response.text
    assert [count(db, model) for model in (User, EngineKey, PersonalAccessToken)] == counts
    assert workspace_settings(db, team.admin.workspace.id) == ("EUR", "Europe/Berlin")
    row = user_row(db, designer)
    assert row is not None
    assert row.role is Role.DESIGNER
    with db.sessions() as session:
        assert session.scalars(select(EngineKey.revoked_at)).all() == [None]
        assert set(session.scalars(select(PersonalAccessToken.revoked_at))) == {None}


@pytest.mark.parametrize(
    "path", ["/admin/settings/analytics", "/admin/settings/users", "/admin/settings/keys"]
)
def test_a_designer_gets_the_403_page_on_settings(
    pages: TestClient, team: Team, db: Database, path: str
) -> None:
    sign_in(pages, team.designer.user.email)
    response = pages.get(path)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "comerix.settings.manage" in response.text

    csrf = csrf_of(pages.get("/admin/account").text)  # a valid token of the designer's session
    keys_before = count(db, EngineKey)
    refused = pages.post(
        path, data={"csrf_token": csrf, "name": "x", "kind": "secret"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert count(db, EngineKey) == keys_before
