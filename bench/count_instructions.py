"""Instructions an event of each part of ingestion, counted by callgrind: figures a shared machine
cannot disturb, to compare two configurations (or the code before and after a change) stage by stage.

    .venv/bin/python bench/count_instructions.py [--multi-step 0,50] [--busy] [--steps]
                                                 [--goals 1000] [--batches 30] [--group 6]
                                                 [--by-library cycles.advance,...]

Each configuration (of `--multi-step`) runs in a child process under `valgrind --tool=callgrind`,
two at a time, on SQLite: a workspace made as `bench/run.py` makes it, a warm-up, then `--batches` of
the bench's bodies, counted in two parts:

1. the serving process's work on a batch: `prepare` (goals matched, steps found, rows made) and
   pickling it for the writer;
2. the writer process's: unpickling, then `pipeline.ingest_group` in groups of `--group` batches, one
   transaction each, every stage counted apart, and the commit with the next group's set-up.

A part's count is dumped when it ends (`callgrind_control --dump`); what a dump itself costs the
process, measured at the start, is taken off each. Python's run of the same code differs by a
fraction of a percent from one run to the next (ids and hash seeds); two configurations an order of
magnitude apart in wall-clock noise compare to within that. Counts leave out what waits (the commit's
fsync) and what a core's caches make slower: use them to find where the work is, and the peak over
HTTP (`bench/run.py`) to say what it comes to. About 2 minutes for two configurations of 30 batches.

`--by-library` splits the parts named by where their instructions ran (`callgrind_annotate`, by the
object file of each function): Python (libpython: the interpreter's loop, and the objects it works on:
dicts, tuples, strings, allocation), SQLite, libc, and the other C libraries (decimal, msgspec, the
drivers, any module compiled from the project's own code). Python's share is what fewer operations on
Python objects can shrink, compiled or not; SQLite's is the database's own work.
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from harness import Backends, console, make_tenant, migrated
from ingest import BATCH, TEMPLATES, build_templates, unique_body
from sqlalchemy.engine import make_url

from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.runtime import tune_garbage_collector
from comerix.telemetry.batches import Batch, prepare
from comerix.telemetry.pipeline import Group, Stage, ingest_group
from comerix.telemetry.schemas import parse_events

CALIBRATION = 8  # dumps with nothing between them, for what a dump costs
_LABEL = re.compile(r"^desc: Trigger: .*?dump (.+?)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def dump(label: str) -> None:
    """End the count of `label` here: callgrind writes what ran since the previous dump, and starts
    again from zero."""
    control("--dump=" + label)


def control(option: str) -> None:
    """Tell the callgrind this process runs under (`callgrind_control`, which valgrind installs)."""
    command = ["callgrind_control", option, str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed arguments


def counted(stage: Stage) -> Stage:
    @functools.wraps(stage)
    def run(group: Group) -> Group:
        done = stage(group)
        dump(f"{stage.__module__.rsplit('.', 1)[-1]}.{stage.__name__}")
        return done

    return run


def group_start(group: Group) -> Group:
    """A stage of nothing, first: ends the count of the group's set-up (its terms and goals)."""
    dump("group-set-up")
    return group


