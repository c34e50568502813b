"""The `comerix` command: serve the service and script its set-up (SPEC §8).

Every command brings the database to the current schema first, and takes `--json` for scripts: the
result (or the error) is then one JSON object on standard output.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from currency_converter import CurrencyConverter
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix import demo as demo_data
from comerix.analytics import rate_repairs
from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.clock import SystemClock
from comerix.db import Database
from comerix.db.migrate import upgrade
from comerix.demo.traffic import traffic as demo_traffic
from comerix.errors import DomainError, error_body, validated
from comerix.rates import reference
from comerix.rates import service as rates
from comerix.runtime import tune_garbage_collector
from comerix.settings import Settings, SettingsError, load_settings
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace
from comerix.workspaces.schemas import WorkspaceCreate

app = typer.Typer(
    help="Comerix Insights: goals, conversions and analytics for AI chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
workspaces_app = typer.Typer(help="Create and list workspaces (tenants).", no_args_is_help=True)
users_app = typer.Typer(help="Create users of a workspace.", no_args_is_help=True)
tokens_app = typer.Typer(help="Create personal access tokens (admin API, OData).", no_args_is_help=True)
keys_app = typer.Typer(
    help="Create Engine API keys (public for the widget, secret for servers).", no_args_is_help=True
)
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
rates_app = typer.Typer(help="Exchange rates (the ECB's reference rates).", no_args_is_help=True)
app.add_typer(rates_app, name="rates")

console = Console(soft_wrap=True)  # never break a token or an id across lines
errors = Console(stderr=True, soft_wrap=True)
clock = SystemClock()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]
WorkspaceOption = Annotated[str, typer.Option("--workspace", help="Workspace id (or its exact name).")]


def _fail(
    json_output: bool,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    exit_code: int = 1,
) -> None:
    if json_output:
        sys.stdout.write(orjson.dumps(error_body(code, message, details)).decode() + "\n")
    else:
        fields = [detail for detail in details or [] if "field" in detail]
        errors.print(f"[bold red]error:[/] {'invalid input' if fields else message}", highlight=False)
        for detail in fields:
            errors.print(
                f"  --{str(detail['field']).replace('_', '-')}: {detail['message']}", highlight=False
            )
    raise typer.Exit(exit_code)


def _progress(quiet: bool) -> Progress:
    """A progress bar on standard error (counts done of all), silent for scripts."""
    return Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=errors, disable=quiet)


def _settings(json_output: bool) -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(json_output, "invalid_configuration", str(exc), exit_code=2)
        raise  # unreachable: _fail always raises


def _open_database(json_output: bool) -> Database:
    database = Database(_settings(json_output).database)
    upgrade(database.engine)
    return database


def _run(
    json_output: bool, action: Callable[[Session], dict[str, Any]], human: Callable[[dict[str, Any]], str]
) -> None:
    """Migrate, run `action` in one transaction, and print its result for people or for scripts."""
    database = _open_database(json_output)
    try:
        with database.transaction() as session:
            result = action(session)
    except DomainError as exc:
        _fail(json_output, exc.code, exc.message, exc.details)
    finally:
        database.dispose()
    _print(json_output, result, human)


@app.command()
def migrate(json_output: JsonFlag = False) -> None:
    """Bring the database to the current schema (every other command does this first, too)."""
    _open_database(json_output).dispose()
    if json_output:
        sys.stdout.write('{"migrated":true}\n')
    else:
        console.print("The database is at the current schema.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    json_output: JsonFlag = False,
) -> None:
    """Migrate the database if needed, then serve the web app, the admin API and the Engine API."""
    import uvicorn

    from comerix import server
    from comerix.app import create_app

    settings = _settings(json_output)
    database = _open_database(json_output)
    url = f"http://{host}:{port}"
    if json_output:
        sys.stdout.write(
            orjson.dumps({"url": url, "database": settings.database.render_as_string()}).decode() + "\n"
        )
    else:
        console.print(
            f"Comerix Insights on [bold]{url}[/]: sign in at [bold]{url}/admin/login[/]"
            f"  (API reference: {url}/docs)",
            highlight=False,
        )
    web_app = create_app(settings, database=database, writer_process=True)
    tune_garbage_collector()
    uvicorn.Server(server.config(web_app, settings, host=host, port=port)).run()


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the database has no workspace.")
    ] = False,
    scale: Annotated[float, typer.Option(help="Traffic volume: 1 is about 70 chats a weekday.", min=0)] = 1.0,
    json_output: JsonFlag = False,
) -> None:
    """Create the demo workspace with 90 days of chats, and print how to sign in."""
    database = _open_database(json_output)
    try:
        with database.transaction() as session:
            if if_empty and workspaces.any_exists(session):
                _print(
                    json_output,
                    {"created": False, "email": demo_data.DEMO_EMAIL, "password": demo_data.DEMO_PASSWORD},
                    _demo_human,
                )
                return
            now = clock.now()
            login = demo_data.create(session, now=now)
        totals = _load_demo_traffic(database, login.workspace_id, now, scale, quiet=json_output)
    finally:
        database.dispose()
    result = {
        "created": True,
        "workspace": str(login.workspace_id),
        "email": login.email,
        "password": login.password,
        "token": login.token,
        "public_key": login.public_key,
        "secret_key": login.secret_key,
        "events": totals.events,
        "outcomes": totals.outcomes,
    }
    _print(json_output, result, _demo_human)


def _load_demo_traffic(
    database: Database, workspace_id: Any, now: Any, scale: float, quiet: bool
) -> demo_data.IngestTotals:
    expected = sum(1 for _ in demo_traffic(now, scale=scale))
    with _progress(quiet) as bar:
        task = bar.add_task("Sending 90 days of demo chats", total=expected)
        return demo_data.load_traffic(
            database, workspace_id, now, scale=scale, progress=lambda count: bar.advance(task, count)
        )


def _demo_human(result: dict[str, Any]) -> str:
    lines = []
    if result["created"]:
        lines.append(f"Demo workspace created: {result['events']:,} events, {result['outcomes']:,} outcomes.")
    else:
        lines.append("The database already has data; the demo login still works if the demo is there.")
    lines.append(
        f"Demo login: [bold]{result['email']}[/] / [bold]{result['password']}[/] "
        "(also designer@, analyst@ and viewer@demo-shop.example, same password)"
    )
    if result.get("token"):
        lines.append(f"Admin API token (shown once): {result['token']}")
        lines.append(f"Engine API keys (shown once): public {result['public_key']}")
        lines.append(f"                              secret {result['secret_key']}")
    return "\n".join(lines)


def _print(json_output: bool, result: dict[str, Any], human: Callable[[dict[str, Any]], str]) -> None:
    if json_output:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        console.print(human(result), highlight=False)


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Option(help="Shown in the admin pages.")],
    base_currency: Annotated[str, typer.Option(help="ISO 4217 code every sale rolls up into.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone reports are cut in.")] = "UTC",
    json_output: JsonFlag = False,
) -> None:
    """Create a workspace; prints its id."""

    def action(session: Session) -> dict[str, Any]:
        data = validated(
            WorkspaceCreate, {"name": name, "base_currency": base_currency, "timezone": timezone}
        )
        return {"id": str(workspaces.create(session, data, now=clock.now()).id)}

    _run(json_output, action, lambda result: f"Workspace created: {result['id']}")


@workspaces_app.command("list")
def workspaces_list(json_output: JsonFlag = False) -> None:
    """List every workspace."""

    def action(session: Session) -> dict[str, Any]:
        rows = session.scalars(select(Workspace).order_by(Workspace.created_at))
        return {
            "workspaces": [
                {"id": str(w.id), "name": w.name, "base_currency": w.base_currency, "timezone": w.timezone}
                for w in rows
            ]
        }

    def human(result: dict[str, Any]) -> str:
        rows = [
            f"{w['id']}  {w['name']}  ({w['base_currency']}, {w['timezone']})" for w in result["workspaces"]
        ]
        return "\n".join(rows) or "No workspaces yet."

    _run(json_output, action, human)


@users_app.command("create")
def users_create(
    workspace: WorkspaceOption,
    email: Annotated[str, typer.Option(help="Sign-in email, unique in the workspace.")],
    role: Annotated[Role, typer.Option(help="admin, designer, analyst or viewer.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Create a user; the password comes from standard input, or is asked for."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    def action(session: Session) -> dict[str, Any]:
        target = workspaces.find(session, workspace)
        data = validated(UserCreate, {"email": email, "role": role, "password": password})
        return {"id": str(auth.create_user(session, target.id, data, now=clock.now()).id)}

    _run(json_output, action, lambda result: f"User created: {result['id']}")


@tokens_app.command("create")
def tokens_create(
    workspace: WorkspaceOption,
    email: Annotated[str, typer.Option(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "personal access token",
    json_output: JsonFlag = False,
) -> None:
    """Create a personal access token for a user; it is shown once."""

    def action(session: Session) -> dict[str, Any]:
        target = workspaces.find(session, workspace)
        user = auth.get_user_by_email(session, target.id, email)
        token = auth.create_token(session, user, validated(TokenCreate, {"name": name}), now=clock.now())
        return {"token": token}

    _run(json_output, action, lambda result: f"Token (shown once): {result['token']}")


@keys_app.command("create")
def keys_create(
    workspace: WorkspaceOption,
    kind: Annotated[EngineKeyKind, typer.Option(help="public (widget: events only) or secret (server).")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "engine key",
    json_output: JsonFlag = False,
) -> None:
    """Create an Engine API key; it is shown once."""

    def action(session: Session) -> dict[str, Any]:
        target = workspaces.find(session, workspace)
        data = validated(EngineKeyCreate, {"kind": kind, "name": name})
        return {"key": auth.create_engine_key(session, target.id, data, now=clock.now())}

    _run(json_output, action, lambda result: f"Engine API key (shown once): {result['key']}")


@rates_app.command("import")
def rates_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="An ECB reference-rate file: eurofxref-hist.zip, or a CSV such as eurofxref.csv."
        ),
    ],
    json_output: JsonFlag = False,
) -> None:
    """Import the ECB's reference rates published since the history the service ships with."""
    try:
        history = reference.read_file(file)
    except (OSError, ValueError) as exc:
        _fail(json_output, "invalid_rates_file", str(exc), [{"field": "file", "message": str(exc)}])
        raise  # unreachable: _fail always raises
    _import_rates(history, file.name, json_output)


