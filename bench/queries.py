"""The read paths that must not slow down with volume: the Explorer's newest 100 events, and the
attribution look-up of a contact's candidate conversations.

One fresh database per backend, one workspace. Rows are seeded with SQLAlchemy Core executemany in
chunks, through the tables' own column types (so they are stored exactly as ingestion stores them):
events spread over the last 60 days in time order, as ingestion would append them; conversations for
many contacts, a few each, over the last 90 days. PostgreSQL then gets an ANALYZE, as autovacuum would
have done on a live database; SQLite is left as the service leaves it (it never runs ANALYZE).

Each timed call is the real function (`explorer.newest`, `stages.contact_candidates`), with a warm-up first.
The baseline is a `SELECT 1` round trip made the same way: in a fresh session for the Explorer (a
request opens one), in the open session for the look-up (ingestion's transaction is already open).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import (
    CATEGORIES,
    CHANNELS,
    CURRENCIES,
    INTENTS,
    LOAD_EVENTS,
    PLANS,
    Backends,
    Figure,
    Target,
    console,
    make_tenant,
    median,
    migrated,
    progress,
    rng_for,
)
from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session

from comerix.db import Database, new_id
from comerix.telemetry import explorer, stages
from comerix.telemetry.models import Conversation, Event
from comerix.vocabulary import Source

CHUNK = 10_000
EVENT_SPAN = timedelta(days=60)
CONVERSATION_SPAN = timedelta(days=90)
NAME_WEIGHTS = (8, 30, 30, 12, 6, 4, 5, 5)  # per LOAD_EVENTS; purchase is 5 %
FILTER_NAME = "purchase"
WINDOW_HOURS = 168


@dataclass(frozen=True)
class Options:
    events: int
    conversations: int
    explorer_calls: int
    lookups: int


# --- seeding ------------------------------------------------------------------------------------------


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK):
        yield start, min(start + CHUNK, total)


def seed_events(database: Database, workspace_id: uuid.UUID, total: int, now: datetime) -> float:
    """`total` events in time order over the last 60 days; the seconds it took."""
    rng = rng_for(11)
    names = rng.choices(LOAD_EVENTS, NAME_WEIGHTS, k=4096)
    start = now - EVENT_SPAN
    step = EVENT_SPAN / total
    table = Event.__table__
    began = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"seeding {total:,} events", total=total)
        for low, high in _chunks(total):
            rows = []
            for i in range(low, high):
                name = names[i % 4096]
                at = start + step * i
                chat = i // 10
                rows.append(
                    {
                        "workspace_id": workspace_id,
                        "id": new_id(),
                        "event_id": f"e-{i:09d}",
                        "name": name,
                        "timestamp": at,
                        "received_at": at + timedelta(seconds=2),
                        "conversation_id": f"c-{chat:08d}",
                        "contact_id": f"p-{chat // 3:08d}",
                        "flow_id": f"flow-{chat % 12:02d}",
                        "source": Source.WIDGET,
                        "properties": _properties(name, i, rng),
                    }
                )
            with database.engine.begin() as connection:
                connection.execute(insert(table), rows)
            bar.advance(task, high - low)
    return time.perf_counter() - began


def _properties(name: str, i: int, rng: Any) -> dict[str, Any]:
    category = CATEGORIES[i % len(CATEGORIES)]
    if name == "purchase":
        return {
            "plan": PLANS[i % 2],
            "grand_total": f"{rng.randrange(1_000, 100_000) / 100:.2f}",
            "currency": CURRENCIES[i % len(CURRENCIES)],
            "order_id": f"o-{i}",
            "category": category,
        }
    if name in ("product_viewed", "add_to_cart"):
        return {
            "product": {"sku": f"SKU-{i % 10_000:05d}", "category": category, "price": 49.9},
            "position": 3,
        }
    if name == "message_sent":
        return {"intent": INTENTS[i % len(INTENTS)], "length": 40 + i % 300, "language": "de"}
    if name == "conversation_started":
        return {"channel": CHANNELS[i % len(CHANNELS)], "locale": "de-DE", "page": f"/products/{category}"}
    return {"model": "gpt-small", "latency_ms": 200 + i % 3000, "tokens": 20 + i % 700}


@dataclass(frozen=True)
class Sample:
    contact_id: str
    at: datetime


def seed_conversations(
    database: Database, workspace_id: uuid.UUID, total: int, now: datetime
) -> tuple[float, list[Sample], int]:
    """`total` conversations: contacts with 1 to 7 each (4 on average), started over the last 90 days.
    Returns the seconds it took, sample moments just after some conversations, and the contact count."""
    rng = rng_for(13)
    table = Conversation.__table__
    start = now - CONVERSATION_SPAN
    samples: list[Sample] = []
    began = time.perf_counter()
    contact = 0
    left_for_contact = 0
    with progress() as bar:
        task = bar.add_task(f"seeding {total:,} conversations", total=total)
        for low, high in _chunks(total):
            rows = []
            for i in range(low, high):
                if left_for_contact == 0:
                    contact += 1
                    left_for_contact = rng.randint(1, 7)
                left_for_contact -= 1
                began_at = start + timedelta(seconds=rng.randrange(int(CONVERSATION_SPAN.total_seconds())))
                last = began_at + timedelta(minutes=rng.randint(1, 90))
                contact_id = f"p-{contact:08d}"
                rows.append(
                    {
                        "workspace_id": workspace_id,
                        "id": f"c-{i:09d}",
                        "started_at": began_at,
                        "last_activity_at": last,
                        "ended_at": last if rng.random() < 0.8 else None,
                        "contact_id": contact_id,
                        "flow_id": f"flow-{i % 12:02d}",
                    }
                )
                if i % 997 == 0:  # an outcome some hours after this chat: the look-up finds candidates
                    samples.append(Sample(contact_id, last + timedelta(hours=rng.randint(0, 96))))
            with database.engine.begin() as connection:
                connection.execute(insert(table), rows)
            bar.advance(task, high - low)
    return time.perf_counter() - began, samples, contact


# --- timing -------------------------------------------------------------------------------------------


def _timed(calls: int, warmup: int, action: Callable[[int], Any]) -> list[float]:
    """Milliseconds per call of `action(i)`, after `warmup` untimed calls."""
    for i in range(warmup):
        action(i)
    timings = []
    for i in range(calls):
        started = time.perf_counter_ns()
        action(i)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings


@contextmanager
def _captured(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent while the block runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listener(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)


def query_plan(database: Database, action: Callable[[], Any]) -> tuple[list[str], float]:
    """The database's plan for the last statement `action` sends (EXPLAIN ANALYZE on PostgreSQL), and
    the median milliseconds of that statement alone through the driver: execute and fetch, no ORM, no
    models; what `action` costs beyond it is Python's."""
    with _captured(database) as seen:
        action()
    statement, parameters = seen[-1]
    prefix = "EXPLAIN QUERY PLAN " if database.backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
        timings = []
        for i in range(23):
            started = time.perf_counter_ns()
            cursor.execute(statement, parameters)
            cursor.fetchall()
            if i >= 3:
                timings.append((time.perf_counter_ns() - started) / 1e6)
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return [" | ".join(str(part) for part in row) for row in rows], median(timings)