def child(args: argparse.Namespace) -> None:
    """Under callgrind: one configuration's batches, counted part by part."""
    with tempfile.TemporaryDirectory(prefix="comerix-count-") as workdir:
        backends = Backends("sqlite", Path(workdir), make_url("sqlite://"))
        with migrated(backends.fresh("count")) as database:
            tenant = make_tenant(database, args.goals, args.multi_step, args.busy)
            templates = build_templates(TEMPLATES, steps=args.steps)
            workspace_id, index, now = uuid.UUID(tenant.workspace_id), GoalIndex(), datetime.now(UTC)
            with database.transaction() as session:
                goals = index.current(session, workspace_id)
            assert goals is not None

            def serve(count: int) -> list[bytes]:
                parsed = [
                    Batch(workspace_id, parse_events(orjson.loads(unique_body(templates)), now), now)
                    for _ in range(count)
                ]
                if args.count:
                    dump("parsing")
                prepared = (prepare(b, goals, database.backend) for b in parsed)
                return [pickle.dumps(b, pickle.HIGHEST_PROTOCOL) for b in prepared]

            def write(wire: list[bytes], stages: tuple[Stage, ...]) -> None:
                batches = [pickle.loads(body) for body in wire]  # noqa: S301 - pickled just above
                if args.count:
                    dump("writer:unpickle")
                for low in range(0, len(batches), args.group):
                    with database.transaction() as session:
                        ingest_group(session, batches[low : low + args.group], index, stages)
                    if args.count:
                        dump("commit")

            write(serve(60), STAGES)  # warm-up: caches, statements, the rate book
            tune_garbage_collector()
            args.count = True
            control("--instr=on")
            for _ in range(CALIBRATION):
                dump("dump")
            wire = serve(args.batches)
            dump("serving:prepare+pickle")
            write(wire, (group_start, *(counted(stage) for stage in STAGES)))


def dumps_in(folder: Path) -> list[tuple[str, int]]:
    """Each dump's label and instructions, from callgrind's files in `folder`."""
    found = []
    for path in folder.glob("callgrind.out.*"):
        head = path.read_text(errors="replace")
        label, value = _LABEL.search(head), _TOTAL.search(head)
        if label and value:
            found.append((label.group(1), int(value.group(1))))
    return found


LIBRARIES = ("Python", "SQLite", "libc", "other C")
_FUNCTION = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*?)(?: \[(.+)\])?$")
_INTERPRETER = re.compile(r"/bin/python[\d.]*$")  # an interpreter linked statically: no libpython


def library_of(source: str, obj: str | None) -> str:
    """Where a function of `callgrind_annotate`'s listing ran: its object file, or, for functions
    inlined from headers that the listing names by source file only, that file."""
    where = obj if obj is not None else source
    if "libpython" in where or "/Python-" in where or _INTERPRETER.search(where):
        return "Python"
    if "libsqlite3" in where:
        return "SQLite"
    if "libc.so" in where or where.startswith(("./stdio-common", "./string", "./malloc", "./sysdeps")):
        return "libc"
    return "other C"


