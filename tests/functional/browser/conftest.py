"""Fixtures of the browser tests: the real service on a local port, and Debian's Chromium driven by
Playwright.

The service runs in a thread (uvicorn), on a SQLite database holding the demo workspace (a fifth of its
usual traffic, for speed; `COMERIX_TEST_DEMO_SCALE` changes it), with a clock fixed at `START` so the
demo's 90 days end there. Each test gets a fresh browser context, signed in as the demo user of the
role it asks for. Every console error or
uncaught exception of a page fails the test. `screenshot(page, name)` saves a picture of the page under
`test-artifacts/screenshots/` (not committed); `make screenshots` runs these tests on the full demo with
`COMERIX_SCREENSHOTS_DIR=docs/screenshots` to refresh the README's pictures.

Without /usr/bin/chromium the tests are skipped and the report says so, unless
`COMERIX_TEST_REQUIRE_BROWSER=1` (as in CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)

from comerix import demo
from comerix.app import create_app
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.db.migrate import upgrade
from comerix.settings import Settings
from tests.conftest import START

CHROMIUM = Path(os.environ.get("COMERIX_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("COMERIX_TEST_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
SCREENSHOTS = os.environ.get("COMERIX_SCREENSHOTS_DIR")
DEMO_SCALE = float(os.environ.get("COMERIX_TEST_DEMO_SCALE", "0.2"))
DEMO_PASSWORD = demo.DEMO_PASSWORD
# Without these, Chromium keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: they are the slowest, so a broken service fails the quicker tests first.
    (Under pytest-xdist a worker may still meet them early; `tests.aio.run` copes with the event loop
    Playwright leaves on the main thread.)"""
    here = Path(__file__).parent
    in_browser = [item for item in items if here in item.path.parents]
    items[:] = [item for item in items if here not in item.path.parents] + in_browser
    if CHROMIUM.exists() or REQUIRE_BROWSER:
        return  # when required and missing, launching the browser fails the tests
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found (apt-get install chromium)")
    for item in in_browser:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def service_url(live_service: tuple[str, Database]) -> str:
    """The base URL of the real service, serving the demo workspace."""
    return live_service[0]


@pytest.fixture(scope="session")
def live_database(live_service: tuple[str, Database]) -> Database:
    """The database the real service serves (to add what a test needs, such as a new workspace)."""
    return live_service[1]


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """The real service on the demo workspace: its base URL and its database."""
    data_dir = tmp_path_factory.mktemp("browser")
    settings = Settings(data_dir=data_dir)
    database = Database(settings.database)
    upgrade(database.engine)
    with database.transaction() as session:
        login = demo.create(session, now=START)
    demo.load_traffic(database, login.workspace_id, START, scale=DEMO_SCALE)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings, clock=FixedClock(START), database=database)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the service did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", database
    server.should_exit = True
    thread.join(timeout=10)
    database.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, service_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=service_url, viewport={"width": 1400, "height": 900})
    yield context
    context.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def anonymous_page(context: BrowserContext, page_errors: list[str]) -> Iterator[Page]:
    """A page of a browser nobody signed in on. Console errors and page exceptions fail the test."""
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # A page's own status (a 403 page, say) is the test's to check; assets are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page_errors.append(f"console: {message.text} ({page.url})")

    def on_response(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            page_errors.append(f"{response.status} for {response.url} ({page.url})")

    def on_request_failed(request: Request) -> None:
        # An asset that never arrived (the connection dropped, say) has no response to check above; one
        # the browser dropped itself (ERR_ABORTED: the test moved on to another page) is no fault.
        if request.resource_type != "document" and request.failure != "net::ERR_ABORTED":
            page_errors.append(f"{request.failure} for {request.url} ({page.url})")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    page.on("pageerror", lambda error: page_errors.append(f"exception: {error} ({page.url})"))
    yield page
    assert page_errors == [], "the pages reported errors"


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form with the keyboard, as a person would."""
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(lambda url: "/admin/login" not in url)


@pytest.fixture
def signed_in_as(anonymous_page: Page) -> Callable[[str], Page]:
    """Sign the test's page in as a demo user of a role: `signed_in_as("designer")`."""

    def sign_in_as(role: str) -> Page:
        email = demo.DEMO_EMAIL if role == "admin" else f"{role}@demo-shop.example"
        sign_in(anonymous_page, email)
        return anonymous_page

    return sign_in_as


@pytest.fixture
def admin_page(signed_in_as: Callable[[str], Page]) -> Page:
    return signed_in_as("admin")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page picture as a test artifact; returns its path. With `COMERIX_SCREENSHOTS_DIR`
    (`make screenshots`), the picture of the window is taken again into that folder if it holds one of
    that name already: the README's pictures are refreshed, and no other lands beside them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS and (shown := Path(SCREENSHOTS) / f"{name}.png").exists():
        page.screenshot(path=str(shown), full_page=False)
    return path


def profile_url(contact_id: str) -> re.Pattern[str]:
    """The address of a contact's profile page, for `expect(page).to_have_url(...)`."""
    return re.compile(rf"/admin/contacts/profile\?contact_id={re.escape(quote(contact_id, safe=''))}$")