def _select_one(session: Session) -> None:
    session.execute(text("SELECT 1")).scalar_one()


def run(backends: Backends, sections: set[str], options: Options) -> list[Figure]:
    backend = backends.name
    console.rule(f"[bold]Queries at volume: {backend}")
    figures: list[Figure] = []
    url = backends.fresh("queries")
    with migrated(url) as database:
        tenant = make_tenant(database, 0)
        workspace_id = uuid.UUID(tenant.workspace_id)
        now = datetime.now(UTC)
        seeded: dict[str, Any] = {}
        samples: list[Sample] = []
        if "explorer" in sections:
            seconds = seed_events(database, workspace_id, options.events, now)
            seeded["events"] = {"rows": options.events, "seconds": round(seconds, 1)}
            console.print(
                f"  {options.events:,} events seeded in {seconds:.0f} s ({options.events / seconds:,.0f}/s)"
            )
        if "attribution" in sections:
            seconds, samples, contacts = seed_conversations(
                database, workspace_id, options.conversations, now
            )
            seeded["conversations"] = {
                "rows": options.conversations,
                "contacts": contacts,
                "seconds": round(seconds, 1),
            }
            console.print(
                f"  {options.conversations:,} conversations of {contacts:,} contacts seeded "
                f"in {seconds:.0f} s ({options.conversations / seconds:,.0f}/s)"
            )
        if backend == "postgresql":
            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        if "explorer" in sections:
            figures += _explorer(database, workspace_id, now, options, seeded)
        if "attribution" in sections:
            figures += _attribution(database, workspace_id, samples, options, seeded)
    return figures


