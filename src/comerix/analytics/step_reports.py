"""The analytics steps' reports (SPEC §10): the step catalogue of a recent range, and the Step
Explorer's path tree, read from the rollups ingestion keeps (`analytics.step_rollups`).

- The catalogue sums `flow_step_days` over the last 7, 30 or 90 UTC days (today's included) and lists
  the steps executed in them, most executed first, with their latest label and type (`flow_steps`).
- The path tree reads the distinct paths of the conversations whose first step fell in a range of local
  days (`step_path_rollups`, by flow when asked, through this process's memory of closed days:
  `analytics.path_counts`) and folds them (`analytics.step_paths`); each step is shown with its latest
  label: in the flow asked for, else the latest any flow gave it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.analytics.models import FlowStepDay, FlowStepEntry
from comerix.analytics.path_counts import PATH_COUNTS, PathCounts
from comerix.analytics.report_query import date_range
from comerix.analytics.schemas import PathNodeRead, PathsReport, StepCatalogue, StepRead
from comerix.analytics.step_paths import DEFAULT_DEPTH, MAX_DEPTH, Direction, PathNode, path_tree
from comerix.errors import FieldProblem, Invalid
from comerix.vocabulary import FLOW_STEP_LABEL_LENGTH

OTHER = "other"
"""The label of the node that folds the least frequent steps of a level."""


class StepRange(StrEnum):
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"

    @property
    def days(self) -> int:
        return int(self.value[:-1])


def parse_range(raw: str | None) -> StepRange:
    if raw is None or raw == "":
        return StepRange.MONTH
    try:
        return StepRange(raw)
    except ValueError:
        raise Invalid.of([FieldProblem("range", f"{raw!r} is not one of 7d, 30d, 90d")]) from None


def catalogue(
    session: Session, workspace_id: uuid.UUID, chosen: StepRange, flow: str | None, now: datetime
) -> StepCatalogue:
    """The steps executed in the last `chosen` UTC days, most executed first."""
    first = now.date() - timedelta(days=chosen.days - 1)
    days, steps = FlowStepDay, FlowStepEntry
    query = (
        select(
            steps.flow_id,
            steps.id,
            steps.label,
            steps.type,
            steps.last_seen_at,
            func.sum(days.executions).label("executions"),
            func.sum(days.conversations).label("conversations"),
        )
        .join(
            days,
            (days.workspace_id == steps.workspace_id)
            & (days.flow_id == steps.flow_id)
            & (days.step_id == steps.id),
        )
        .where(steps.workspace_id == workspace_id, days.day >= first)
        .group_by(steps.flow_id, steps.id, steps.label, steps.type, steps.last_seen_at)
    )
    if flow:
        query = query.where(steps.flow_id == flow)
    rows = session.execute(query).all()
    found = [
        StepRead(
            id=row.id,
            flow=row.flow_id or None,
            label=row.label,
            type=row.type,
            executions=int(row.executions),
            conversations=int(row.conversations),
            last_seen=row.last_seen_at,
        )
        for row in rows
    ]
    found.sort(key=lambda step: (-step.executions, step.label, step.flow or "", step.id))
    return StepCatalogue(range=chosen.value, steps=found)


@dataclass(frozen=True)
class PathsQuery:
    start: date
    end: date
    flow: str | None
    step: str | None  # the root's step id
    direction: Direction
    contains: str | None
    depth: int


def parse_paths_query(params: dict[str, str | None]) -> PathsQuery:
    """The query of `params` (from, to, flow, start, direction, contains, depth), or `Invalid` naming each
    parameter that is wrong."""
    problems: list[FieldProblem] = []
    start, end = date_range(params, problems)
    direction = Direction.FORWARD
    if raw_direction := params.get("direction"):
        try:
            direction = Direction(raw_direction)
        except ValueError:
            problems.append(FieldProblem("direction", "must be forward or backward"))
    depth = DEFAULT_DEPTH
    if raw := params.get("depth"):
        if raw not in {str(n) for n in range(1, MAX_DEPTH + 1)}:
            problems.append(FieldProblem("depth", f"must be a whole number from 1 to {MAX_DEPTH}"))
        else:
            depth = int(raw)
    for name in ("start", "contains"):
        if len(params.get(name) or "") > FLOW_STEP_LABEL_LENGTH:
            problems.append(FieldProblem(name, f"a step id has at most {FLOW_STEP_LABEL_LENGTH} characters"))
    if problems:
        raise Invalid.of(problems)
    assert start is not None
    assert end is not None
    return PathsQuery(
        start,
        end,
        params.get("flow") or None,
        params.get("start") or None,
        direction,
        params.get("contains") or None,
        depth,
    )


def paths(
    session: Session, workspace_id: uuid.UUID, query: PathsQuery, counts: PathCounts = PATH_COUNTS
) -> PathsReport:
    """The path tree of the conversations whose first step fell in the query's range."""
    tree = path_tree(
        counts.counts(session, workspace_id, query.start, query.end, query.flow),
        start=query.step,
        direction=query.direction,
        contains=query.contains,
        depth=query.depth,
    )
    labels = StepLabels(session, workspace_id, _steps_in(tree.nodes))
    return PathsReport(
        from_=query.start,
        to=query.end,
        direction=query.direction.value,
        start=query.step,
        contains=query.contains,
        flow=query.flow,
        conversations=tree.conversations,
        nodes=[_read(node, labels, query.flow) for node in tree.nodes],
    )


def _steps_in(nodes: tuple[PathNode, ...]) -> set[str]:
    found: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node.step is not None:
            found.add(node.step)
        stack.extend(node.children)
    return found


class StepLabels:
    """The latest labels of some steps, by flow and id (`flow_steps`), read a chunk of ids at a time: a
    deep tree shows many steps, and a statement holds few parameters."""

    A_QUERY = 1000

    def __init__(self, session: Session, workspace_id: uuid.UUID, ids: set[str]) -> None:
        self._in_flow: dict[tuple[str, str], str] = {}
        self._latest: dict[str, tuple[datetime, str]] = {}
        entries, ordered = FlowStepEntry, sorted(ids)
        for low in range(0, len(ordered), self.A_QUERY):
            query = select(entries.id, entries.flow_id, entries.label, entries.labelled_at).where(
                entries.workspace_id == workspace_id, entries.id.in_(ordered[low : low + self.A_QUERY])
            )
            for step, flow, label, at in session.execute(query):
                self._in_flow[(flow, step)] = label
                if step not in self._latest or at > self._latest[step][0]:
                    self._latest[step] = (at, label)

    def of(self, step: str, flow: str | None = None) -> str:
        """The step's label in `flow` ('' for none) when it has one there, else the latest any flow
        gave it, else its id."""
        if flow is not None and (label := self._in_flow.get((flow, step))) is not None:
            return label
        latest = self._latest.get(step)
        return step if latest is None else latest[1]


def _read(node: PathNode, labels: StepLabels, flow: str | None) -> PathNodeRead:
    return PathNodeRead(
        step=node.step,
        label=OTHER if node.step is None else labels.of(node.step, flow),
        conversations=node.conversations,
        share=node.share,
        drop_off=node.drop_off,
        children=[_read(child, labels, flow) for child in node.children],
    )
