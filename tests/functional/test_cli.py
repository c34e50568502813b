"""The `comerix` command, on each backend: set-up by script, `--json` answers, errors, and `serve`."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from comerix.cli import app
from comerix.db import Database
from comerix.demo import DEMO_EMAIL, DEMO_PASSWORD
from comerix.rates.models import ReferenceRate


@pytest.fixture
def comerix(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `comerix ARGS --json` against the test database; returns (exit code, parsed output)."""
    monkeypatch.setenv("COMERIX_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COMERIX_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
        result = runner.invoke(app, [*args, "--json"], input=stdin)
        return result.exit_code, json.loads(result.stdout)

    return run


def test_a_workspace_user_token_and_keys_by_script(comerix: Any, client: TestClient) -> None:
    code, workspace = comerix(
        "workspaces", "create", "--name", "Acme", "--base-currency", "usd", "--timezone", "America/Chicago"
    )
    assert code == 0
    code, user = comerix(
        "users",
        "create",
        "--workspace",
        workspace["id"],
        "--email",
        "ann@acme.example",
        "--role",
        "designer",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert code == 0
    assert set(user) == {"id"}
    code, token = comerix("tokens", "create", "--workspace", "Acme", "--email", "ann@acme.example")
    assert code == 0
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/api/v1/goals", headers=headers).json() == {"goals": []}
    assert client.get("/api/v1/settings/analytics", headers=headers).status_code == 403  # a designer
    for kind in ("public", "secret"):
        code, key = comerix("keys", "create", "--workspace", workspace["id"], "--kind", kind)
        assert code == 0
        assert key["key"].startswith(f"cx_{kind[:3]}_")
    code, listed = comerix("workspaces", "list")
    assert [w["name"] for w in listed["workspaces"]] == ["Acme"]
    assert listed["workspaces"][0]["base_currency"] == "USD"


def test_bad_input_is_an_error_naming_the_field(comerix: Any) -> None:
    code, answer = comerix(
        "workspaces", "create", "--name", "Acme", "--base-currency", "EURO", "--timezone", "Berlin"
    )
    assert code == 1
    assert {d["field"] for d in answer["error"]["details"]} == {"base_currency", "timezone"}
    code, answer = comerix("workspaces", "list")
    assert answer == {"workspaces": []}


def test_unknown_workspace_and_user_are_errors(comerix: Any) -> None:
    code, answer = comerix("tokens", "create", "--workspace", "Nowhere", "--email", "x@y.example")
    assert (code, answer["error"]["code"]) == (1, "workspace_not_found")
    comerix("workspaces", "create", "--name", "Acme", "--base-currency", "EUR")
    code, answer = comerix("tokens", "create", "--workspace", "Acme", "--email", "x@y.example")
    assert (code, answer["error"]["code"]) == (1, "user_not_found")


def test_short_passwords_and_taken_emails_are_refused(comerix: Any) -> None:
    _, workspace = comerix("workspaces", "create", "--name", "Acme", "--base-currency", "EUR")
    args = (
        "users",
        "create",
        "--workspace",
        workspace["id"],
        "--email",
        "a@acme.example",
        "--role",
        "admin",
        "--password-stdin",
    )
    code, answer = comerix(*args, stdin="short\n")
    assert (code, answer["error"]["details"][0]["field"]) == (1, "password")
    assert comerix(*args, stdin="long enough\n")[0] == 0
    code, answer = comerix(*args, stdin="long enough\n")
    assert (code, answer["error"]["code"]) == (1, "user_email_taken")


def test_the_demo_is_created_once_and_signs_in(comerix: Any, client: TestClient) -> None:
    code, first = comerix("demo", "--if-empty", "--scale", "0.05")
    assert code == 0
    assert first["events"] > 1000
    assert first["outcomes"] > 10
    assert (first["created"], first["email"], first["password"]) == (True, DEMO_EMAIL, DEMO_PASSWORD)
    goals = client.get("/api/v1/goals", headers={"Authorization": f"Bearer {first['token']}"}).json()["goals"]
    assert {goal["kind"] for goal in goals} == {"conversion", "engagement", "custom"}
    assert {goal["value_mode"] for goal in goals} == {"none", "fixed", "from_property"}
    code, again = comerix("demo", "--if-empty", "--scale", "0.05")
    assert (code, again["created"]) == (0, False)


def test_a_bad_configuration_stops_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMERIX_DATABASE_URL", "mysql://u@h/db")
    result = CliRunner().invoke(app, ["migrate", "--json"])
    assert result.exit_code == 2
    assert "COMERIX_DATABASE_URL" in json.loads(result.stdout)["error"]["message"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_a_new_database_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMERIX_")} | {
        "COMERIX_DATA_DIR": str(tmp_path)
    }
    server = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "comerix", "serve", "--port", str(port), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert json.loads(server.stdout.readline())["url"] == f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    assert json.load(response) == {"status": "ok"}
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (tmp_path / "comerix.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_rates_import_keeps_the_ecb_quotes_the_service_lacks(
    comerix: Any, db: Database, tmp_path: Path
) -> None:
    """The ECB's daily file of 4 December 2026, after the shipped history: its quotes are stored once;
    the shipped history itself adds nothing; a file that is not the ECB's is refused, naming it."""
    daily = tmp_path / "eurofxref.csv"
    daily.write_text("Date, USD, JPY, GBP, CHF, \n04 December 2026, 1.1642, 180.12, 0.8391, 0.9312, \n")
    code, answer = comerix("rates", "import", str(daily))
    assert (code, answer) == (
        0,
        {"quotes": 4, "stored": 4, "first_day": "2026-12-04", "last_day": "2026-12-04"},
    )
    assert comerix("rates", "import", str(daily))[1]["stored"] == 0
    with db.sessions() as session:
        stored = dict(session.execute(select(ReferenceRate.currency, ReferenceRate.per_euro)).all())
    assert stored == {
        "USD": Decimal("1.1642"),
        "JPY": Decimal("180.12"),
        "GBP": Decimal("0.8391"),
        "CHF": Decimal("0.9312"),
    }
    (tmp_path / "notes.csv").write_text("hello\n")
    code, answer = comerix("rates", "import", str(tmp_path / "notes.csv"))
    assert code == 1
    assert answer["error"]["code"] == "invalid_rates_file"
    assert answer["error"]["details"][0]["field"] == "file"


@pytest.fixture
def ecb_site(tmp_path: Path) -> Iterator[str]:
    """A web server standing in for the ECB's: it serves `site/` (the daily zip, as the ECB names it)."""
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "eurofxref.zip", "w") as archive:
        archive.writestr("eurofxref.csv", "Date, USD, GBP, \n04 December 2026, 1.1642, 0.8391, \n")
    handler = functools.partial(QuietHandler, directory=str(site))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_rates_update_fetches_the_daily_file_from_the_configured_address(
    comerix: Any, db: Database, ecb_site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMERIX_ECB_RATES_URL", f"{ecb_site}/eurofxref.zip")
    assert comerix("rates", "update") == (
        0,
        {"quotes": 2, "stored": 2, "first_day": "2026-12-04", "last_day": "2026-12-04"},
    )
    assert comerix("rates", "update", "--url", f"{ecb_site}/eurofxref.zip")[1]["stored"] == 0
    with db.sessions() as session:
        stored = dict(session.execute(select(ReferenceRate.currency, ReferenceRate.per_euro)).all())
    assert stored == {"USD": Decimal("1.1642"), "GBP": Decimal("0.8391")}


def test_rates_update_names_the_address_it_could_not_fetch(comerix: Any, ecb_site: str) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/eurofxref.zip"
    closed.close()
    for url, reason in (
        (nowhere, "refused"),
        (f"{ecb_site}/gone.zip", "404"),
        (f"{ecb_site}/", "not an ECB reference-rate file"),  # the server's folder listing
    ):
        code, answer = comerix("rates", "update", "--url", url)
        assert code == 1, url
        assert answer["error"]["code"] == "rates_unavailable"
        assert url in answer["error"]["message"]
        assert reason in answer["error"]["message"]
        assert answer["error"]["details"][0]["field"] == "url"
    code, answer = comerix("rates", "update", "--url", "ftp://mirror.example/eurofxref.zip")
    assert (code, answer["error"]["code"]) == (1, "rates_unavailable")


def test_rates_update_refuses_an_address_it_cannot_fetch_from(
    comerix: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMERIX_ECB_RATES_URL", "ftp://mirror.example/eurofxref.zip")
    code, answer = comerix("rates", "update")
    assert code == 2
    assert answer["error"]["code"] == "invalid_configuration"
    assert "COMERIX_ECB_RATES_URL" in answer["error"]["message"]


def test_rates_apply_names_its_workspace_and_date(comerix: Any) -> None:
    code, _ = comerix("workspaces", "create", "--name", "Acme", "--base-currency", "EUR")
    assert code == 0
    assert comerix("rates", "apply", "--workspace", "Acme") == (
        0,
        {"looked_at": 0, "converted": 0, "left": 0},
    )
    code, answer = comerix("rates", "apply", "--workspace", "Acme", "--from", "yesterday")
    assert (code, answer["error"]["details"]) == (1, [{"field": "from", "message": "must be YYYY-MM-DD"}])
    code, answer = comerix("rates", "apply", "--workspace", "Nowhere")
    assert code == 1
    assert answer["error"]["code"] == "workspace_not_found"
