"""`make bench`: the performance figures of the issue, each a median of several runs and a ratio against
a baseline measured in the same run.

    .venv/bin/python bench/run.py [--quick] [--backend sqlite|postgresql|all]
                                  [--only ingest|explorer|attribution|summary|goals_report|steps|odata ...]
    make bench BENCH_ARGS="--quick --backend sqlite"
    .venv/bin/python bench/run.py --only ingest --configs 1000steps --latency-duration 0

- ingest: `comerix serve` over loopback HTTP, 100-event batches, 10 and 1,000 active goals, and 1,000
  of which 50 are multi-step, and 1,000 with a step on every event: peak events/s (closed loop), then
  p50/p99 batch latency at half that peak (open loop). Baselines: GET /healthz; 1,000 single-step goals
  for the multi-step and the steps configurations. A ratio is that of the medians; the table adds the
  median of each round's own ratio ("rounds"), which a machine speeding up or slowing down during the
  run moves less. The peak has 7 rounds (`--peak-repeats`): fewer leave the ratios to the noise of
  a shared machine (docs/benchmarks.md). `--configs` runs some configurations only (with their
  baselines), and `--latency-duration 0` the peak only.
- explorer: `explorer.newest` over 1,000,000 stored events, with and without a name filter.
  Baseline: SELECT 1.
- attribution: `stages.contact_candidates` with 1,000,000 conversations stored. Baseline: SELECT 1.
- summary: a 90-day Analytics Hub summary over 1,000,000 and 10,000,000 events (100,000 and 1,000,000
  outcomes). Baseline: SELECT 1, and the small volume against the large one (flatness).
- goals_report: the 90-day goals report (multi-step goals) over 100,000 and 1,000,000 cycles.
  Baseline: SELECT 1, and the small volume against the large one (flatness).
- steps: the Step Explorer's 90-day path tree (depth 5) over 1,000,000 conversations of about 10 steps:
  forward from the first steps, from a chosen step, backward from a late step, and with `contains`
  (target 300 ms each); and forward from the first steps over 100,000. Baseline: SELECT 1, and the small
  volume against the large one (flatness, no target).
- odata: GET /odata/v4/Outcomes with a 1,000-item `in` list (ids, contacts) and a 1,000-term `or` chain,
  over 100,000 outcomes. Baseline: the same request with one item.

PostgreSQL is found at COMERIX_BENCH_POSTGRES_URL (else COMERIX_TEST_POSTGRES_URL, else the local
server's `test` database); the bench creates databases named `comerix_bench_<pid>_*` there and drops
them at the end. Without a reachable server the PostgreSQL runs are skipped, and the output says so.

Results: a table on the terminal, a Markdown table for the README, and bench/results/latest.json.
A full run on SQLite and PostgreSQL takes about 21 minutes on 2 cores (6 of them the steps section); `--quick`
about 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import goals_report
import ingest
import odata
import orjson
import queries
import steps_report
import summary
from harness import (
    BENCH_ROOT,
    DEFAULT_POSTGRES_URL,
    Backends,
    Figure,
    console,
    machine,
    postgres_problem,
)
from rich.table import Table
from sqlalchemy.engine import make_url

SECTIONS = ("ingest", "explorer", "attribution", "summary", "goals_report", "steps", "odata")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 s runs: a smoke check")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (may be repeated)"
    )
    parser.add_argument("--concurrency", type=int, default=48, help="connections of the closed loop")
    parser.add_argument("--duration", type=float, help="seconds per peak run (default 5; quick 2)")
    parser.add_argument(
        "--latency-duration", type=float, help="seconds per latency run (default 10; quick 2; 0: none)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument(
        "--peak-repeats",
        type=int,
        help="ingest: peak runs of each configuration (default 7; quick 2), whose ratios are targets",
    )
    parser.add_argument(
        "--configs",
        type=lambda text: tuple(text.split(",")),
        default=tuple(ingest.CONFIGS),
        help=f"ingest: only these configurations, comma-separated ({', '.join(ingest.CONFIGS)}), with"
        " the baselines they are measured against",
    )
    parser.add_argument("--events", type=int, help="events stored for the Explorer (default 1,000,000)")
    parser.add_argument(
        "--conversations", type=int, help="conversations stored for the look-up (default 1,000,000)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("COMERIX_BENCH_POSTGRES_URL")
        or os.environ.get("COMERIX_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL database to connect to while creating and dropping the bench's databases",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where SQLite files and server logs go (default: a temp dir)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (SQLite files, server logs)"
    )
    parser.add_argument("--output", type=Path, default=BENCH_ROOT / "results" / "latest.json")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 5.0)
    if args.peak_repeats is None:
        args.peak_repeats = 2 if quick else 7
    if args.latency_duration is None:
        args.latency_duration = 2.0 if quick else 10.0
    args.events = args.events or (100_000 if quick else 1_000_000)
    args.conversations = args.conversations or (100_000 if quick else 1_000_000)
    args.summary_events = (100_000, 1_000_000) if quick else (1_000_000, 10_000_000)
    args.goals_cycles = (10_000, 100_000) if quick else (100_000, 1_000_000)
    args.steps_conversations = (10_000, 100_000) if quick else (100_000, 1_000_000)
    args.odata_outcomes = 20_000 if quick else 100_000
    args.sections = set(args.only or SECTIONS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.setswitchinterval(0.0005)  # the load threads must not wait 5 ms for the GIL to note a reply
    started = time.perf_counter()
    admin_url = make_url(args.postgres_url)
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    skipped: list[str] = []
    if "postgresql" in backends:
        problem = postgres_problem(admin_url)
        if problem is not None:
            backends.remove("postgresql")
            message = f"PostgreSQL skipped: not reachable at {admin_url.render_as_string()} ({problem})"
            skipped.append(message)
            console.print(f"[bold yellow]{message}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        console.print(
            f"[yellow]The load average is {load:.1f}: something else is using the CPU, and the figures "
            "will show it. A quiet machine gives steadier numbers."
        )
    workdir = Path(tempfile.mkdtemp(prefix="comerix-bench-", dir=args.workdir))
    figures: list[Figure] = []
    try:
        for backend in backends:
            databases = Backends(backend, workdir, admin_url)
            try:
                if "ingest" in args.sections:
                    figures += ingest.run(
                        databases,
                        workdir,
                        ingest.Options(
                            concurrency=args.concurrency,
                            duration=args.duration,
                            latency_duration=args.latency_duration,
                            warmup=1.0 if args.quick else 3.0,
                            repeats=args.repeats,
                            peak_repeats=args.peak_repeats,
                            configs=args.configs,
                        ),
                    )
                if args.sections & {"explorer", "attribution"}:
                    figures += queries.run(
                        databases,
                        args.sections,
                        queries.Options(
                            events=args.events,
                            conversations=args.conversations,
                            explorer_calls=25,
                            lookups=200,
                        ),
                    )
                if "summary" in args.sections:
                    small, large = args.summary_events
                    figures += summary.run(databases, summary.Options(small=small, large=large, calls=25))
                if "goals_report" in args.sections:
                    small, large = args.goals_cycles
                    figures += goals_report.run(
                        databases, goals_report.Options(small=small, large=large, calls=25)
                    )
                if "steps" in args.sections:
                    small, large = args.steps_conversations
                    figures += steps_report.run(
                        databases, steps_report.Options(small=small, large=large, calls=10)
                    )
                if "odata" in args.sections:
                    figures += odata.run(
                        databases, workdir, odata.Options(outcomes=args.odata_outcomes, calls=15)
                    )
            finally:
                databases.cleanup()
    finally:
        if args.keep:
            console.print(f"Work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    show(figures)
    results = {
        "machine": machine(),
        "options": {
            key: (
                str(value) if isinstance(value, Path) else sorted(value) if isinstance(value, set) else value
            )
            for key, value in vars(args).items()
            if key != "postgres_url"
        },
        "skipped": skipped,
        "elapsed_s": round(elapsed, 1),
        "figures": [figure.as_dict() for figure in figures],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    sys.stdout.write("\n" + markdown(figures, results) + "\n")
    console.print(f"\nResults written to {args.output} ({elapsed / 60:.1f} min).")
    missed = [figure for figure in figures if figure.met is False]
    if missed:
        console.print(f"[bold red]{len(missed)} figure(s) miss their target.")
    return 1 if missed and args.strict else 0


# --- output -------------------------------------------------------------------------------------------


def number(value: float | None, unit: str) -> str:
    if value is None or value != value:
        return "-"
    if unit in ("events/s", "req/s"):
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def row(figure: Figure) -> list[str]:
    return [
        figure.backend,
        figure.name,
        f"{number(figure.median, figure.unit)} {figure.unit}",
        ""
        if figure.baseline_name is None
        else f"{figure.baseline_name}: {number(figure.baseline, figure.unit)}",
        "" if figure.ratio is None else f"{figure.ratio:.2f}x" + _paired(figure),
        "; ".join(str(target) for target in figure.targets),
        verdict(figure.met),
    ]


def _paired(figure: Figure) -> str:
    paired = figure.extra.get("paired_ratio_median")
    return "" if paired is None else f" (rounds {paired:.2f}x)"


HEADERS = ["backend", "figure", "median", "baseline (median)", "ratio", "target", "met"]


def show(figures: list[Figure]) -> None:
    table = Table(title="Comerix benchmark (medians; ratios against a baseline of the same run)")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in ("median", "ratio") else "left")
    for figure in figures:
        cells = row(figure)
        if figure.met is False:
            cells[-1] = "[bold red]NO"
        elif figure.met:
            cells[-1] = "[green]yes"
        table.add_row(*cells)
    console.print(table)


def markdown(figures: list[Figure], results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        f"Measured {info['date'][:10]} at {info['commit'] or 'a working tree'}"
        + (f" with uncommitted changes (src {info['src_sha256']})" if info["src_uncommitted_changes"] else "")
        + f", {info['cpus']} cores "
        f"({info['cpu'] or info['platform']}), Python {info['python']}"
        + (", quick sizes" if results["options"]["quick"] else "")
        + ".",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---:" if header in ("median", "ratio") else "---" for header in HEADERS) + "|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row(figure)) + " |" for figure in figures
    ]
    lines += [f"\n{message}" for message in results["skipped"]]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
