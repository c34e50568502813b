"""The goals report of multi-step goals at volume: a 90-day report over 100,000 and 1,000,000 cycles
(10,000 and 100,000 with `--quick`), on each backend.

The cycles are generated in Python (four multi-step goals of 4 to 6 steps, five flows, a funnel where
each step is reached by about 70 % of the cycles that reached the one before, now and then skipping
one) and counted into the cycle rollups (`goal_cycle_rollups`, by flow, and `goal_cycle_day_rollups`,
summed over flows) by the rollup stage's own code (`cycle_rollups.cycle_sums` and `add_cycle_sums`),
each as ingestion reports a cycle first seen in its final state. The cycles themselves are not stored:
the report never reads them. On PostgreSQL the tables are vacuumed and
analysed after seeding, as autovacuum would have done on a live database. Each timed call is the real
`goal_reports.parse_query` + `goal_reports.goals_report`, in a fresh session, after a warm-up; the two
volumes and the baseline are measured in turns.

Figures: the median of the report at each volume (target ≤ 100 ms at the large one), against `SELECT 1`
in a fresh session; and flatness: the time at the small volume against the time at the large one
(target ratio ≥ 0.7). The report is not filtered by flow, so it reads the rollup summed over flows,
whose rows depend on days, goals, states and the masks seen, not on cycles (about 4,400 rows at
100,000 cycles and 4,600 at 1,000,000: masks too rare to appear every day at the small volume do at the
large one). The rollup by flow grows more (17,000 to 23,000 rows: each rare mask in more flows); the
output prints both tables' rows.

    .venv/bin/python bench/goals_report.py [--quick] [--backend sqlite|postgresql|all]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import (
    DEFAULT_POSTGRES_URL,
    Backends,
    Figure,
    Target,
    console,
    make_tenant,
    migrated,
    postgres_problem,
    progress,
    rng_for,
    timed,
)
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from comerix.analytics import cycle_rollups, goal_reports, sums
from comerix.analytics.models import GoalCycleDayRollup, GoalCycleRollup
from comerix.auth import service as auth
from comerix.auth.models import User
from comerix.db import Database
from comerix.db.bulk import codec_for
from comerix.goals import service as goals_service
from comerix.goals.schemas import GoalCreate
from comerix.telemetry.pipeline import CycleChange, CycleTally
from comerix.vocabulary import CycleState, GoalKind
from comerix.workspaces.models import Workspace

DAYS = 90
CHUNK = 50_000
ZONE = "Europe/Berlin"
FLOWS = ("sales", "support", "onboarding", "returns", None)
GOALS = (  # (code, step count, share of the cycles)
    ("booking", 4, 0.4),
    ("purchase", 5, 0.3),
    ("support_case", 6, 0.2),
    ("onboarding", 5, 0.1),
)
REACH = 0.7  # a cycle that reached a step goes on to the next with this chance
SKIP = 0.1  # ... and skips a step (reaching the one after) with this one


@dataclass(frozen=True)
class Options:
    small: int  # cycles at the small volume
    large: int  # cycles at the large volume
    calls: int


@dataclass(frozen=True)
class Process:
    """A multi-step goal as the generator sees it: its id, and what each step is worth, in order."""

    goal_id: uuid.UUID
    worth: tuple[tuple[int, Decimal, Decimal], ...]  # per step: seconds, cost savings, revenue earned


def _goals(database: Database, workspace_id: uuid.UUID) -> list[tuple[Process, float]]:
    """The multi-step goals of GOALS, made through the goals service; the last step completes."""
    now = datetime.now(UTC)
    found = []
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.workspace_id == workspace_id)).first()
        assert user is not None
        actor = auth.principal_of(user)
        for n, (code, steps, share) in enumerate(GOALS):
            definition = [
                {
                    "key": f"step_{i}",
                    "name": f"Step {i}",
                    "trigger_event": f"{code}_{i}",
                    "completion": i == steps - 1,
                    "time_saved_seconds": 30 * i,
                    "cost_savings": str(Decimal("0.25") * i),
                    "revenue_earned": "49.90" if i == steps - 1 else "0",
                }
                for i in range(steps)
            ]
            body = GoalCreate.model_validate(
                {
                    "code": code,
                    "name": code.title(),
                    "kind": GoalKind.CONVERSION,
                    "is_primary": n == 0,
                    "steps": definition,
                }
            )
            goal = goals_service.create(session, workspace_id, body, actor=actor, now=now)
            worth = tuple(
                (
                    int(step["time_saved_seconds"]),
                    Decimal(step["cost_savings"]),
                    Decimal(step["revenue_earned"]),
                )
                for step in definition
            )
            found.append((Process(goal.id, worth), share))
    return found


def _cycle(process: Process, rng: Any) -> CycleTally:
    """One cycle's final tally: the start step, then on through the funnel (slots are the steps'
    places, as for goals never reordered)."""
    reached, last = [0], 0
    while last + 1 < len(process.worth):
        draw = rng.random()
        if draw < REACH:
            last += 1
        elif draw < REACH + SKIP and last + 2 < len(process.worth):
            last += 2
        else:
            break
        reached.append(last)
    if last == len(process.worth) - 1:
        state = CycleState.COMPLETED
    else:
        state = CycleState.PARTIAL if len(reached) > 1 else CycleState.INCOMPLETE
    if state is CycleState.INCOMPLETE:
        return CycleTally(state, 1, 0, Decimal(0), Decimal(0))
    worth = [process.worth[slot] for slot in reached]
    return CycleTally(
        state,
        sum(1 << slot for slot in reached),
        sum(w[0] for w in worth),
        sum((w[1] for w in worth), Decimal(0)),
        sum((w[2] for w in worth), Decimal(0)),
    )


def _seed(
    database: Database, workspace_id: uuid.UUID, cycles: int, now: datetime
) -> tuple[float, dict[str, int]]:
    """`cycles` cycles over the last DAYS days, into the rollups. The seconds it took, and the rows of
    each rollup."""
    codec = codec_for(database.backend)
    rng = rng_for(9)
    processes = _goals(database, workspace_id)
    bounds, total = [], 0.0
    for process, share in processes:
        total += share
        bounds.append((total, process))
    start, span = now - timedelta(days=DAYS), timedelta(days=DAYS)
    began = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"counting {cycles:,} cycles into the rollups", total=cycles)
        for low in range(0, cycles, CHUNK):
            high = min(low + CHUNK, cycles)
            changes = []
            for i in range(low, high):
                draw = rng.random() * total
                process = next(p for bound, p in bounds if draw < bound)
                started = start + span * (i / cycles)
                flow = FLOWS[rng.randrange(len(FLOWS))]
                changes.append(CycleChange(process.goal_id, started, flow, None, _cycle(process, rng)))
            with database.transaction() as session:
                sums = cycle_rollups.cycle_sums(changes, ZONE)
                cycle_rollups.add_cycle_sums(session.connection(), codec, workspace_id, sums)
            bar.advance(task, high - low)
    if database.backend == "postgresql":
        # Each chunk updated most rollup rows again; on a live database autovacuum would have cleared
        # the dead versions and analysed the table, as this does.
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    rows = {}
    with database.sessions() as session:
        for model in (GoalCycleRollup, GoalCycleDayRollup):
            found = session.scalar(
                select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
            )
            rows[model.__tablename__] = int(found or 0)
    return time.perf_counter() - began, rows


@dataclass(frozen=True)
class Volume:
    """A database holding one volume of cycles, ready to be measured."""

    cycles: int
    database: Database
    workspace_id: uuid.UUID
    now: datetime
    rollup_rows: dict[str, int]  # by table
    seed_seconds: float

    def report(self) -> None:
        """One 90-day goals report, in a fresh session, as the API makes it."""
        local_today = self.now.astimezone(sums.zone(ZONE)).date()
        params: dict[str, str | None] = {
            "from": (local_today - timedelta(days=DAYS - 1)).isoformat(),
            "to": local_today.isoformat(),
            "interval": "day",
        }
        with self.database.sessions() as session:
            workspace = session.get(Workspace, self.workspace_id)
            assert workspace is not None
            query = goal_reports.parse_query(session, self.workspace_id, params)
            result = goal_reports.goals_report(session, workspace, query)
            assert sum(goal.started for goal in result.goals) > 0

    def select_one(self) -> None:
        with self.database.sessions() as session:
            session.execute(text("SELECT 1"))


def run(backends: Backends, options: Options) -> list[Figure]:
    """Both volumes are seeded first, then measured in turns with the baseline (5 rounds), so that a
    busy neighbour slows them alike and the flatness ratio stays fair."""
    backend = backends.name
    console.rule(f"[bold]Goals report at volume: {backend}")
    with ExitStack() as stack:
        volumes = []
        for cycles in (options.small, options.large):
            database = stack.enter_context(migrated(backends.fresh(f"goals_report_{cycles}")))
            workspace_id = uuid.UUID(make_tenant(database, 2).workspace_id)
            now = datetime.now(UTC)
            seconds, rows = _seed(database, workspace_id, cycles, now)
            counts = ", ".join(f"{n:,} in {table}" for table, n in rows.items())
            console.print(f"  {cycles:,} cycles counted in {seconds:.0f} s: rollup rows {counts}")
            volumes.append(Volume(cycles, database, workspace_id, now, rows, seconds))
        timings: dict[int, list[float]] = {volume.cycles: [] for volume in volumes}
        baseline: list[float] = []
        per_round = max(1, options.calls // 5)
        for _ in range(5):
            for volume in volumes:
                timings[volume.cycles] += timed(per_round, volume.report, warmup=3)
            baseline += timed(per_round, volumes[0].select_one, warmup=3)
    backends.cleanup()
    figures = [
        Figure(
            "goals_report",
            backend,
            f"goals report, 90 days, {volume.cycles:,} cycles",
            "ms",
            timings[volume.cycles],
            "SELECT 1, fresh session",
            baseline,
            [Target("median", "<=", 100)] if volume.cycles == options.large else [],
            {
                "cycles": volume.cycles,
                "rollup_rows": volume.rollup_rows["goal_cycle_rollups"],
                "day_rollup_rows": volume.rollup_rows["goal_cycle_day_rollups"],
                "seed_seconds": round(volume.seed_seconds, 1),
            },
        )
        for volume in volumes
    ]
    figures.append(
        Figure(
            "goals_report",
            backend,
            f"flatness: time at {options.small:,} cycles vs at {options.large:,}",
            "ms",
            timings[options.small],
            f"goals report at {options.large:,} cycles",
            timings[options.large],
            [Target("ratio", ">=", 0.7)],
        )
    )
    return figures


def main() -> int:
    """Run this section alone and print its figures (bench/run.py runs it with the others)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 cycles")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--calls", type=int, default=25, help="timed reports per volume")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("COMERIX_BENCH_POSTGRES_URL")
        or os.environ.get("COMERIX_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
    )
    args = parser.parse_args()
    options = Options(
        small=10_000 if args.quick else 100_000, large=100_000 if args.quick else 1_000_000, calls=args.calls
    )
    admin_url = make_url(args.postgres_url)
    names = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if "postgresql" in names and (problem := postgres_problem(admin_url)) is not None:
        console.print(f"[yellow]PostgreSQL skipped: {problem}")
        names.remove("postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="comerix-bench-goals-"))
    figures: list[Figure] = []
    try:
        for name in names:
            backends = Backends(name, workdir, admin_url)
            try:
                figures += run(backends, options)
            finally:
                backends.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    missed = False
    for figure in figures:
        baseline = "" if figure.baseline is None else f"  ({figure.baseline_name}: {figure.baseline:.2f} ms"
        ratio = "" if figure.ratio is None else f", ratio {figure.ratio:.2f})"
        met = {True: "met", False: "MISSED", None: ""}[figure.met]
        missed = missed or figure.met is False
        console.print(f"{figure.backend:>10}  {figure.name}: {figure.median:.2f} ms{baseline}{ratio}  {met}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
