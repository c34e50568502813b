"""The Step Explorer's memory of each day's path counts (`analytics.path_counts`), on each backend: a
day kept is not read again until ingestion or a rebuild moves its revision on, and what a process holds
stays within its limit, while every answer equals what is stored."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from datetime import date, timedelta

from comerix.analytics import rollups
from comerix.analytics.path_counts import PathCounts
from comerix.db import Database
from comerix.telemetry.schemas import FlowStep
from comerix.vocabulary import FlowStepType
from tests.integration.test_executed_steps import ASK, GREET, HANDOFF, NOW, send, workspace
from tests.integration.test_executed_steps import event as step_event
from tests.plans import reads_made

TODAY = date(2026, 11, 21)  # NOW's day in Europe/Berlin, the workspace's time zone


def counts(
    db: Database, memory: PathCounts, ws: uuid.UUID, day: date = TODAY, flow: str | None = None
) -> dict[tuple[str, ...], int]:
    with db.sessions() as session:
        return dict(memory.counts(session, ws, day, day, flow))


def rollup_reads(db: Database) -> AbstractContextManager[list[str]]:
    """The statements that read `step_path_rollups` while the block runs."""
    return reads_made(db, "step_path_rollups")


def test_a_day_kept_is_read_again_only_once_its_rows_change(db: Database) -> None:
    ws, memory = workspace(db), PathCounts()
    send(db, ws, [step_event(0, GREET), step_event(1, ASK)])
    with rollup_reads(db) as reads:
        assert counts(db, memory, ws) == {("greet", "ask"): 1}
        assert counts(db, memory, ws) == {("greet", "ask"): 1}
    assert len(reads) == 1  # the second answer came from memory

    send(db, ws, [step_event(2, HANDOFF)])  # the chat's path grows: its day's revision moves on
    with rollup_reads(db) as reads:
        assert counts(db, memory, ws) == {("greet", "ask", "handoff"): 1}
    assert len(reads) == 1


def test_the_flow_filter_picks_from_the_day_kept(db: Database) -> None:
    ws, memory = workspace(db), PathCounts()
    send(
        db,
        ws,
        [step_event(0, GREET), step_event(1, ASK)],
        [step_event(0, GREET, chat="c-2", flow_id="support", event_id="s-0")],
    )
    assert counts(db, memory, ws) == {("greet", "ask"): 1, ("greet",): 1}
    with rollup_reads(db) as reads:
        assert counts(db, memory, ws, flow="support") == {("greet",): 1}
        assert counts(db, memory, ws, flow="returns") == {}
    assert reads == []


def test_a_new_time_zone_moves_every_kept_day_on(db: Database) -> None:
    """Late in the Berlin evening is the next morning in Auckland: after the rebuild, the day kept for
    Berlin holds nothing, and the Auckland day holds the chat."""
    ws, memory = workspace(db), PathCounts()
    late = NOW.replace(hour=22)
    send(db, ws, [step_event(0, GREET, timestamp=late)])
    assert counts(db, memory, ws) == {("greet",): 1}
    with db.transaction() as session:
        rollups.rebuild(session, ws, "Pacific/Auckland")
    assert counts(db, memory, ws) == {}
    assert counts(db, memory, ws, TODAY + timedelta(days=1)) == {("greet",): 1}


def test_past_its_limit_a_process_forgets_the_workspace_used_least_recently(db: Database) -> None:
    first, second, memory = workspace(db), workspace(db), PathCounts(limit=3)
    send(db, first, [step_event(0, GREET), step_event(1, ASK)])
    send(db, second, [step_event(0, GREET, event_id="x-0"), step_event(1, HANDOFF, event_id="x-1")])
    assert counts(db, memory, first) == {("greet", "ask"): 1}  # a path and a day entry: 2
    assert counts(db, memory, second) == {("greet", "handoff"): 1}  # 4 in all: the first is forgotten
    with rollup_reads(db) as reads:
        assert counts(db, memory, second) == {("greet", "handoff"): 1}
        assert counts(db, memory, first) == {("greet", "ask"): 1}
    assert len(reads) == 1  # the first workspace's day, read again


def test_a_day_without_steps_counts_nothing(db: Database) -> None:
    ws, memory = workspace(db), PathCounts()
    send(db, ws, [step_event(0, None), step_event(1, FlowStep("ask", "Ask", FlowStepType.NODE), chat=None)])
    assert counts(db, memory, ws) == {}
    assert counts(db, memory, ws, TODAY - timedelta(days=400)) == {}
