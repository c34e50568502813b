"""The OData feed under the filters Power BI writes: a 1,000-item `in` list, and the same 1,000 values
as an `or` chain of equalities, over 100,000 stored outcomes, on each backend.

The outcomes are written straight into the table (1 in 20 of them without a contact), through the
codec ingestion uses. Each timed call is a whole GET through the app (TestClient, no socket): token
check, `$filter` parsing, the query and the JSON page, in a fresh session as any request has. The ids
asked for are those of 1,000 stored outcomes spread over the table, so the answer is a full page of
1,000 rows; the contacts asked for are 1,000 of the ~33,000 stored, about 3,000 outcomes, a page of them.

Figures: the median of each filter (target ≤ 200 ms for the `in` list of ids), against the same request
with a one-item list (what the list itself costs is the difference).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from harness import Backends, Figure, Target, console, make_tenant, median, migrated, progress, rng_for, timed
from sqlalchemy import select, text

from comerix.app import create_app
from comerix.auth import service as auth
from comerix.auth.models import User
from comerix.auth.schemas import TokenCreate
from comerix.conversions.records import COLUMNS as OUTCOME_COLUMNS
from comerix.db import Database
from comerix.db.bulk import codec_for, insert_rows
from comerix.goals.models import Goal
from comerix.settings import Settings

CHUNK = 20_000
DAYS = 90
LIST_ITEMS = 1_000
ATTRIBUTIONS = ("conversation", "window", "none")
FLOWS = ("sales", "support", "onboarding", "returns")


@dataclass(frozen=True)
class Options:
    outcomes: int
    calls: int


def _seed(
    database: Database, workspace_id: uuid.UUID, outcomes: int, now: datetime
) -> tuple[float, list[str]]:
    """`outcomes` outcomes over the last 90 days, three a contact (contacts p0, p1, …), one in 20
    without a contact. Returns the seconds it took and the ids written, in order."""
    codec = codec_for(database.backend)
    rng = rng_for(23)
    with database.sessions() as session:
        goals = [
            (goal.id, goal.code, goal.kind)
            for goal in session.scalars(select(Goal).where(Goal.workspace_id == workspace_id))
        ]
    start, span = now - timedelta(days=DAYS), timedelta(days=DAYS)
    workspace = codec.id(workspace_id)
    ids: list[str] = []
    began = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"seeding {outcomes:,} outcomes", total=outcomes)
        for low in range(0, outcomes, CHUNK):
            rows = []
            for i in range(low, min(low + CHUNK, outcomes)):
                goal_id, code, kind = goals[rng.randrange(len(goals))]
                at = start + span * (i / outcomes)
                value = Decimal(rng.randrange(100, 30000)) / 100
                credit = ATTRIBUTIONS[i % 3]
                outcome_id = uuid.uuid4()
                ids.append(str(outcome_id))
                rows.append(
                    (
                        workspace,
                        codec.id(outcome_id),
                        codec.id(goal_id),
                        code,
                        kind.value,
                        codec.id(uuid.uuid4()),
                        codec.time(at),
                        codec.time(at),
                        codec.decimal(value),
                        "EUR",
                        codec.decimal(value),
                        "EUR",
                        None,
                        credit,
                        None if credit == "none" else f"c{i // 3}",
                        None if credit == "none" else FLOWS[i % len(FLOWS)],
                        None if i % 20 == 0 else f"p{i // 3}",
                        "widget",
                    )
                )
            with database.transaction() as session:
                insert_rows(session.connection(), codec, "outcomes", OUTCOME_COLUMNS, rows)
            bar.advance(task, len(rows))
    if database.backend == "postgresql":
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return time.perf_counter() - began, ids


def _token(database: Database, workspace_id: uuid.UUID) -> str:
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.workspace_id == workspace_id)).one()
        return auth.create_token(session, user, TokenCreate(), now=datetime.now(UTC))


def _quoted(values: list[str]) -> str:
    return ",".join(f"'{value}'" for value in values)


def run(backends: Backends, workdir: Path, options: Options) -> list[Figure]:
    backend = backends.name
    console.rule(f"[bold]OData filters at volume: {backend}")
    rng = rng_for(29)
    with migrated(backends.fresh("odata")) as database:
        workspace_id = uuid.UUID(make_tenant(database, 10).workspace_id)
        seconds, ids = _seed(database, workspace_id, options.outcomes, datetime.now(UTC))
        console.print(f"  {options.outcomes:,} outcomes seeded in {seconds:.0f} s")
        token = _token(database, workspace_id)
        wanted_ids = sorted(rng.sample(ids, LIST_ITEMS))
        contacts = [f"p{n}" for n in sorted(rng.sample(range(options.outcomes // 3), LIST_ITEMS))]
        filters = {
            f"OData {LIST_ITEMS:,}-item in list of ids": (
                f"id in ({_quoted(wanted_ids)})",
                f"id in ({_quoted(wanted_ids[:1])},)",
                LIST_ITEMS,
            ),
            f"OData {LIST_ITEMS:,}-item in list of contacts": (
                f"contact_id in ({_quoted(contacts)})",
                f"contact_id in ({_quoted(contacts[:1])},)",
                None,
            ),
            f"OData {LIST_ITEMS:,} or-ed equalities of contacts": (
                " or ".join(f"contact_id eq '{contact}'" for contact in contacts),
                f"contact_id eq '{contacts[0]}'",
                None,
            ),
        }
        settings = Settings(data_dir=workdir / f"odata-{backend}")
        figures = []
        with TestClient(create_app(settings, database=database)) as client:
            headers = {"Authorization": f"Bearer {token}"}

            def get(expression: str) -> Any:
                response = client.get("/odata/v4/Outcomes", params={"$filter": expression}, headers=headers)
                assert response.status_code == 200, response.text[:500]
                return response

            for label, (expression, one, rows) in filters.items():
                if rows is not None:  # checked once, untimed: the client's JSON decoding is not the feed's
                    assert len(get(expression).json()["value"]) == rows
                timings: list[float] = []
                baseline: list[float] = []
                # Interleaved in rounds, so drift on a shared machine touches the list and its baseline alike.
                for _ in range(5):
                    timings += timed(max(1, options.calls // 5), lambda e=expression: get(e))
                    baseline += timed(max(1, options.calls // 5), lambda o=one: get(o))
                console.print(
                    f"  {label}: median {median(timings):.1f} ms (one item: {median(baseline):.1f} ms)"
                )
                figures.append(
                    Figure(
                        "odata",
                        backend,
                        f"{label}, {options.outcomes:,} outcomes",
                        "ms",
                        timings,
                        "one item",
                        baseline,
                        [Target("median", "<=", 200)] if rows is not None else [],
                        {"outcomes": options.outcomes, "items": LIST_ITEMS, "filter_chars": len(expression)},
                    )
                )
    backends.cleanup()
    return figures