def by_library(folder: Path, labels: set[str], events: int) -> dict[str, Counter[str]]:
    """Thousands of instructions an event of each of `labels`, by library, from its dumps in `folder`
    (what a dump itself costs stays in: it is small beside a stage's count, and is Python's)."""
    found: dict[str, Counter[str]] = {label: Counter() for label in labels}
    for path in folder.glob("callgrind.out.*"):
        match = _LABEL.search(path.read_text(errors="replace"))
        if match is None or match.group(1) not in labels:
            continue
        listing = subprocess.run(  # noqa: S603 - valgrind's own script on our file
            ["callgrind_annotate", "--threshold=100", "--auto=no", str(path)],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in listing.split("file:function", 1)[-1].splitlines():
            if (function := _FUNCTION.match(line)) is not None:
                count, source, obj = function.groups()
                found[match.group(1)][library_of(source, obj)] += int(count.replace(",", ""))
    return {
        label: Counter({library: n / events / 1000 for library, n in counts.items()})
        for label, counts in found.items()
    }


def per_event(folder: Path, events: int) -> dict[str, float]:
    """Thousands of instructions an event by label, less what the dumps cost."""
    found = dumps_in(folder)
    total: Counter[str] = Counter()
    dumps: Counter[str] = Counter()
    for label, count in found:
        total[label] += count
        dumps[label] += 1
    one = min(count for label, count in found if label == "dump")  # the first ones run colder
    skipped = {"dump", "parsing"}  # the bodies parsed, as a request does: not what is compared
    return {
        label: (count - dumps[label] * one) / events / 1000
        for label, count in total.items()
        if label not in skipped
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--goals", type=int, default=1000)
    parser.add_argument("--multi-step", default="0,50", help="configurations: multi-step goals of --goals")
    parser.add_argument("--busy", action="store_true", help="multi-step goals all on the load's names")
    parser.add_argument("--steps", action="store_true", help="every event marks an analytics step")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--group", type=int, default=6, help="batches per writer transaction")
    parser.add_argument(
        "--by-library",
        default="",
        help="parts (as the report names them) to split by library, comma-separated",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.multi_step, args.count = int(args.multi_step), False
        child(args)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (Debian's package valgrind)")
    configs = [int(n) for n in args.multi_step.split(",")]
    with tempfile.TemporaryDirectory(prefix="comerix-callgrind-") as root:
        folders = {n: Path(root, str(n)) for n in configs}
        running: list[subprocess.Popen[bytes]] = []
        for n, folder in folders.items():
            folder.mkdir()
            command = [
                "valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=callgrind.out",
                sys.executable, str(Path(__file__).resolve()), "--child", "--multi-step", str(n),
                "--goals", str(args.goals), "--batches", str(args.batches), "--group", str(args.group),
                *(["--busy"] if args.busy else []), *(["--steps"] if args.steps else []),
            ]  # fmt: skip
            running.append(
                subprocess.Popen(  # noqa: S603 - valgrind and this script, fixed arguments
                    command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            )
            if len(running) == 2:
                _wait(running.pop(0))
        for process in running:
            _wait(process)
        events = args.batches * BATCH
        counts = {n: per_event(folder, events) for n, folder in folders.items()}
        labels = {label for label in args.by_library.split(",") if label}
        libraries = {n: by_library(folder, labels, events) for n, folder in folders.items()} if labels else {}
    _report(configs, counts, args)
    if libraries:
        _report_libraries(configs, libraries)


def _wait(process: subprocess.Popen[bytes]) -> None:
    _, errors = process.communicate()
    if process.returncode:
        sys.exit(f"a counted run failed:\n{errors.decode(errors='replace')[-3000:]}")


def _report(configs: list[int], counts: dict[int, dict[str, float]], args: argparse.Namespace) -> None:
    first = configs[0]
    order: list[str] = sorted({label for found in counts.values() for label in found}, key=_place)
    heads = "".join(f"{f'{n} multi-step':>16}" for n in configs)
    extras = "".join(f"{f'{n} - {first}':>12}" for n in configs[1:])
    console.print(
        f"k instructions an event, {args.goals} goals, {args.batches} batches in groups of {args.group}"
    )
    console.print(f"{'part':44}{heads}{extras}", markup=False)
    for label in [*order, "total"]:
        values = [_value(counts[n], label) for n in configs]
        line = "".join(f"{v:16.1f}" for v in values)
        line += "".join(f"{v - values[0]:+12.1f}" for v in values[1:])
        console.print(f"{label:44}{line}", markup=False)


def _report_libraries(configs: list[int], libraries: dict[int, dict[str, Counter[str]]]) -> None:
    console.print("k instructions an event, by library")
    heads = "".join(f"{name:>13}" for name in LIBRARIES)
    console.print(f"{'part':44}{'multi-step':>11}{heads}", markup=False)
    for label in sorted({label for found in libraries.values() for label in found}, key=_place):
        for n in configs:
            split = libraries[n][label]
            console.print(
                f"{label:44}{n:>11}" + "".join(f"{split[name]:13.1f}" for name in LIBRARIES), markup=False
            )


def _value(found: dict[str, float], label: str) -> float:
    return sum(found.values()) if label == "total" else found.get(label, 0.0)


def _place(label: str) -> tuple[int, str]:
    stages: list[Callable[[Group], Group]] = list(STAGES)
    names = [f"{s.__module__.rsplit('.', 1)[-1]}.{s.__name__}" for s in stages]
    if label.startswith("serving"):
        return (0, label)
    if label.startswith("writer"):
        return (1, label)
    if label == "group-set-up":
        return (2, label)
    if label in names:
        return (3 + names.index(label), label)
    return (100, label)


if __name__ == "__main__":
    main()