@rates_app.command("update")
def rates_update(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Fetch from here instead (default: COMERIX_ECB_RATES_URL)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Fetch the ECB's latest reference rates (its daily file) and import them."""
    source = url or _settings(json_output).ecb_rates_url
    with tempfile.TemporaryDirectory(prefix="comerix-rates-") as folder:
        try:
            file = reference.download(source, Path(folder))
            history = reference.read_file(file)
        except (OSError, ValueError) as exc:  # urllib's errors are OSErrors
            message = f"could not fetch the ECB's rates from {source}: {exc}"
            _fail(json_output, "rates_unavailable", message, [{"field": "url", "message": message}])
            raise  # unreachable: _fail always raises
        _import_rates(history, file.name, json_output)


def _import_rates(history: CurrencyConverter, name: str, json_output: bool) -> None:
    """Store the quotes of an ECB file, with a progress bar, and say what it held."""
    quotes = list(reference.quotes_in(history))
    database = _open_database(json_output)
    try:
        with (
            _progress(json_output) as bar,
            database.transaction() as session,
        ):
            task = bar.add_task(f"Importing {name}", total=len(quotes))
            done = rates.import_quotes(session, quotes, clock.now(), lambda count: bar.advance(task, count))
    finally:
        database.dispose()
    result = {
        "quotes": done.quotes,
        "stored": done.stored,
        "first_day": None if done.first_day is None else done.first_day.isoformat(),
        "last_day": None if done.last_day is None else done.last_day.isoformat(),
    }
    _print(
        json_output,
        result,
        lambda r: (
            f"{r['quotes']:,} quotes from {r['first_day']} to {r['last_day']}; "
            f"{r['stored']:,} new to this service, stored."
        ),
    )


@rates_app.command("apply")
def rates_apply(
    workspace: WorkspaceOption,
    since: Annotated[
        str | None, typer.Option("--from", help="Only outcomes from this local date on (YYYY-MM-DD).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Convert the outcomes whose base value is their display value, now that rates exist."""
    first = None
    if since is not None:
        try:
            first = date.fromisoformat(since)
        except ValueError:
            _fail(
                json_output,
                "invalid_input",
                "bad --from",
                [{"field": "from", "message": "must be YYYY-MM-DD"}],
            )
    database = _open_database(json_output)
    try:
        with (
            _progress(json_output) as bar,
            database.transaction() as session,
        ):
            target = workspaces.find(session, workspace)
            task = bar.add_task("Converting outcomes without a rate", total=None)
            done = rate_repairs.apply_rates(session, target, first, lambda count: bar.advance(task, count))
    except DomainError as exc:
        _fail(json_output, exc.code, exc.message, exc.details)
        raise  # unreachable: _fail always raises
    finally:
        database.dispose()
    result = {"looked_at": done.looked_at, "converted": done.converted, "left": done.left}
    _print(
        json_output,
        result,
        lambda r: (
            f"{r['converted']:,} of {r['looked_at']:,} outcomes converted; "
            f"{r['left']:,} still without a rate for their date."
        ),
    )


def main() -> None:
    app()
