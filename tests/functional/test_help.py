"""The user documentation at /help: the site `make docs` builds is served as files, offline; a service
without it says how to build it; every admin page links to it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from comerix import help as help_site
from tests.factories import make_member
from tests.pages import sign_in

ROOT = Path(__file__).parents[2]
PAGES = ("index", "concepts", "goals", "engine-api", "analytics-hub", "odata", "admin-pages", "operations")


def serving(site: Path) -> TestClient:
    app = FastAPI()
    help_site.install(app, site)
    return TestClient(app)


def test_a_built_site_is_served_as_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>Docs</h1>")
    (tmp_path / "goals.html").write_text("<h1>Goals</h1>")
    client = serving(tmp_path)
    assert client.get("/help/").text == "<h1>Docs</h1>"
    assert client.get("/help/goals.html").text == "<h1>Goals</h1>"
    assert client.get("/help/nothing.html").status_code == 404


def test_a_service_without_the_site_says_how_to_build_it(tmp_path: Path) -> None:
    client = serving(tmp_path / "missing")
    for path in ("/help", "/help/", "/help/goals.html"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "make docs" in answer.text


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation built from docs/help as `make docs` builds it (strict: a broken link fails)."""
    site = tmp_path_factory.mktemp("help") / "site"
    mkdocs = Path(sys.executable).parent / "mkdocs"
    command = [str(mkdocs), "build", "--quiet", "--site-dir", str(site)]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - the project's own docs build
    return site


def test_every_page_of_the_documentation_is_served_and_loads_nothing_from_the_internet(built: Path) -> None:
    client = serving(built)
    for name in PAGES:
        answer = client.get(f"/help/{name}.html")
        assert answer.status_code == 200, name
        loaded = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', answer.text)
        assert loaded, name
        assert not [url for url in loaded if re.match(r"(https?:)?//", url)], name
        assert client.get(f"/help/{loaded[0]}").status_code == 200, loaded[0]  # its assets are local


def test_every_admin_page_links_to_the_help(pages: TestClient) -> None:

    database = pages.app.state.database  # type: ignore[attr-defined]
    with database.transaction() as session:
        member = make_member(session, pages.app.state.clock.now())  # type: ignore[attr-defined]
    sign_in(pages, member.user.email)
    assert '<a href="/help/" class="help-link">Help</a>' in pages.get("/admin/account").text
