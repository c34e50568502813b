"""Old code against new, at the same fixed rate, in one session: batch latency and peak, alternating.

    git worktree add /tmp/old <commit>
    .venv/bin/python bench/ab_latency.py --old /tmp/old/src --rate 3600 [--backend postgresql]

`run.py` measures latency at half of each server's own peak, so a faster server is tested at a higher
rate; this script holds the rate fixed, to tell whether a change made batches faster at a given load.
Two `comerix serve` processes (the old code through PYTHONPATH, the new one as installed), each with a
fresh database and the 1,000-goal workspace, are warmed up; then every round runs, for each in turn
(the order alternating between rounds), an open loop at `--rate` for `--duration` seconds and a short
closed loop for the peak. It prints every run and the medians.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from harness import DEFAULT_POSTGRES_URL, Backends, console, make_tenant, median, migrated, percentile
from ingest import (
    BATCH,
    TEMPLATES,
    Call,
    Server,
    analyze,
    build_templates,
    closed_loop,
    events_call,
    open_loop,
)
from sqlalchemy.engine import make_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--old", type=Path, required=True, help="the old code's src/ folder")
    parser.add_argument("--rate", type=float, default=3600, help="events/s of the open loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per latency run")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--goals", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="comerix-ab-"))
    backends = Backends(args.backend, workdir, make_url(args.postgres_url))
    templates = build_templates(TEMPLATES)
    labels = {"old": str(args.old.resolve()), "new": ""}
    servers: dict[str, Server] = {}
    calls: dict[str, Call] = {}
    try:
        for label, path in labels.items():
            url = backends.fresh(f"ab_{label}")
            with migrated(url) as database:
                tenant = make_tenant(database, args.goals)
            if path:  # the server inherits this process's environment
                os.environ["PYTHONPATH"] = path
            else:
                os.environ.pop("PYTHONPATH", None)
            servers[label] = Server(url, workdir, label)
            servers[label].start()
            calls[label] = events_call(templates, tenant)
        os.environ.pop("PYTHONPATH", None)
        for label, server in servers.items():  # warm-up, then statistics as run.py takes them
            closed_loop(server, calls[label], 12, 5)
            if args.backend == "postgresql":
                analyze(server.url)

        p50: dict[str, list[float]] = {label: [] for label in labels}
        p99: dict[str, list[float]] = {label: [] for label in labels}
        peaks: dict[str, list[float]] = {label: [] for label in labels}
        for round_ in range(args.rounds):
            order = list(labels) if round_ % 2 == 0 else list(reversed(labels))
            for label in order:
                server, call = servers[label], calls[label]
                result = open_loop(server, call, args.rate / BATCH, args.duration)
                latencies = sorted(result.latencies)
                p50[label].append(percentile(latencies, 50) * 1000)
                p99[label].append(percentile(latencies, 99) * 1000)
                peaks[label].append(closed_loop(server, call, 12, 4).rate * BATCH)
                console.print(
                    f"round {round_ + 1} {label}: p50 {p50[label][-1]:.1f} ms, p99 {p99[label][-1]:.1f} ms, "
                    f"peak {peaks[label][-1]:,.0f} events/s, errors {result.errors}"
                )
        console.print(f"\n{args.backend}, {args.goals} goals, {args.rate:,.0f} events/s, medians:")
        for label in labels:
            console.print(
                f"  {label}: p50 {median(p50[label]):.1f} ms, p99 {median(p99[label]):.1f} ms, "
                f"peak {median(peaks[label]):,.0f} events/s"
            )
    finally:
        for server in servers.values():
            server.stop()
        backends.cleanup()


if __name__ == "__main__":
    main()
