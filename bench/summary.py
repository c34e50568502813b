"""The Analytics Hub's summary at volume: a 90-day summary over 1,000,000 and 10,000,000 stored events
(100,000 and 1,000,000 outcomes), on each backend.

The data is written straight into the tables (events, conversations, outcomes), then the rollups are
built by `comerix.analytics.rollups.rebuild`, the very code that recomputes them after a time-zone
change, so the summary reads what ingestion would have left. Each timed call is the real
`reports.parse_query` + `reports.summary`, in a fresh session, after a warm-up.

Figures: the median of the summary at each volume (target ≤ 100 ms at the large one), against
`SELECT 1` in a fresh session; and flatness: the time at the small volume against the time at the
large one (target ratio ≥ 0.7).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from harness import Backends, Figure, Target, console, make_tenant, migrated, progress, rng_for, timed
from sqlalchemy import select, text

from comerix.analytics import reports, rollups, sums
from comerix.conversions.records import COLUMNS as OUTCOME_COLUMNS
from comerix.db import Database, new_id
from comerix.db.bulk import codec_for, insert_rows
from comerix.goals.models import Goal
from comerix.telemetry.batches import EVENT_COLUMNS
from comerix.workspaces.models import Workspace

DAYS = 90
CHUNK = 20_000
FLOWS = ("sales", "support", "onboarding", "returns")
CURRENCIES = (
    ("EUR", Decimal("1")),
    ("USD", Decimal("0.92")),
    ("GBP", Decimal("1.17")),
    ("CHF", Decimal("1.04")),
)
ATTRIBUTIONS = ("conversation", "window", "none")
NAMES = ("message_sent", "message_received", "product_viewed", "purchase", "add_to_cart")


@dataclass(frozen=True)
class Options:
    small: int  # events at the small volume
    large: int  # events at the large volume
    calls: int


def _seed(database: Database, workspace_id: uuid.UUID, events: int, now: datetime) -> float:
    """`events` events in chats of 10, one outcome per 10 events; then the rollups. The seconds it took."""
    codec = codec_for(database.backend)
    rng = rng_for(5)
    with database.sessions() as session:
        goals = [
            (goal.id, goal.kind)
            for goal in session.scalars(select(Goal).where(Goal.workspace_id == workspace_id))
        ]
    start, span = now - timedelta(days=DAYS), timedelta(days=DAYS)
    workspace = codec.id(workspace_id)
    began = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"seeding {events:,} events, {events // 10:,} chats and outcomes", total=events)
        for low in range(0, events, CHUNK):
            high = min(low + CHUNK, events)
            event_rows, chat_rows, outcome_rows = [], [], []
            for i in range(low, high):
                chat = i // 10
                at = start + span * (i / events)
                flow = FLOWS[chat % len(FLOWS)]
                event_rows.append(
                    (
                        workspace,
                        codec.id(new_id()),
                        f"e{i}",
                        NAMES[i % len(NAMES)],
                        codec.time(at),
                        codec.time(at),
                        f"c{chat}",
                        f"p{chat // 3}",
                        flow,
                        "widget",
                        '{"n": 1}',
                    )
                )
                if i % 10 == 0:
                    chat_rows.append(
                        (
                            workspace,
                            f"c{chat}",
                            codec.time(at),
                            codec.time(at + timedelta(minutes=9)),
                            None,
                            f"p{chat // 3}",
                            flow,
                        )
                    )
                if i % 10 == 9:
                    goal_id, kind = goals[rng.randrange(len(goals))]
                    currency, rate = CURRENCIES[rng.randrange(len(CURRENCIES))]
                    value = Decimal(rng.randrange(100, 30000)) / 100
                    credit = ATTRIBUTIONS[rng.randrange(3)]
                    outcome_rows.append(
                        (
                            workspace,
                            codec.id(new_id()),
                            codec.id(goal_id),
                            "g",
                            kind.value,
                            codec.id(new_id()),
                            codec.time(at),
                            codec.time(at),
                            codec.decimal(value),
                            currency,
                            codec.decimal((value * rate).quantize(Decimal("0.01"))),
                            "EUR",
                            None,
                            credit,
                            None if credit == "none" else f"c{chat}",
                            None if credit == "none" else flow,
                            f"p{chat // 3}",
                            "widget",
                        )
                    )
            with database.transaction() as session:
                connection = session.connection()
                insert_rows(connection, codec, "events", EVENT_COLUMNS, event_rows)
                insert_rows(
                    connection,
                    codec,
                    "conversations",
                    (
                        "workspace_id",
                        "id",
                        "started_at",
                        "last_activity_at",
                        "ended_at",
                        "contact_id",
                        "flow_id",
                    ),
                    chat_rows,
                )
                insert_rows(connection, codec, "outcomes", OUTCOME_COLUMNS, outcome_rows)
            bar.advance(task, high - low)
        rebuild = bar.add_task("building the rollups", total=None)
        with database.transaction() as session:
            rollups.rebuild(session, workspace_id, "Europe/Berlin")
        bar.update(rebuild, total=1, completed=1)
    if database.backend == "postgresql":
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - began


def _measure(
    database: Database, workspace_id: uuid.UUID, now: datetime, calls: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per 90-day summary, and per SELECT 1 (the baseline), interleaved."""
    local_today = now.astimezone(sums.zone("Europe/Berlin")).date()
    params: dict[str, str | None] = {
        "from": (local_today - timedelta(days=DAYS - 1)).isoformat(),
        "to": local_today.isoformat(),
        "interval": "day",
    }

    def summary() -> None:
        with database.sessions() as session:
            workspace = session.get(Workspace, workspace_id)
            assert workspace is not None
            result = reports.summary(session, workspace, reports.parse_query(session, workspace_id, params))
            assert result.totals.conversions + result.totals.engagements + result.totals.custom > 0

    def select_one() -> None:
        with database.sessions() as session:
            session.execute(text("SELECT 1"))

    timings, baseline = [], []
    for _ in range(5):
        timings += timed(max(1, calls // 5), summary, warmup=3)
        baseline += timed(max(1, calls // 5), select_one, warmup=3)
    return timings, baseline


def run(backends: Backends, options: Options) -> list[Figure]:
    backend = backends.name
    console.rule(f"[bold]Analytics summary at volume: {backend}")
    figures: list[Figure] = []
    runs: dict[int, list[float]] = {}
    for events in (options.small, options.large):
        with migrated(backends.fresh(f"summary_{events}")) as database:
            workspace_id = uuid.UUID(make_tenant(database, 10).workspace_id)
            now = datetime.now(UTC)
            seconds = _seed(database, workspace_id, events, now)
            console.print(f"  {events:,} events and {events // 10:,} outcomes seeded in {seconds:.0f} s")
            timings, baseline = _measure(database, workspace_id, now, options.calls)
            runs[events] = timings
            figures.append(
                Figure(
                    "summary",
                    backend,
                    f"summary, 90 days, {events:,} events / {events // 10:,} outcomes",
                    "ms",
                    timings,
                    "SELECT 1, fresh session",
                    baseline,
                    [Target("median", "<=", 100)] if events == options.large else [],
                    {"events": events, "outcomes": events // 10, "seed_seconds": round(seconds, 1)},
                )
            )
        backends.cleanup()
    figures.append(
        Figure(
            "summary",
            backend,
            f"flatness: time at {options.small:,} events vs at {options.large:,}",
            "ms",
            runs[options.small],
            f"summary at {options.large:,} events",
            runs[options.large],
            [Target("ratio", ">=", 0.7)],
        )
    )
    return figures
