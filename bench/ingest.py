"""Ingestion over real HTTP: `comerix serve` in a subprocess, driven from this process.

For one backend: three fresh databases, one workspace each (10 and 1,000 active goals, and 1,000 of
which 50 are multi-step), one server on each. The servers stay up for the whole section and the runs
alternate between them (healthz, 10 goals, 1,000 goals, 1,000 with multi-step, rotating the order every
round), so a noisy neighbour slows every configuration alike and the ratios between them stay fair.

- peak: closed loop, `concurrency` connections (48 unless told) each posting a 100-event body and
  waiting for the 202, for `duration` seconds; events/s counts the batches answered within the window.
  Group commit needs batches waiting to make its groups: with too few connections the writer process
  sits idle between groups, and the closed loop measures the client's pace more than the server's
  (docs/benchmarks.md, "The load and the method").
- latency: open loop at half of that configuration's median peak, one batch every 1/rate seconds
  whatever the answers do; a batch's latency runs from its scheduled send time to the end of its
  answer, so a stalled server cannot hide its queue (no coordinated omission).
- baselines: `GET /healthz` (a trivial round trip through the same stack: routing, a pooled database
  connection, `SELECT 1`, the schema check) with the same concurrency, and paced at the same rate.

Bodies are serialised before the clock starts: 64 templates of 100 events whose event, conversation and
contact ids hold a 12-character placeholder, replaced per request by a unique token (a bytes.replace,
cheap beside the request), so every event is new and every request creates 10 conversations and 10
contacts, as fresh chats from the widget would. Their timestamps hold a placeholder for the second too,
set per request to the one before the clock's: a body is the last second of ten live chats, as a
collector forwarding the widgets' events would send it (timestamps that never advance would put each new
outcome and contact on an index page of its own: docs/benchmarks.md, "The load and the method").
"""

from __future__ import annotations

import contextlib
import functools
import gc
import http.client
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

