"""`make fuzz`: Schemathesis, with every check, against the real service on a fresh SQLite database.

Steps: migrate a database in a temporary directory; create a workspace, an admin with a personal
access token, and a secret Engine key (through the services, as `comerix` itself would); start
`comerix serve` on a free local port; run `schemathesis run` over `/openapi.json`, which gives each
operation the credential its security scheme names (the token for the admin API and OData, the key for
`/events` and `/conversions`); stop the service. The exit status is Schemathesis': 0 when no check
failed (no server error, no answer outside the document).

Bounded: Schemathesis stops after `--max-time` seconds (default 150, so the whole run stays near three
minutes). `--seed` repeats a run. Anything after `--` goes to `schemathesis run` as it is.

One check is tuned, not skipped (`CONFIG` below): a request the schema calls valid may still break a
rule the schema does not say (a range whose `to` is before its `from`; a NUL character in a query
string, refused with a documented 400 before any route runs), or name what does not exist (a random
goal id: a documented 404) or is taken (a goal code: a documented 409), so `positive_data_acceptance`
also accepts those documented answers. Every other check, `response_schema_conformance` and
`not_a_server_error` included, runs as it is.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.db import Database
from comerix.db.migrate import upgrade
from comerix.settings import Settings
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import WorkspaceCreate

BIN = Path(sys.executable).parent
CONFIG = """\
[auth.openapi.personalAccessToken]
bearer = "{token}"

[auth.openapi.engineKey]
bearer = "{key}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422"]
"""


def credentials(data_dir: Path) -> tuple[str, str]:
    """A migrated database in `data_dir` holding one workspace: an admin's token and a secret key."""
    database = Database(Settings(data_dir=data_dir).database)
    upgrade(database.engine)
    now = datetime.now(UTC)
    with database.transaction() as session:
        workspace = workspaces.create(
            session, WorkspaceCreate(name="Fuzz", base_currency="EUR", timezone="Europe/Berlin"), now=now
        )
        user = auth.create_user(
            session,
            workspace.id,
            UserCreate(email="fuzz@shop.example", role=Role.ADMIN, password="correct horse battery"),
            now=now,
        )
        token = auth.create_token(session, user, TokenCreate(), now=now)
        key = auth.create_engine_key(
            session, workspace.id, EngineKeyCreate(kind=EngineKeyKind.SECRET), now=now
        )
    database.dispose()
    return token, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, service: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"fuzz: the service exited with {service.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310 (local URL)
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"fuzz: the service did not answer /healthz within {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=150, help="Schemathesis' budget, in seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("extra", nargs="*", help="after --: more options for `schemathesis run`")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="comerix-fuzz-") as temporary:
        here = Path(temporary)
        token, key = credentials(here)
        config = here / "schemathesis.toml"
        config.write_text(CONFIG.format(token=token, key=key))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("COMERIX_")}
        environment["COMERIX_DATA_DIR"] = str(here)
        log = (here / "service.log").open("wb")
        service = subprocess.Popen(  # noqa: S603 (our own venv's program)
            [str(BIN / "comerix"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(url, service)
            command = [
                sys.executable,
                str(Path(__file__).with_name("schemathesis_cli.py")),
                "--config-file",
                str(config),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--max-time",
                str(options.max_time),
                "--workers",
                "2",
                "--request-timeout",
                "10",
                *(["--seed", str(options.seed)] if options.seed is not None else []),
                *options.extra,
            ]
            say(" ".join(command).replace(token, "<token>").replace(key, "<key>"))
            status = subprocess.call(command, env=environment)  # noqa: S603 (our own venv's program)
        finally:
            service.terminate()
            try:
                service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.kill()
            log.close()
            logged = (here / "service.log").read_text(errors="replace")
        if "Traceback" in logged:
            # A server error Schemathesis did not see (the writer process, a streamed answer) fails too.
            say(
                f"the service logged {logged.count('Traceback')} tracebacks; its log ends:\n{logged[-20000:]}"
            )
            status = status or 1
    return status


def say(text: str) -> None:
    sys.stdout.write(f"fuzz: {text}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
