"""Test fixtures shared by every layer.

Backends: tests that take `database` run once on SQLite and once on PostgreSQL. PostgreSQL is found at
`COMERIX_TEST_POSTGRES_URL` (default: the local server, database `test`); each test session works in a
database of its own that it creates there. When the server cannot be reached, the PostgreSQL runs are
skipped and the header of the test report says so, unless `COMERIX_TEST_REQUIRE_POSTGRES=1` (as in CI),
which turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from comerix.app import create_app
from comerix.auth import passwords
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.db.migrate import upgrade
from comerix.models import metadata
from comerix.settings import Settings

POSTGRES_URL = os.environ.get(
    "COMERIX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("COMERIX_TEST_REQUIRE_POSTGRES") == "1"
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = create_engine(make_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


_POSTGRES_PROBLEM = _postgres_problem()


def pytest_report_header() -> str:
    if _POSTGRES_PROBLEM is None:
        return f"postgresql: {make_url(POSTGRES_URL).render_as_string()} (tests run on SQLite and PostgreSQL)"
    return f"postgresql: NOT REACHABLE ({_POSTGRES_PROBLEM}); PostgreSQL tests are skipped, SQLite tests run"


def _postgres_database(name: str, *, create: bool) -> URL:
    """Drop the database `name` on the test server and, if asked, create it anew."""
    admin_url = make_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if create:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.set(database=name)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Argon2id with argon2-cffi's parameters for tests (`profiles.CHEAPEST`) in the test process.

    The suite makes and signs in users by the thousand, and at the service's own parameters each hash
    or check is deliberately slow: minutes of a run spent on key stretching that no test is about
    (docs/decisions.md, "Tests and CI"). The algorithm and the code paths stay the same; the service's
    parameters are held by `test_the_service_hashes_at_argon2_cffis_recommended_parameters`, and a
    `comerix serve` the tests start as a process of its own hashes at them."""
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_UNUSABLE_HASH", cheap.hash("comerix: no user has this password"))
        yield


@pytest.fixture(autouse=True)
def _no_comerix_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test, never from the shell that runs it."""
    for name in list(os.environ):
        if name.startswith("COMERIX_") and not name.startswith("COMERIX_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database of each backend, shared by the session; tables are emptied after each test."""
    # One database per test run (and xdist worker), so concurrent runs never disturb each other.
    name = f"comerix_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    if request.param == "sqlite":
        url = make_url(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'comerix.db'}")
    else:
        if _POSTGRES_PROBLEM is not None:
            if REQUIRE_POSTGRES:
                pytest.fail(
                    f"PostgreSQL is required (COMERIX_TEST_REQUIRE_POSTGRES=1) but: {_POSTGRES_PROBLEM}"
                )
            pytest.skip(f"PostgreSQL not reachable: {_POSTGRES_PROBLEM}")
        url = _postgres_database(name, create=True)
    db = Database(url)
    upgrade(db.engine)
    yield db
    db.dispose()
    if request.param == "postgresql":
        _postgres_database(name, create=False)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The backend's database, emptied after the test."""
    yield database
    with database.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session in one transaction, rolled back at the end; tests call services as a request would."""
    with db.sessions() as session, session.begin():
        yield session
        session.rollback()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def client(db: Database, settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The real app over HTTP, on the backend's database, with a fixed clock."""
    with TestClient(create_app(settings, clock=clock, database=db)) as test_client:
        yield test_client


@pytest.fixture
def pages(db: Database, settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The real app as a browser sees it (over https, so the Secure session cookie is kept)."""
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client
