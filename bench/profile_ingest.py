"""Where the time of one `POST /events` goes, in-process, under cProfile (no py-spy needed).

    .venv/bin/python bench/profile_ingest.py [--goals 1000] [--multi-step 50 [--busy]] [--steps]
                                             [--batches 300] [--group 6] [--backend sqlite] [--unprepared]

The server spends a request's CPU in two threads, which cProfile (per thread) sees separately:

1. the event loop: the ASGI app called directly (no socket, no uvicorn): routing, the CORS middleware,
   the key check (cached), reading and parsing the body, `parse_events`, and validating. The
   group-commit writer is replaced by a stub that hands back answers serialised beforehand, so this
   part measures only the request's own work;
2. the writer (a process of its own under `comerix serve`): `pipeline.ingest_group` (the stages of
   `comerix.ingestion.STAGES`) for groups of
   `--group` batches in one transaction and its commit, as `IngestWriter` runs them under load. The
   batches come prepared (`batches.prepare`: goals matched, property paths listed), as the serving
   process prepares those that arrive while the writer is busy, which at peak is nearly all of them;
   `--unprepared` hands them over as they are, so the writer does those steps too.

What the two leave out of a request's CPU (measured by `run.py` from /proc) is uvicorn and its HTTP
parser, asyncio and the sockets. The profiles are saved as
bench/results/profile_{writer,request}_<backend>_g<goals>_ms<multi-step>.prof (open them with
`python -m pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from harness import BENCH_ROOT, DEFAULT_POSTGRES_URL, Backends, console, make_tenant, migrated
from ingest import BATCH, TEMPLATES, analyze, build_templates, unique_body
from sqlalchemy.engine import make_url

from comerix.app import create_app
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.runtime import tune_garbage_collector
from comerix.settings import Settings
from comerix.telemetry.batches import Batch, prepare
from comerix.telemetry.pipeline import ingest_group
from comerix.telemetry.schemas import IngestResult, parse_events


class _StubWriter:
    """Answers each submitted batch with the next answer computed beforehand by the real pipeline."""

    def __init__(self, answers: list[bytes]) -> None:
        self._answers = answers
        self._next = 0

    async def submit(self, _batch: Batch) -> bytes:
        answer = self._answers[self._next % len(self._answers)]
        self._next += 1
        return answer


async def _post(app: Any, key: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/events",
        "raw_path": b"/events",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _table(profile: cProfile.Profile, top: int, sort: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--goals", type=int, default=1000)
    parser.add_argument("--multi-step", type=int, default=0, help="of --goals, how many are multi-step")
    parser.add_argument("--busy", action="store_true", help="multi-step goals all on the load's names")
    parser.add_argument("--steps", action="store_true", help="every event marks an analytics step")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--group", type=int, default=6, help="batches per writer transaction")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--unprepared",
        action="store_true",
        help="hand the writer batches as they are; by default they are prepared first (goals matched,"
        " paths listed), as the serving process does for the batches that come while the writer is busy",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    results = BENCH_ROOT / "results"
    results.mkdir(exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="comerix-profile-") as workdir:
        backends = Backends(args.backend, Path(workdir), make_url(args.postgres_url))
        try:
            with migrated(backends.fresh("profile")) as database:
                tenant = make_tenant(database, args.goals, args.multi_step, args.busy)
                templates = build_templates(TEMPLATES, steps=args.steps)
                bodies = [unique_body(templates) for _ in range(args.batches)]
                workspace_id = uuid.UUID(tenant.workspace_id)
                index = GoalIndex()

                # Writer thread: the pipeline in groups, each group one transaction; timed, then profiled.
                now = datetime.now(UTC)

                with database.transaction() as session:
                    goals = index.current(session, workspace_id)
                assert goals is not None

                def batch() -> Batch:
                    parsed = Batch(workspace_id, parse_events(orjson.loads(unique_body(templates)), now), now)
                    return parsed if args.unprepared else prepare(parsed, goals, database.backend)

                def write(batches: list[Batch]) -> list[IngestResult]:
                    done: list[IngestResult] = []
                    for low in range(0, len(batches), args.group):
                        with database.transaction() as session:
                            group = ingest_group(session, batches[low : low + args.group], index, STAGES)
                        done += [answer for answer in group if isinstance(answer, IngestResult)]
                    return done

                write([batch() for _ in range(args.group)])  # warm the goal index and statement caches
                # The collector as the writer process and `comerix serve` run it: untuned, its full
                # collections over the 1,000 goals' index landed in whatever was running.
                tune_garbage_collector()
                if args.backend == "postgresql":
                    write([batch() for _ in range(args.batches)])  # some volume, then statistics, as
                    analyze(database.url)  # run.py has after its warm-up
                timed = [batch() for _ in range(args.batches)]
                started = time.perf_counter()
                write(timed)
                writer_seconds = time.perf_counter() - started
                profiled = [batch() for _ in range(args.batches)]
                writer = cProfile.Profile()
                writer.enable()
                answers = write(profiled)
                writer.disable()
                name = f"{args.backend}_g{args.goals}_ms{args.multi_step}" + ("_steps" if args.steps else "")
                writer.dump_stats(results / f"profile_writer_{name}.prof")

                # Event loop: the whole ASGI app with the writer stubbed; timed, then profiled.
                settings = Settings(data_dir=Path(workdir), secret_key="p" * 40)  # type: ignore[call-arg]
                app = create_app(settings, database=database)
                app.state.writer = _StubWriter([answer.to_json() for answer in answers])
                bodies = [unique_body(templates) for _ in range(args.batches)]
                loop = asyncio.new_event_loop()

                async def posts() -> None:  # one task for all, as uvicorn's loop outlives its requests
                    for body in bodies:
                        status = await _post(app, tenant.public_key, body)
                        assert status == 202, status

                def post_all() -> None:
                    loop.run_until_complete(posts())

                post_all()  # warm-up: the key cache, pydantic's and FastAPI's lazy set-up
                started = time.perf_counter()
                post_all()
                request_seconds = time.perf_counter() - started
                request = cProfile.Profile()
                request.enable()
                post_all()
                request.disable()
                loop.close()
                request.dump_stats(results / f"profile_request_{name}.prof")
        finally:
            backends.cleanup()

    events = args.batches * BATCH
    outcomes = sum(len(item.outcomes) for answer in answers for item in answer.results)
    handed = "as they are" if args.unprepared else "prepared"
    console.rule(
        f"Writer thread: pipeline.ingest, {args.goals} goals, groups of {args.group} batches {handed}"
    )
    console.print(_table(writer, args.top, "cumulative"), markup=False, highlight=False)
    console.print(_table(writer, args.top, "tottime"), markup=False, highlight=False)
    console.rule("Event loop: the ASGI app, writer stubbed")
    console.print(_table(request, args.top, "cumulative"), markup=False, highlight=False)
    console.print(_table(request, args.top, "tottime"), markup=False, highlight=False)
    console.rule("Per event, timed with the profiler off")
    console.print(
        f"{events:,} events, {outcomes / events:.2f} outcomes per event, {args.backend}\n"
        f"writer (ingest + commit): {writer_seconds / events * 1e6:7.1f} µs/event "
        f"→ at most {events / writer_seconds:,.0f} events/s on one core\n"
        f"request (ASGI app):       {request_seconds / events * 1e6:7.1f} µs/event "
        f"→ at most {events / request_seconds:,.0f} events/s on one core\n"
        f"both, one process:        {(writer_seconds + request_seconds) / events * 1e6:7.1f} µs/event "
        f"→ at most {events / (writer_seconds + request_seconds):,.0f} events/s (the writer thread)\n"
        f"both, writer process:     at most {events / max(writer_seconds, request_seconds):,.0f} events/s "
        "(comerix serve: each on its own core; uvicorn and the pipe not counted)"
    )


if __name__ == "__main__":
    main()