import orjson
from harness import (
    CATEGORIES,
    CHANNELS,
    CURRENCIES,
    INTENTS,
    MODELS,
    PLANS,
    REASONS,
    Backends,
    Figure,
    Target,
    Tenant,
    console,
    make_tenant,
    median,
    migrated,
    percentile,
    progress,
    rng_for,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL

from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.telemetry.models import Event

BATCH = 100
TEMPLATES = 64
PLACEHOLDER = b"~~~~~~~~~~~~"  # 12 bytes; never appears in generated data otherwise
SECOND = b"^^^^^^^^^^^^^^^^^^^"  # 19 bytes, as 2026-12-03T10:42:07; never appears otherwise either
CONFIGS: dict[str, tuple[int, int, bool, bool]] = {
    "10": (10, 0, False, False),
    "1000": (1000, 0, False, False),
    "1000ms": (1000, 50, False, False),
    "1000busy": (1000, 50, True, False),
    "1000steps": (1000, 0, False, True),
    "1000eur": (1000, 0, False, False),
    "1000fx": (1000, 0, False, False),
}
"""Each configuration: its active goals, how many of them are multi-step, whether those are all on the
load's names (busy) or in the proportions of the single-step goals (`harness.multi_step_definitions`),
and whether every event marks an analytics step (SPEC §10). The last two have their own exchange rates
(SPEC §11, `harness.OWN_RATES`) and send every amount in euros, or enough in dollars, pounds and francs
that a third of the valued outcomes need converting (`CURRENCY_MIX`); the others send the four
currencies of `harness.CURRENCIES` evenly (three of them without a rate: `display_fallback`)."""
CURRENCY_MIX: dict[str, tuple[str, ...]] = {
    "1000eur": ("EUR",),
    # 5 of 8 amounts sent with a currency: with the goals of fixed euro values, a third of all valued
    # outcomes (docs/benchmarks.md)
    "1000fx": ("EUR", "EUR", "EUR", "USD", "GBP", "CHF", "USD", "GBP"),
}
WITH_RATES = frozenset(CURRENCY_MIX)
BASELINE_OF = {"1000fx": "1000eur"}
"""The configuration each is measured against, where it is neither "10" nor "1000", which every run
has: a run of some configurations (`--configs`) adds the baselines they need."""
MIDDLE_EVENTS = (
    ("message_sent", 34),
    ("agent_replied", 34),
    ("product_viewed", 16),
    ("add_to_cart", 9),
    ("checkout_started", 7),
)
_tokens = itertools.count(1)


# --- the load -----------------------------------------------------------------------------------------


def build_templates(count: int, steps: bool = False, currencies: tuple[str, ...] = CURRENCIES) -> list[bytes]:
    """`count` serialised bodies of 100 events each, with PLACEHOLDER where ids must be unique and
    SECOND where the clock's second goes (see `unique_body`); with `steps`, every event marks an
    analytics step (SPEC §10), as a flow that marks each of its points would send them; amounts are in
    `currencies`, evenly."""
    return [_template(seed, steps, currencies) for seed in range(count)]


def _step(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The analytics step a flow would mark with an event: a point of the flow, or the intent heard."""
    if name == "message_sent":
        intent = properties["intent"]
        return {"label": f"Intent: {intent}", "id": f"intent-{intent}", "type": "intent"}
    return {"label": STEP_LABELS[name], "id": name}


STEP_LABELS = {
    "conversation_started": "Greeting",
    "agent_replied": "Answer",
    "product_viewed": "Show product",
    "add_to_cart": "Add to cart",
    "checkout_started": "Checkout",
    "purchase": "Order placed",
    "conversation_ended": "Goodbye",
}


def _template(seed: int, steps: bool = False, currencies: tuple[str, ...] = CURRENCIES) -> bytes:
    rng = rng_for(1000 + seed)
    token = PLACEHOLDER.decode()
    second = SECOND.decode()
    names = [name for name, _ in MIDDLE_EVENTS]
    weights = [weight for _, weight in MIDDLE_EVENTS]
    events: list[dict[str, Any]] = []

    def add(name: str, ms: int, properties: dict[str, Any], **ids: str | None) -> None:
        event: dict[str, Any] = {
            "event_id": f"e-{token}-{len(events):03d}",
            "name": name,
            "timestamp": f"{second}.{ms:03d}{rng.randrange(1000):03d}+00:00",
        }
        event.update({key: value for key, value in ids.items() if value is not None})
        event["properties"] = properties
        if steps:
            event["step"] = _step(name, properties)
        events.append(event)

    # A body is one second of ten live chats, as a collector forwarding what the site's widgets sent
    # would post it: the chats run side by side, each starts in the first 100 ms and has an event
    # every 20 to 50 ms (at most ms 589); the two purchases outside a chat come at the end.
    purchases_in_chat = {1, 4, 7}  # 3 purchases inside a chat, 2 later by contact only: 5 % purchases
    for chat in range(10):
        conversation, contact = f"c-{token}-{chat}", f"p-{token}-{chat}"
        flow = f"flow-{rng.randrange(12):02d}"
        ids = {"conversation_id": conversation, "contact_id": contact, "flow_id": flow}
        ms = rng.randrange(100)
        category = rng.choice(CATEGORIES)
        add(
            "conversation_started",
            ms,
            {
                "channel": rng.choice(CHANNELS),
                "locale": rng.choice(["de-DE", "en-GB", "fr-FR"]),
                "page": f"/products/{category}/{rng.randrange(500)}",
                "utm": {"source": rng.choice(["google", "newsletter", "direct"]), "campaign": f"c{chat}"},
            },
            **ids,
        )
        for _ in range(8 if chat < 5 else 7):
            ms += rng.randrange(20, 50)
            name = rng.choices(names, weights)[0]
            add(name, ms, _properties(name, rng, category, currencies), **ids)
        if chat in purchases_in_chat:
            ms += rng.randrange(20, 50)
            add("purchase", ms, _purchase(rng, category, token, chat, currencies), **ids)
        ms += rng.randrange(20, 50)
        add(
            "conversation_ended",
            ms,
            {"reason": rng.choice(REASONS), "rating": rng.randint(1, 5), "messages": rng.randint(2, 30)},
            **ids,
        )
    for chat in (2, 8):  # bought later, after the chat ended: attributed through the contact's window
        add(
            "purchase",
            900 + 10 * chat,
            _purchase(rng, rng.choice(CATEGORIES), token, 10 + chat, currencies),
            contact_id=f"p-{token}-{chat}",
        )
    assert len(events) == BATCH, len(events)
    body = orjson.dumps({"events": events})
    assert body.count(PLACEHOLDER) > 0
    assert body.count(SECOND) == BATCH
    return body


def _properties(name: str, rng: Any, category: str, currencies: tuple[str, ...]) -> dict[str, Any]:
    product = {
        "sku": f"SKU-{rng.randrange(10_000):05d}",
        "category": category,
        "price": rng.randrange(500, 20_000) / 100,
    }
    if name == "message_sent":
        return {"intent": rng.choice(INTENTS), "length": rng.randint(3, 400), "language": "de"}
    if name == "agent_replied":
        return {
            "model": rng.choice(MODELS),
            "latency_ms": rng.randint(200, 4000),
            "tokens": rng.randint(20, 800),
            "handover": rng.random() < 0.05,
        }
    if name == "product_viewed":
        return {"product": product, "position": rng.randint(1, 12)}
    if name == "add_to_cart":
        return {
            "product": product,
            "quantity": rng.randint(1, 3),
            "cart_total": rng.randrange(500, 50_000) / 100,
        }
    return {
        "cart_total": rng.randrange(500, 50_000) / 100,
        "currency": rng.choice(currencies),
        "items": rng.randint(1, 6),
    }


def _purchase(rng: Any, category: str, token: str, n: int, currencies: tuple[str, ...]) -> dict[str, Any]:
    total = rng.randrange(1_000, 100_000) / 100
    return {
        "plan": rng.choice(PLANS),
        "grand_total": f"{total:.2f}" if rng.random() < 0.5 else total,
        "currency": rng.choice(currencies),
        "order_id": f"o-{token}-{n}",
        "category": category,
        "items": rng.randint(1, 5),
    }


def unique_body(templates: list[bytes]) -> bytes:
    """A template with its placeholder replaced by a token no other request of this process uses, and
    its events' second by the one before the clock's: every event happened 0 to 2 seconds ago."""
    n = next(_tokens)  # itertools.count is atomic under the GIL
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1)).encode()
    return templates[n % len(templates)].replace(PLACEHOLDER, b"%012x" % n).replace(SECOND, second)


# --- the server ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`python -m comerix serve` on a free loopback port, its output in a log file."""

    def __init__(self, url: URL, workdir: Path, label: str) -> None:
        self.url = url
        self.label = label
        self.workdir = workdir / label
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("COMERIX_")}
        env |= {
            "COMERIX_DATABASE_URL": self.url.render_as_string(hide_password=False),
            "COMERIX_DATA_DIR": str(self.workdir),
            "COMERIX_SECRET_KEY": "bench-" + "k" * 40,
        }
        self.port = free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                [sys.executable, "-m", "comerix", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server {self.label} exited:\n{self.log_tail()}")
            try:
                if Connection(self.port).request("GET", "/healthz") == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server {self.label} did not answer /healthz within 60 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the writer drains
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def check(self) -> None:
        """Raise if the server is no longer running (it crashed, or something else stopped it)."""
        code = None if self.process is None else self.process.poll()
        if self.process is None or code is not None:
            raise RuntimeError(
                f"the server {self.label} stopped during the bench (exit status {code}); was it sent "
                f"a signal by another process? Its log ends with:\n{self.log_tail()}"
            )

    def cpu_seconds(self) -> CpuSeconds | None:
        """User + system CPU time of the server's processes (all their threads), from /proc."""
        if self.process is None:
            return None
        return process_cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_problems(self) -> list[str]:
        """Lines of the log that are neither start-up chatter nor a 2xx access line."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [
            line
            for line in text.splitlines()
            if ("Traceback" in line or "ERROR" in line or '" 5' in line or '" 4' in line)
        ]


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuSeconds(NamedTuple):
    """CPU time of a server: all its processes, and its descendants alone (the writer process, which
    on SQLite is one thread that every group waits for: at 1.0 core, it sets the pace)."""

    server: float
    writer: float

    def __sub__(self, before: tuple[float, ...]) -> CpuSeconds:
        return CpuSeconds(self.server - before[0], self.writer - before[1])


def process_cpu_seconds(pid: int) -> CpuSeconds | None:
    """User + system CPU time of `pid` and of its live descendants (the server's writer process)."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    if pid not in stats:
        return None
    tree, grown = {pid}, True
    while grown:
        before = len(tree)
        tree |= {child for child, (parent, _cpu) in stats.items() if parent in tree}
        grown = len(tree) > before
    return CpuSeconds(
        sum(stats[member][1] for member in tree), sum(stats[member][1] for member in tree - {pid})
    )


# --- the clients --------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection (the standard library's client: it costs the bench process
    a fraction of what a richer client would, on a machine whose two cores it shares with the server).

    A server closes a connection left idle for its keep-alive timeout (uvicorn: 5 s), which a slow
    paced run can reach; a request that finds its reused connection closed before any answer is sent
    again once on a new connection, as HTTP clients do. Its latency includes the new connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._connection: http.client.HTTPConnection | None = None
        self._served = 0
        self.last_body = b""
        self.last_error = ""

    def connect(self) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self._connection.connect()
        self._served = 0

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> int:
        """The status, after reading the whole answer; 0 when the connection failed."""
        for attempt in (1, 2):
            try:
                if self._connection is None:
                    self.connect()
                assert self._connection is not None
                self._connection.request(method, path, body=body, headers=headers or {})
                response = self._connection.getresponse()
                self.last_body = response.read()
                self._served += 1
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                reused = self._served > 0
                self.close()
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not reused or attempt == 2:
                    return 0
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                self.last_error = f"{type(exc).__name__}: {exc}"
                return 0
        return 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class Call:
    """What one request of a run sends."""

    method: str
    path: str
    body: Callable[[], bytes | None]
    headers: dict[str, str]
    ok: int
    events: int  # events per request (0 for healthz)


def events_call(templates: list[bytes], tenant: Tenant) -> Call:
    headers = {"Authorization": f"Bearer {tenant.public_key}", "Content-Type": "application/json"}
    return Call("POST", "/events", lambda: unique_body(templates), headers, 202, BATCH)


HEALTHZ = Call("GET", "/healthz", lambda: None, {}, 200, 0)


@dataclass
class LoadResult:
    requests: int
    errors: int
    duration: float
    error_kinds: Counter[str] = field(default_factory=Counter)  # status code, or the client's exception
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    service_times: list[float] = field(default_factory=list)  # open loop: from the actual send
    server_cpu: float | None = None  # cores busy, on average (1.0 = one whole core)
    writer_cpu: float | None = None  # of which the writer process's
    client_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.duration


P = ParamSpec("P")
R = TypeVar("R")


def _collector_paused(run: Callable[P, R]) -> Callable[P, R]:
    """Run a load with this process's garbage collector paused (after a collection, before the clock
    starts). This process has the whole service imported, so a full collection here is long, and
    while it runs no connection reads its answer or sends its next request: every request in flight
    would show the pause as the server's latency."""

    @functools.wraps(run)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        gc.collect()
        gc.disable()
        try:
            return run(*args, **kwargs)
        finally:
            gc.enable()

    return paused


@_collector_paused
def closed_loop(server: Server, call: Call, concurrency: int, duration: float) -> LoadResult:
    """`concurrency` connections, each sending its next request as soon as the last is answered."""
    barrier = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}
    outcomes: list[tuple[int, int, list[float], Counter[str]]] = []

    def worker() -> None:
        connection = Connection(server.port)
        ok = errors = 0
        latencies: list[float] = []
        kinds: Counter[str] = Counter()
        try:
            connection.connect()  # before the clock starts
        except OSError:
            errors += 1  # `request` tries again; a dead server shows as errors, not as a hang
            kinds["connect"] += 1
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            kinds["barrier"] += 1
            outcomes.append((0, errors + 1, [], kinds))
            return
        deadline = window["end"]
        while True:
            body = call.body()
            sent = time.perf_counter()
            if sent >= deadline:
                break
            status = connection.request(call.method, call.path, body, call.headers)
            done = time.perf_counter()
            if status != call.ok:
                errors += 1
                kinds[str(status) if status else connection.last_error.split(":")[0]] += 1
                if status == 0:
                    time.sleep(0.05)  # refused: do not spin
            elif done <= deadline:
                ok += 1
                latencies.append(done - sent)
        connection.close()
        outcomes.append((ok, errors, latencies, kinds))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    window["end"] = time.perf_counter() + duration
    barrier.wait(timeout=60)
    for thread in threads:
        thread.join()
    cpu_after, client_after = server.cpu_seconds(), time.process_time()
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    server.check()
    return LoadResult(
        requests=sum(outcome[0] for outcome in outcomes),
        errors=sum(outcome[1] for outcome in outcomes),
        duration=duration,
        error_kinds=sum((outcome[3] for outcome in outcomes), Counter()),
        latencies=[latency for outcome in outcomes for latency in outcome[2]],
        server_cpu=None if used is None else used.server / duration,
        writer_cpu=None if used is None else used.writer / duration,
        client_cpu=(client_after - client_before) / duration,
    )


@_collector_paused
def open_loop(server: Server, call: Call, rate: float, duration: float, workers: int = 32) -> LoadResult:
    """One request every 1/rate seconds, sent by the first free of `workers` connections."""
    schedule: queue.Queue[float | None] = queue.Queue()
    samples: list[tuple[int, float, float, str]] = []

    def worker() -> None:
        connection = Connection(server.port)
        with contextlib.suppress(OSError):  # else on first use; a failure then is status 0
            connection.connect()
        while (scheduled := schedule.get()) is not None:
            body = call.body()
            sent = time.perf_counter()
            status = connection.request(call.method, call.path, body, call.headers)
            done = time.perf_counter()
            kind = "" if status == call.ok else str(status) if status else connection.last_error.split(":")[0]
            samples.append((status, done - scheduled, done - sent, kind))
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    for i in range(max(1, int(rate * duration))):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        schedule.put(scheduled)
    for _ in threads:
        schedule.put(None)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu_after, client_after = server.cpu_seconds(), time.process_time()
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    server.check()
    answered = [sample for sample in samples if sample[0] == call.ok]
    return LoadResult(
        requests=len(answered),
        errors=len(samples) - len(answered),
        error_kinds=Counter(sample[3] for sample in samples if sample[0] != call.ok),
        duration=elapsed,
        latencies=[sample[1] for sample in answered],
        service_times=[sample[2] for sample in answered],
        server_cpu=None if used is None else used.server / elapsed,
        writer_cpu=None if used is None else used.writer / elapsed,
        client_cpu=(client_after - client_before) / elapsed,
    )


# --- the section --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    concurrency: int
    duration: float
    latency_duration: float  # 0: no latency runs
    warmup: float
    repeats: int  # latency runs of each configuration
    peak_repeats: int  # peak runs of each: its ratios are targets (docs/benchmarks.md on the spread)
    configs: tuple[str, ...] = tuple(CONFIGS)  # those run, with their baselines (`selected`)


def _sanity(server: Server, call: Call) -> int:
    """Post one body and check every event is accepted; the number of outcomes it produced."""
    connection = Connection(server.port)
    status = connection.request(call.method, call.path, call.body(), call.headers)
    answer = orjson.loads(connection.last_body) if status else {}
    connection.close()
    if status != 202 or answer.get("accepted") != BATCH:
        raise RuntimeError(
            f"{server.label}: a first batch was not accepted whole: {status} {str(answer)[:500]}"
        )
    return sum(len(result["outcomes"]) for result in answer["results"])


def analyze(url: URL) -> None:
    """Give PostgreSQL's planner statistics for tables that grew from nothing a moment ago."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def _stored(url: URL) -> dict[str, int]:
    database = Database(url)
    try:
        with database.sessions() as session:
            events = session.scalar(select(func.count()).select_from(Event)) or 0
            outcomes = session.scalar(select(func.count()).select_from(Outcome)) or 0
            sources = dict(
                session.execute(
                    select(Outcome.base_value_source, func.count()).group_by(Outcome.base_value_source)
                ).all()
            )
    finally:
        database.dispose()
    # how the valued outcomes' base values were found (SPEC §11): `rate` only where rates were set
    by_source = {str(source.value): n for source, n in sources.items() if source is not None}
    return {"events": events, "outcomes": outcomes, "base_value_sources": by_source}


def run(backends: Backends, workdir: Path, options: Options) -> list[Figure]:
    backend = backends.name
    console.rule(f"[bold]Ingestion over HTTP: {backend}")
    configs = selected(options.configs)
    templates = {
        (steps, mix): build_templates(TEMPLATES, steps=steps, currencies=mix)
        for steps, mix in {(c[3], CURRENCY_MIX.get(k, CURRENCIES)) for k, c in configs.items()}
    }
    servers: dict[str, Server] = {}
    calls: dict[str, Call] = {}
    tenants: dict[str, Tenant] = {}
    try:
        for key, (goals, multi_step, busy, steps) in configs.items():
            url = backends.fresh(f"ingest_g{key}")
            with migrated(url) as database:
                started = time.perf_counter()
                tenants[key] = make_tenant(database, goals, multi_step, busy, rates=key in WITH_RATES)
            console.print(
                f"  {goals:>5} goals, {multi_step} multi-step{' (busy)' if busy else ''}"
                f"{', a step on every event' if steps else ''} "
                f"({tenants[key].listening} single-step on the "
                f"names the load sends) created in {time.perf_counter() - started:.1f} s"
            )
            servers[key] = Server(url, workdir, f"{backend}_g{key}")
            calls[key] = events_call(templates[(steps, CURRENCY_MIX.get(key, CURRENCIES))], tenants[key])
        for server in servers.values():
            server.start()
        outcomes_per_batch = {key: _sanity(servers[key], calls[key]) for key in configs}
        console.print(
            "  outcomes per 100-event batch: "
            + ", ".join(f"{key} goals → {n}" for key, n in outcomes_per_batch.items())
        )
        low = servers["10"]
        with progress() as bar:
            task = bar.add_task("warm-up", total=len(configs) + 1)
            for key in configs:
                closed_loop(servers[key], calls[key], options.concurrency, options.warmup)
                bar.advance(task)
            closed_loop(low, HEALTHZ, options.concurrency, min(1.0, options.warmup))
            bar.advance(task)

        if backend == "postgresql":  # as autovacuum would have by now on a live database
            for server in servers.values():
                analyze(server.url)

        # Peak: closed loop, rounds alternating between the configurations.
        peak_runs: dict[str, list[LoadResult]] = {"healthz": [], **{key: [] for key in configs}}
        plan: list[tuple[str, Server, Call]] = [
            ("healthz", low, HEALTHZ),
            *((key, servers[key], calls[key]) for key in configs),
        ]
        with progress() as bar:
            task = bar.add_task(f"peak, {options.duration:g} s runs", total=options.peak_repeats * len(plan))
            for round_ in range(options.peak_repeats):
                turn = round_ % len(plan)
                for key, server, call in plan[turn:] + plan[:turn]:
                    result = closed_loop(server, call, options.concurrency, options.duration)
                    peak_runs[key].append(result)
                    bar.advance(task)
        _report_runs("peak", peak_runs, BATCH)

        # Latency: open loop at half of each configuration's median peak (none with a duration of 0).
        rates = {key: median([r.rate for r in peak_runs[key]]) / 2 for key in configs}
        rates["healthz"] = rates["10"]
        if not all(rates.values()):
            raise RuntimeError(
                f"a configuration answered no request at peak ({rates}): see the errors above and the "
                f"server logs ({workdir}; keep them with --keep)"
            )
        latency_runs: dict[str, list[LoadResult]] = {"healthz": [], **{key: [] for key in configs}}
        with progress() as bar:
            rounds = options.repeats if options.latency_duration else 0
            task = bar.add_task(
                f"latency at half peak, {options.latency_duration:g} s runs", total=rounds * len(plan)
            )
            for round_ in range(rounds):
                turn = round_ % len(plan)
                for key, server, call in plan[turn:] + plan[:turn]:
                    result = open_loop(server, call, rates[key], options.latency_duration)
                    latency_runs[key].append(result)
                    bar.advance(task)
        if rounds:
            _report_runs("latency", latency_runs, BATCH)
    finally:
        for server in servers.values():
            server.stop()
    problems = {server.label: server.log_problems() for server in servers.values()}
    for label, lines in problems.items():
        if lines:
            console.print(f"[yellow]  {label}: {len(lines)} problem lines in its log, e.g. {lines[0][:200]}")
    stored = {key: _stored(servers[key].url) for key in configs}
    return _figures(backend, peak_runs, latency_runs, rates, stored, outcomes_per_batch, tenants, options)


def selected(names: Sequence[str]) -> dict[str, tuple[int, int, bool, bool]]:
    """The configurations named, with the baselines they are measured against, in `CONFIGS`' order."""
    unknown = set(names) - set(CONFIGS)
    if unknown:
        raise ValueError(f"unknown configurations {sorted(unknown)}: choose among {', '.join(CONFIGS)}")
    wanted = {"10", "1000", *names, *(BASELINE_OF[name] for name in names if name in BASELINE_OF)}
    return {key: value for key, value in CONFIGS.items() if key in wanted}


def _paired(peak: dict[str, list[LoadResult]], key: str, base: str = "1000") -> float | None:
    """The median over the rounds of each round's ratio to its baseline's run in the same round: less
    moved than the ratio of the medians by a machine that speeds up or slows down during the run."""
    pairs = [b.rate / a.rate for a, b in zip(peak[base], peak[key], strict=True) if a.rate]
    return median(pairs) if pairs else None


def _report_runs(kind: str, runs: dict[str, list[LoadResult]], batch: int) -> None:
    for key, results in runs.items():
        per = 1 if key == "healthz" else batch
        rates = ", ".join(f"{r.rate * per:,.0f}" for r in results)
        errors = sum(r.errors for r in results)
        cpu = median([r.server_cpu for r in results if r.server_cpu is not None])
        writer = [r.writer_cpu for r in results if r.writer_cpu is not None]
        extra = ""
        if kind == "latency":
            extra = f"  p99 {', '.join(f'{percentile(r.latencies, 99) * 1000:.1f}' for r in results)} ms"
        console.print(
            f"  {kind:>7} {key:>7}: {rates} {'req' if per == 1 else 'events'}/s{extra}"
            f"  (server CPU {cpu:.2f} cores"
            + (f", of which the writer process {median(writer):.2f}" if key != "healthz" and writer else "")
            + f", errors {errors}"
            + (f": {dict(sum((r.error_kinds for r in results), Counter()))}" if errors else "")
            + ")"
        )


def _figures(
    backend: str,
    peak: dict[str, list[LoadResult]],
    latency: dict[str, list[LoadResult]],
    rates: dict[str, float],
    stored: dict[str, dict[str, int]],
    outcomes_per_batch: dict[str, int],
    tenants: dict[str, Tenant],
    options: Options,
) -> list[Figure]:
    def details(results: list[LoadResult], key: str) -> dict[str, Any]:
        cpu = [r.server_cpu for r in results if r.server_cpu is not None]
        writer = [r.writer_cpu for r in results if r.writer_cpu is not None]
        found: dict[str, Any] = {
            "requests": [r.requests for r in results],
            "errors": sum(r.errors for r in results),
            "error_kinds": dict(sum((r.error_kinds for r in results), Counter())),
            "server_cpu_cores": median(cpu) if cpu else None,
            "writer_cpu_cores": median(writer) if writer else None,
            "client_cpu_cores": median([r.client_cpu for r in results if r.client_cpu is not None]),
        }
        if key != "healthz":
            found |= {
                "goals": tenants[key].goals,
                "multi_step_goals": tenants[key].multi_step,
                "multi_step_busy": tenants[key].busy,
                "goals_listening_to_the_load": tenants[key].listening,
                "outcomes_per_100_events": outcomes_per_batch[key],
                "stored_at_end": stored[key],
            }
        return found

    def rate(key: str) -> list[float]:
        return [r.rate * BATCH for r in peak.get(key, [])]

    healthz = [r.rate for r in peak["healthz"]]
    ten, thousand = rate("10"), rate("1000")
    thousand_targets = [Target("ratio", ">=", 0.8)]
    if backend == "sqlite":
        thousand_targets.insert(0, Target("median", ">=", 20_000))
    common = {"concurrency": options.concurrency, "duration_s": options.duration}
    connections = f"closed loop, {options.concurrency} connections"
    figures = [
        Figure(
            "ingest",
            backend,
            f"GET /healthz, {connections} (baseline)",
            "req/s",
            healthz,
            extra=common | details(peak["healthz"], "healthz"),
        ),
        Figure(
            "ingest",
            backend,
            f"ingest 10 goals, {connections}",
            "events/s",
            ten,
            baseline_name="GET /healthz req/s x 100",
            baseline_runs=[h * BATCH for h in healthz],
            extra=common | details(peak["10"], "10"),
        ),
        Figure(
            "ingest",
            backend,
            f"ingest 1,000 goals, {connections}",
            "events/s",
            thousand,
            baseline_name="ingest 10 goals",
            baseline_runs=ten,
            targets=thousand_targets,
            extra=common
            | details(peak["1000"], "1000")
            | {"paired_ratio_median": _paired(peak, "1000", "10")},
        ),
    ]
    against_thousand = (
        ("1000ms", "ingest 1,000 goals of which 50 multi-step", [Target("ratio", ">=", 0.9)]),
        ("1000busy", "ingest 1,000 goals, 50 multi-step all on the load (busy)", []),
        ("1000steps", "ingest 1,000 goals, a step on every event", [Target("ratio", ">=", 0.85)]),
    )
    for key, label, targets in against_thousand:
        if key in peak:
            figures.append(
                Figure(
                    "ingest",
                    backend,
                    f"{label}, {connections}",
                    "events/s",
                    rate(key),
                    baseline_name="ingest 1,000 goals",
                    baseline_runs=thousand,
                    targets=targets,
                    extra=common | details(peak[key], key) | {"paired_ratio_median": _paired(peak, key)},
                )
            )
    if "1000fx" in peak:
        figures.append(
            Figure(
                "ingest",
                backend,
                f"ingest 1,000 goals, a third of the amounts converted (own rates), {connections}",
                "events/s",
                rate("1000fx"),
                baseline_name="the same load in the base currency",
                baseline_runs=rate("1000eur"),
                targets=[Target("ratio", ">=", 0.95)],
                extra=common
                | details(peak["1000fx"], "1000fx")
                | {"paired_ratio_median": _paired(peak, "1000fx", "1000eur")},
            )
        )
    for key, label in (
        ("10", "10 goals"),
        ("1000", "1,000 goals"),
        ("1000ms", "1,000 goals, 50 multi-step"),
        ("1000busy", "1,000 goals, 50 multi-step busy"),
        ("1000steps", "1,000 goals, a step on every event"),
    ):
        runs = latency.get(key)
        if not runs:
            continue
        base = latency["healthz"]
        extra = {
            "rate_req_per_s": rates[key],
            "rate_events_per_s": rates[key] * BATCH,
            "duration_s": options.latency_duration,
            "samples": [len(r.latencies) for r in runs],
            "p99_service_time_ms": median([percentile(r.service_times, 99) * 1000 for r in runs]),
            "healthz_rate_req_per_s": rates["healthz"],
        } | details(runs, key)
        for q, targets in ((50, []), (99, [Target("median", "<=", 50)])):
            figures.append(
                Figure(
                    "ingest",
                    backend,
                    f"batch latency p{q}, {label}, half peak",
                    "ms",
                    [percentile(r.latencies, q) * 1000 for r in runs],
                    baseline_name=f"GET /healthz p{q}, same rate",
                    baseline_runs=[percentile(r.latencies, q) * 1000 for r in base],
                    targets=targets,
                    extra=extra,
                )
            )
    return figures
