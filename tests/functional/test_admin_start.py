"""Get started over HTTP, on each backend: a public key created once (CSRF-checked, admins only), the
first event seen by the page's poll, and who may open it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import make_member
from tests.pages import post_form, sign_in

START = "/admin/start"


def test_a_public_key_is_created_and_the_first_event_is_seen(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
    sign_in(pages, admin.user.email)
    assert pages.get(f"{START}/first-event").json() == {"event": None}
    assert pages.post(f"{START}/key", data={}, follow_redirects=False).status_code == 403  # no form token

    created = post_form(pages, f"{START}/key", {}, page=START)
    assert created.status_code == 200
    key = re.search(r'id="new-secret-value" class="secret-value" type="text" value="([^"]+)"', created.text)
    assert key is not None
    assert key.group(1).startswith("cx_pub_")
    assert f"Authorization: Bearer {key.group(1)}" in created.text
    assert "Create a public key" not in created.text  # one is enough

    sent = pages.post("/events", json={"name": "hello"}, headers={"Authorization": f"Bearer {key.group(1)}"})
    assert sent.status_code == 202
    seen = pages.get(f"{START}/first-event").json()["event"]
    assert seen["name"] == "hello"
    assert seen["goal_path"].startswith("/admin/insights/goals/new?from_event=")


def test_an_analyst_watches_but_cannot_create_keys_and_a_viewer_cannot_open_it(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        analyst = make_member(session, clock.now(), role=Role.ANALYST)
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=analyst.workspace)
    sign_in(pages, analyst.user.email)
    page = pages.get(START).text
    assert "Creating keys needs an admin of this workspace" in page
    assert post_form(pages, f"{START}/key", {}, page=START).status_code == 403
    assert pages.get(f"{START}/first-event").json() == {"event": None}
    pages.cookies.clear()
    sign_in(pages, viewer.user.email)
    assert pages.get(START).status_code == 403
