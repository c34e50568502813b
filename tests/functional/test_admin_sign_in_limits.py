"""The sign-in throttle over HTTP, on each backend: kept in the database, so that a restarted service and
a second instance beside it count the same attempts; and the address it counts is the connection's
own unless the connection comes from a trusted proxy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from comerix.admin.throttle import LoginThrottle
from comerix.app import create_app
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.settings import Settings
from tests.factories import Member, make_member
from tests.pages import sign_in


@contextmanager
def instance(db: Database, clock: FixedClock, settings: Settings, **client: object) -> Iterator[TestClient]:
    """One instance of the service (a process, a node) on the shared database."""
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app, base_url="https://testserver", **client) as pages:  # type: ignore[arg-type]
        yield pages


def member(db: Database, clock: FixedClock) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now())


def test_the_throttle_survives_a_restart(db: Database, settings: Settings, clock: FixedClock) -> None:
    email = member(db, clock).user.email
    with instance(db, clock, settings) as before:
        for _ in range(5):
            assert sign_in(before, email, "wrong password").status_code == 401
    with instance(db, clock, settings) as after:
        assert sign_in(after, email).status_code == 429  # even the right password waits


def test_two_instances_count_the_same_attempts(db: Database, settings: Settings, clock: FixedClock) -> None:
    email = member(db, clock).user.email
    with instance(db, clock, settings) as one, instance(db, clock, settings) as two:
        for pages in (one, two, one, two, one):
            assert sign_in(pages, email, "wrong password").status_code == 401
        assert sign_in(two, email).status_code == 429


def sign_in_from(pages: TestClient, email: str, forwarded_for: str) -> int:
    form = pages.get("/admin/login")
    token = form.cookies["comerix_login_csrf"]
    response = pages.post(
        "/admin/login",
        data={"email": email, "password": "wrong", "csrf_token": token},
        headers={"X-Forwarded-For": forwarded_for},
        follow_redirects=False,
    )
    return response.status_code


def test_forwarded_addresses_count_only_from_trusted_proxies(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    """With the per-address limit at 3 (each sign-in verifies a password: slow on purpose)."""
    local = {"client": ("127.0.0.1", 50000)}
    with instance(db, clock, Settings(data_dir=tmp_path), **local) as untrusting:
        limit(untrusting, db, per_address=3)
        rotated = [sign_in_from(untrusting, f"a{n}@shop.example", f"203.0.113.{n}") for n in range(4)]
    assert rotated == [401] * 3 + [429]  # one address: the proxy's

    trusting = Settings(data_dir=tmp_path, trusted_proxies=("127.0.0.1",))
    with instance(db, clock, trusting, **local) as behind_proxy:
        limit(behind_proxy, db, per_address=3)
        rotated = [sign_in_from(behind_proxy, f"b{n}@shop.example", f"198.51.100.{n}") for n in range(4)]
        assert rotated == [401] * 4  # each client its own address
        same = [sign_in_from(behind_proxy, f"c{n}@shop.example", "192.0.2.1") for n in range(4)]
    assert same == [401] * 3 + [429]


def limit(pages: TestClient, db: Database, *, per_address: int) -> None:
    pages.app.state.login_throttle = LoginThrottle(db, per_address=per_address)  # type: ignore[attr-defined]
