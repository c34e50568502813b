"""What every benchmark shares: the console, statistics, the databases it measures on, and the set-up of
a workspace (admin user, public Engine API key, goals) through the services.

The bench is a folder of scripts, not a package: `run.py` puts this folder on `sys.path` by being run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, UserCreate
from comerix.db import Database
from comerix.db.migrate import upgrade
from comerix.goals import service as goals_service
from comerix.goals.schemas import GoalCreate
from comerix.rates import service as rates_service
from comerix.rates.schemas import RateIn, RatesIn
from comerix.vocabulary import GoalKind, ValueMode
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import WorkspaceCreate

console = Console(width=None if sys.stdout.isatty() else 160)  # piped: no wrapping at 80

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_ROOT.parent

# The names the load sends (see ingest.py); goals on any other name never see an event.
LOAD_EVENTS = (
    "conversation_started",
    "message_sent",
    "agent_replied",
    "product_viewed",
    "add_to_cart",
    "checkout_started",
    "purchase",
    "conversation_ended",
)
CATEGORIES = ("shoes", "shirts", "bags", "hats", "watches", "jackets", "socks", "belts")
CHANNELS = ("web", "mobile", "whatsapp")
INTENTS = ("browse", "support", "pricing", "shipping", "returns")
MODELS = ("gpt-small", "gpt-large", "claude-haiku")
REASONS = ("resolved", "timeout", "handover")
PLANS = ("premium", "basic")
CURRENCIES = ("EUR", "usd", "GBP", "chf")


def rng_for(seed: int) -> random.Random:
    """Reproducible data: every generator takes its own seeded source (not for anything secret)."""
    return random.Random(seed)  # noqa: S311


# --- statistics ---------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(calls: int, action: Any, warmup: int = 2) -> list[float]:
    """Milliseconds per call of `action`, after `warmup` untimed calls."""
    for _ in range(warmup):
        action()
    timings = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        action()
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


@dataclass(frozen=True)
class Target:
    """A bound from the issue, checked on a figure's median or on its ratio to the baseline."""

    on: str  # "median" or "ratio"
    operator: str  # ">=" or "<="
    bound: float

    def holds(self, value: float | None) -> bool | None:
        if value is None or value != value:  # no baseline, or NaN
            return None
        return value >= self.bound if self.operator == ">=" else value <= self.bound

    def __str__(self) -> str:
        bound = f"{self.bound:,.0f}" if self.bound >= 100 else f"{self.bound:g}"
        return f"{'ratio ' if self.on == 'ratio' else ''}{'≥' if self.operator == '>=' else '≤'} {bound}"


@dataclass
class Figure:
    """One reported figure: the median of its runs and, when it has one, its baseline from the same run."""

    section: str
    backend: str
    name: str
    unit: str
    runs: list[float]
    baseline_name: str | None = None
    baseline_runs: list[float] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return median(self.runs)

    @property
    def baseline(self) -> float | None:
        return median(self.baseline_runs) if self.baseline_runs else None

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else ratio(self.median, self.baseline)

    @property
    def met(self) -> bool | None:
        """True when every target holds, False when one fails, None without targets (or a baseline)."""
        if not self.targets:
            return None
        verdicts = [t.holds(self.ratio if t.on == "ratio" else self.median) for t in self.targets]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "backend": self.backend,
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "runs": self.runs,
            "baseline": self.baseline_name,
            "baseline_median": self.baseline,
            "baseline_runs": self.baseline_runs,
            "ratio": self.ratio,
            "targets": [str(t) for t in self.targets],
            "met": self.met,
            **({"extra": self.extra} if self.extra else {}),
        }


def progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    try:
        commit = subprocess.run(  # noqa: S603
            [shutil.which("git") or "git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        dirty = subprocess.run(  # noqa: S603
            [shutil.which("git") or "git", "status", "--porcelain", "--", "src"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        dirty = ""
    source = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "src" / "comerix").rglob("*.py")):
        source.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "src_uncommitted_changes": bool(dirty),
        "src_sha256": source.hexdigest()[:16],  # the code measured, committed or not
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# --- databases ----------------------------------------------------------------------------------------


def postgres_problem(admin_url: URL) -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


class Backends:
    """Fresh databases on one backend: SQLite files in a work folder, or PostgreSQL databases named
    `comerix_bench_<pid>_<purpose>` on the server at `admin_url`, all dropped by `cleanup()`."""

    def __init__(self, name: str, workdir: Path, admin_url: URL) -> None:
        self.name = name
        self.workdir = workdir
        self.admin_url = admin_url
        self._created: list[str] = []

    def fresh(self, purpose: str) -> URL:
        if self.name == "sqlite":
            path = self.workdir / f"{purpose}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return make_url(f"sqlite:///{path}")
        database = f"comerix_bench_{os.getpid()}_{purpose}"
        self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"')
        self._created.append(database)
        return self.admin_url.set(database=database)

    def cleanup(self) -> None:
        if self.name == "postgresql" and self._created:
            self._admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in self._created))
            self._created.clear()

    def _admin(self, *statements: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        finally:
            engine.dispose()


@contextmanager
def migrated(url: URL) -> Iterator[Database]:
    database = Database(url)
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()


# --- a workspace to measure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    workspace_id: str
    public_key: str
    goals: int
    listening: int  # goals whose trigger is one of LOAD_EVENTS
    multi_step: int = 0  # of `goals`, how many are multi-step (SPEC §9)
    busy: bool = False  # the multi-step goals all on the load's names (`multi_step_definitions`)


PURCHASE_VALUE = {
    "value_mode": ValueMode.FROM_PROPERTY,
    "value_property": "grand_total",
    "currency_property": "currency",
}

# A small shop's goals: five on the names the load sends, broad enough to fire often.
CORE_GOALS: tuple[tuple[str, GoalKind, dict[str, Any], dict[str, Any]], ...] = (
    ("purchase", GoalKind.CONVERSION, {"plan": "premium"}, PURCHASE_VALUE),
    ("purchase", GoalKind.CONVERSION, {}, PURCHASE_VALUE),
    (
        "add_to_cart",
        GoalKind.ENGAGEMENT,
        {},
        {"value_mode": ValueMode.FIXED, "fixed_value": Decimal("2.50"), "currency": "EUR"},
    ),
    ("conversation_started", GoalKind.ENGAGEMENT, {}, {}),
    ("conversation_ended", GoalKind.CUSTOM, {"rating": 5}, {}),
)
OTHER_NAMES = tuple(f"custom_event_{i:03d}" for i in range(192))


def goal_definitions(count: int, seed: int = 7) -> list[GoalCreate]:
    """`count` active goals: first a small shop's (5 on the names the load sends, as in CORE_GOALS),
    then, up to 10 % of `count` in all, goals on those names with specific conditions that seldom hold
    (a SKU, a campaign, a plan in a currency...): they cost matching work on every event, and fire
    now and then. The rest listen to ~200 other names that the load never sends."""
    rng = rng_for(seed)
    listening = max(len(CORE_GOALS), round(count * 0.1))
    goals = []
    for i in range(count):
        if i < len(CORE_GOALS):
            trigger, kind, conditions, extra = CORE_GOALS[i]
        elif i < listening:
            trigger = LOAD_EVENTS[i % len(LOAD_EVENTS)]
            kind, conditions, extra = _specific(trigger, rng)
        else:
            trigger = rng.choice(OTHER_NAMES)
            kind = rng.choice([GoalKind.ENGAGEMENT, GoalKind.CUSTOM, GoalKind.CONVERSION])
            conditions, extra = {f"field_{rng.randint(0, 9)}": rng.choice(["a", "b", 1, True])}, {}
        goals.append(
            GoalCreate(
                code=f"g{i:04d}_{trigger}"[:64],
                name=f"Goal {i} on {trigger}",
                kind=kind,
                is_primary=i < 2,
                trigger_event=trigger,
                match_conditions=conditions,
                attribution_window_hours=rng.choice([24, 72, 168, 720]),
                **extra,
            )
        )
    return goals


def _specific(trigger: str, rng: random.Random) -> tuple[GoalKind, dict[str, Any], dict[str, Any]]:
    """A goal on a name the load sends, whose conditions hold for about 1 event in 20 to 10,000."""
    if trigger == "purchase":
        conditions = {
            "plan": rng.choice(PLANS),
            "category": rng.choice(CATEGORIES),
            "currency": rng.choice(CURRENCIES),
        }
        return GoalKind.CONVERSION, conditions, PURCHASE_VALUE
    if trigger in ("product_viewed", "add_to_cart"):
        return GoalKind.ENGAGEMENT, {"product.sku": f"SKU-{rng.randrange(10_000):05d}"}, {}
    if trigger == "checkout_started":
        return GoalKind.ENGAGEMENT, {"currency": rng.choice(CURRENCIES), "items": rng.randint(1, 6)}, {}
    if trigger == "conversation_started":
        conditions = {"utm.campaign": f"c{rng.randrange(10)}", "channel": rng.choice(CHANNELS)}
        return GoalKind.ENGAGEMENT, conditions, {}
    if trigger == "conversation_ended":
        conditions = {
            "reason": rng.choice(REASONS),
            "rating": rng.randint(1, 5),
            "messages": rng.randint(2, 30),
        }
        return GoalKind.CUSTOM, conditions, {}
    if trigger == "message_sent":
        return GoalKind.ENGAGEMENT, {"intent": rng.choice(INTENTS), "language": "fr"}, {}
    return GoalKind.ENGAGEMENT, {"model": rng.choice(MODELS), "handover": True}, {}


def multi_step_definitions(count: int, busy: bool = False, seed: int = 11) -> list[GoalCreate]:
    """`count` multi-step goals, as a shop's processes would be. Typical (the default), in the
    proportions of the single-step goals (`goal_definitions`): a tenth on the names the load sends, one
    of them starting with every chat (a purchase journey: started, then three of product viewed, added
    to cart, checkout and an agent's reply, then the purchase), the others only when a chat comes from
    one campaign and channel (about 1 chat in 30); the rest on names the load never sends. Busy: every
    goal on the load's names, two starting with every chat, so a chat opens three or four cycles and
    most of its events move one on: the most a workspace could ask of the stage."""
    rng = rng_for(seed)
    every_chat, listening = (2, count) if busy else (1, max(1, round(count * 0.1)))
    goals = []
    for i in range(count):
        start: dict[str, Any] = (
            {}
            if i < every_chat
            else {"utm.campaign": f"c{rng.randrange(10)}", "channel": rng.choice(CHANNELS)}
        )
        if i < listening:
            first, middle, last = "conversation_started", rng.sample(LOAD_MIDDLE, 3), "purchase"
        else:
            first, *middle, last = rng.sample(OTHER_NAMES, 5)
        steps = [
            {"key": "started", "name": "Started", "trigger_event": first, "match_conditions": start},
            *(
                {
                    "key": f"step_{n}",
                    "name": name.replace("_", " "),
                    "trigger_event": name,
                    "time_saved_seconds": rng.choice([0, 30, 60, 120]),
                    "cost_savings": str(rng.choice([0, 1, 2.5])),
                }
                for n, name in enumerate(middle, 1)
            ),
            {
                "key": "done",
                "name": "Done",
                "trigger_event": last,
                "completion": True,
                "revenue_earned": "5.00",
            },
        ]
        goals.append(
            GoalCreate.model_validate(
                {
                    "code": f"process_{i:03d}",
                    "name": f"Process {i}",
                    "kind": GoalKind.CONVERSION,
                    "steps": steps,
                    **PURCHASE_VALUE,
                }
            )
        )
    return goals


LOAD_MIDDLE = ["product_viewed", "add_to_cart", "checkout_started", "agent_replied"]


OWN_RATES = {"USD": Decimal("1.1642"), "GBP": Decimal("0.8391"), "CHF": Decimal("0.9312")}
"""Units per euro: a bench workspace's own rates, as its admin would set them (plausible, not the ECB's)."""


def make_tenant(
    database: Database, goal_count: int, multi_step: int = 0, busy: bool = False, rates: bool = False
) -> Tenant:
    """A workspace with an admin user, a public Engine API key and `goal_count` active goals, made
    through the services as the API would; the last `multi_step` of them multi-step (in place of goals
    on names the load never sends, so the single-step goals listening to the load stay the same); with
    `rates`, its own exchange rates for USD, GBP and CHF on each of the last 10 days (SPEC §11)."""
    now = datetime.now(UTC)
    definitions = goal_definitions(goal_count)
    if multi_step:
        definitions = definitions[: goal_count - multi_step] + multi_step_definitions(multi_step, busy)
    with database.transaction() as session:
        workspace = workspaces.create(
            session,
            WorkspaceCreate(name="Bench Shop", base_currency="EUR", timezone="Europe/Berlin"),
            now=now,
        )
        user = auth.create_user(
            session,
            workspace.id,
            UserCreate(email="bench@shop.example", role=Role.ADMIN, password="bench password"),  # noqa: S106
            now=now,
        )
        actor = auth.principal_of(user)
        key = auth.create_engine_key(
            session, workspace.id, EngineKeyCreate(kind=EngineKeyKind.PUBLIC, name="bench"), now=now
        )
        for definition in definitions:
            goals_service.create(session, workspace.id, definition, actor=actor, now=now)
        if rates:
            today = now.astimezone(ZoneInfo("Europe/Berlin")).date()
            own = [
                RateIn(currency=currency, date=today - timedelta(days=back), per_base=per_base)
                for currency, per_base in OWN_RATES.items()
                for back in range(10)
            ]
            rates_service.replace_rates(session, workspace, RatesIn(rates=own), actor=actor, now=now)
        workspace_id = str(workspace.id)
    listening = sum(definition.trigger_event in LOAD_EVENTS for definition in definitions)
    return Tenant(workspace_id, key, goal_count, listening, multi_step, busy)


def elapsed_since(start: float) -> float:
    return time.perf_counter() - start
