"""The Step Explorer's path tree as the service answers it, held to a naive recomputation from the steps
sent, one conversation at a time (SPEC §10), on each backend: random chats with loops, repeats, one step
or none, over several local days of several time zones, sent in groups that make paths grow; asked once
half-way (so that the process keeps days that then change) and again at the end."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comerix.analytics import step_reports
from comerix.analytics.path_counts import PathCounts
from comerix.analytics.schemas import PathNodeRead
from comerix.analytics.step_paths import Direction, PathNode
from comerix.analytics.sums import local_day
from comerix.db import Database
from comerix.goals.index import GoalIndex
from comerix.ingestion import STAGES
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import ingest_group
from comerix.telemetry.schemas import FlowStep, IngestResult, Item
from comerix.vocabulary import FlowStepType, Source
from tests.factories import make_workspace
from tests.unit.test_step_paths import naive_tree

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Asia/Kathmandu", "America/Los_Angeles", "Pacific/Chatham"]
STEPS = ("greet", "ask", "pay", "handoff")
FLOWS = ("sales", "support")

chat = st.fixed_dictionaries(
    {
        "flow": st.sampled_from(FLOWS),
        "steps": st.lists(st.sampled_from((*STEPS, None)), max_size=7),  # None: an event without a step
        "hours": st.integers(0, 4 * 24),  # before NOW: the chats span five days or so
    }
)
step_or_none = st.none() | st.sampled_from((*STEPS, "absent"))


def events_of(chats: Sequence[dict[str, Any]]) -> list[Item]:
    items = []
    for number, spec in enumerate(chats):
        began = NOW - timedelta(hours=spec["hours"])
        for position, step in enumerate(spec["steps"]):
            items.append(
                Item(
                    index=len(items),
                    source=Source.WIDGET,
                    name="message_sent",
                    timestamp=began + timedelta(minutes=position),
                    event_id=f"c{number}-{position}",
                    conversation_id=f"c{number}",
                    contact_id=f"p{number % 3}",
                    flow_id=spec["flow"],
                    properties={},
                    step=None if step is None else FlowStep(step, step.title(), FlowStepType.NODE),
                )
            )
    return items


def send(db: Database, workspace_id: uuid.UUID, items: list[Item]) -> None:
    if not items:
        return
    with db.transaction() as session:
        answers = ingest_group(session, [Batch(workspace_id, items, NOW)], GoalIndex(), STAGES)
    assert all(isinstance(answer, IngestResult) for answer in answers), answers


def naive_rows(
    sent: list[Item], zone: str, start: date, end: date, flow: str | None
) -> list[tuple[list[str], int]]:
    """Each conversation's steps in the order sent, if its first step's local day is in the range."""
    paths: dict[str, list[str]] = {}
    first: dict[str, tuple[datetime, str]] = {}
    for item in sent:
        if item.step is None or item.conversation_id is None:
            continue
        paths.setdefault(item.conversation_id, []).append(item.step.id)
        first.setdefault(item.conversation_id, (item.timestamp, item.flow_id or ""))
    return [
        (path, 1)
        for chat_id, path in paths.items()
        if start <= local_day(first[chat_id][0], zone) <= end and flow in (None, first[chat_id][1])
    ]


def shape_read(nodes: Sequence[PathNodeRead]) -> list[object]:
    return [(n.step, n.conversations, n.share, n.drop_off, shape_read(n.children)) for n in nodes]


def shape_naive(nodes: Sequence[PathNode]) -> list[object]:
    return [(n.step, n.conversations, n.share, n.drop_off, shape_naive(n.children)) for n in nodes]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    chats=st.lists(chat, min_size=1, max_size=14),
    group=st.integers(1, 9),
    back=st.integers(0, 5),
    days=st.integers(0, 5),
    flow=st.none() | st.sampled_from(FLOWS),
    start=step_or_none,
    direction=st.sampled_from(Direction),
    contains=step_or_none,
    depth=st.integers(1, 4),
)
def test_the_tree_is_the_naive_count_of_the_steps_sent(
    db: Database,
    zone: str,
    chats: list[dict[str, Any]],
    group: int,
    back: int,
    days: int,
    flow: str | None,
    start: str | None,
    direction: Direction,
    contains: str | None,
    depth: int,
) -> None:
    with db.transaction() as session:
        ws = make_workspace(session, NOW, timezone=zone).id
    today = local_day(NOW, zone)
    first_day = today - timedelta(days=back)
    params: dict[str, str | None] = {
        "from": first_day.isoformat(),
        "to": (first_day + timedelta(days=days)).isoformat(),
        "flow": flow,
        "start": start,
        "direction": direction.value,
        "contains": contains,
        "depth": str(depth),
    }
    query = step_reports.parse_paths_query(params)
    memory, items = PathCounts(), events_of(chats)
    groups = [items[low : low + group] for low in range(0, len(items), group)]
    done = 0
    for moment in (len(groups) // 2, len(groups)):  # half-way, then all: kept days change in between
        for part in groups[done:moment]:
            send(db, ws, part)
        done = moment
        sent = [item for part in groups[:moment] for item in part]
        with db.sessions() as session:
            report = step_reports.paths(session, ws, query, counts=memory)
        expected = naive_tree(
            naive_rows(sent, zone, query.start, query.end, flow), start, direction, contains, depth, 10
        )
        assert report.conversations == expected.conversations
        assert shape_read(report.nodes) == shape_naive(expected.nodes)