def _explorer(
    database: Database, workspace_id: uuid.UUID, now: datetime, options: Options, seeded: dict[str, Any]
) -> list[Figure]:
    backend = database.backend

    def newest(name: str | None) -> Callable[[int], Any]:
        def call(_i: int) -> Any:
            with database.sessions() as session:  # as a request: a fresh session, its own transaction
                found = explorer.newest(session, workspace_id, explorer.Range.D30, name, now=now)
            assert len(found.events) == explorer.NEWEST_LIMIT
            return found

        return call

    def baseline(_i: int) -> None:
        with database.sessions() as session:
            _select_one(session)

    figures = []
    rounds: dict[str | None, list[float]] = {None: [], FILTER_NAME: []}
    base: list[float] = []
    # Interleaved in five rounds, so drift on a shared machine touches the query and its baseline alike.
    per_round = max(1, options.explorer_calls // 5)
    for _ in range(5):
        base += _timed(per_round, 3, baseline)
        for name in rounds:
            rounds[name] += _timed(per_round, 3, newest(name))
    for name, timings in rounds.items():
        label = "Explorer newest 100, 30 days" + (f", name={name}" if name else "")
        plan, driver_ms = query_plan(database, lambda name=name: newest(name)(0))
        figures.append(
            Figure(
                "explorer",
                backend,
                label,
                "ms",
                timings,
                baseline_name="SELECT 1, fresh session",
                baseline_runs=base,
                targets=[Target("median", "<=", 20)],
                extra={
                    "calls": len(timings),
                    "p90_ms": sorted(timings)[int(len(timings) * 0.9)],
                    "plan": plan,
                    "statement_alone_ms": driver_ms,
                    "seeded": seeded,
                },
            )
        )
        console.print(
            f"  {label}: median {median(timings):.2f} ms (the statement alone: {driver_ms:.2f} ms; "
            f"SELECT 1: {median(base):.3f} ms)"
        )
    return figures


def _attribution(
    database: Database,
    workspace_id: uuid.UUID,
    samples: list[Sample],
    options: Options,
    seeded: dict[str, Any],
) -> list[Figure]:
    backend = database.backend
    rng = rng_for(17)
    picks = [rng.choice(samples) for _ in range(options.lookups)]
    found: list[int] = []
    with database.sessions() as session, session.begin():  # ingestion's transaction is already open

        def lookup(i: int) -> None:
            sample = picks[i % len(picks)]
            found.append(
                len(
                    stages.contact_candidates(
                        session, workspace_id, sample.contact_id, sample.at, WINDOW_HOURS
                    )
                )
            )

        def baseline(_i: int) -> None:
            _select_one(session)

        timings: list[float] = []
        base: list[float] = []
        per_round = max(1, options.lookups // 5)
        for round_ in range(5):
            base += _timed(per_round, 5, baseline)
            timings += _timed(per_round, 5, lambda i, offset=round_ * per_round: lookup(offset + i))
        sample = picks[0]
        plan, driver_ms = query_plan(
            database,
            lambda: stages.contact_candidates(
                session, workspace_id, sample.contact_id, sample.at, WINDOW_HOURS
            ),
        )
    label = "attribution look-up (contact_candidates)"
    console.print(
        f"  {label}: median {median(timings):.3f} ms (the statement alone: {driver_ms:.3f} ms; "
        f"SELECT 1: {median(base):.3f} ms), "
        f"{sum(found) / max(1, len(found)):.1f} candidates per look-up"
    )
    return [
        Figure(
            "attribution",
            backend,
            label,
            "ms",
            timings,
            baseline_name="SELECT 1, open session",
            baseline_runs=base,
            targets=[Target("median", "<=", 2)],
            extra={
                "calls": len(timings),
                "p90_ms": sorted(timings)[int(len(timings) * 0.9)],
                "candidates_per_lookup": sum(found) / max(1, len(found)),
                "window_hours": WINDOW_HOURS,
                "plan": plan,
                "statement_alone_ms": driver_ms,
                "seeded": seeded,
            },
        )
    ]
