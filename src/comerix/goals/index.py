"""The active goals of each workspace, in memory, indexed by trigger event name (and the steps of the
active multi-step goals, by theirs).

Ingestion asks `GoalIndex.for_workspace` once per group of batches. The index is rebuilt only when the
workspace's `goals_revision` (bumped in the same transaction as every goal change) has moved, so it is
right in every process, and the cost per event does not grow with goals that listen to other events.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from comerix.goals.matching import ConditionIndex
from comerix.goals.models import Goal, GoalStep
from comerix.goals.rules import ValueRule
from comerix.vocabulary import GoalKind, GoalStatus
from comerix.workspaces.models import Workspace


@dataclass(frozen=True)
class StepSpec:
    """What ingestion needs of one step of a multi-step goal (SPEC §9)."""

    key: str
    slot: int  # its bit in a cycle's `reached` mask
    position: int  # its place in the goal's order; 0 is the start step
    trigger_event: str
    match_conditions: Mapping[str, Any]
    completion: bool
    time_saved_seconds: int
    cost_savings: Decimal
    revenue_earned: Decimal
    retired: bool

    @property
    def is_start(self) -> bool:
        return self.position == 0

    @classmethod
    def of(cls, step: GoalStep) -> StepSpec:
        return cls(
            key=step.key,
            slot=step.slot,
            position=step.position,
            trigger_event=step.trigger_event,
            match_conditions=dict(step.match_conditions),
            completion=step.completion,
            time_saved_seconds=step.time_saved_seconds,
            cost_savings=step.cost_savings,
            revenue_earned=step.revenue_earned,
            retired=step.retired,
        )


@dataclass(frozen=True)
class GoalSpec:
    """What ingestion needs of a goal, detached from the database. A multi-step goal has `steps` (in
    their order, retired ones included) and no `trigger_event`."""

    id: uuid.UUID
    code: str
    kind: GoalKind
    status: GoalStatus
    trigger_event: str | None
    match_conditions: Mapping[str, Any]
    value_rule: ValueRule
    attribution_window_hours: int
    steps: tuple[StepSpec, ...] = ()

    @property
    def multi_step(self) -> bool:
        return bool(self.steps)

    def step(self, key: str) -> StepSpec | None:
        return next((step for step in self.steps if step.key == key), None)

    @classmethod
    def of(cls, goal: Goal, steps: Sequence[GoalStep] = ()) -> GoalSpec:
        return cls(
            id=goal.id,
            code=goal.code,
            kind=goal.kind,
            status=goal.status,
            trigger_event=goal.trigger_event,
            match_conditions=dict(goal.match_conditions),
            value_rule=ValueRule.of(goal),
            attribution_window_hours=goal.attribution_window_hours,
            steps=tuple(StepSpec.of(step) for step in sorted(steps, key=lambda s: s.position)),
        )


StepHit = tuple[GoalSpec, StepSpec]
"""A step of an active multi-step goal whose trigger and conditions an event meets."""

StepReached = tuple[str, str, bool]
"""A step of a multi-step goal that an event reaches, as ingestion carries it: its goal's code, its
key, and whether it is the goal's start step. A plain tuple rather than a named one: a batch carries one
for each step each item reaches (tens an event, with many multi-step goals), which the writer process
unpickles, and a tuple of a class costs it several times as much to unpickle."""


@dataclass(frozen=True)
class WorkspaceGoals:
    revision: int
    active_by_trigger: Mapping[str, tuple[GoalSpec, ...]]
    by_code: Mapping[str, GoalSpec]
    conditions_by_trigger: Mapping[str, ConditionIndex[GoalSpec]]
    steps_by_trigger: Mapping[str, ConditionIndex[StepHit]] = field(default_factory=dict)
    # By event name, where no step on it has conditions: what every such event reaches, made once.
    unconditional_steps: Mapping[str, tuple[StepReached, ...]] = field(default_factory=dict)

    def listening_to(self, event_name: str) -> tuple[GoalSpec, ...]:
        return self.active_by_trigger.get(event_name, ())

    def achieved_by(self, event_name: str, properties: Mapping[str, Any]) -> list[GoalSpec]:
        """The active goals on `event_name` whose match conditions all hold for `properties`."""
        index = self.conditions_by_trigger.get(event_name)
        return index.matching(properties) if index is not None else []

    def steps_hit(self, event_name: str, properties: Mapping[str, Any]) -> list[StepHit]:
        """The steps (not retired) of active multi-step goals on `event_name` whose conditions hold for
        `properties`, goal by goal, each goal's in the order they apply (`applies_before`)."""
        index = self.steps_by_trigger.get(event_name)
        return index.matching(properties) if index is not None else []

    def steps_reached(self, event_name: str, properties: Mapping[str, Any]) -> tuple[StepReached, ...]:
        """`steps_hit`, as ingestion carries them. Most events reach the same steps as every other
        event of their name, whose steps have no conditions: theirs are made once, not for each
        event (the serving process does this for every event; docs/benchmarks.md)."""
        fixed = self.unconditional_steps.get(event_name)
        if fixed is not None:
            return fixed
        index = self.steps_by_trigger.get(event_name)
        return _reached(index.matching(properties)) if index is not None else ()

    @classmethod
    def build(cls, revision: int, goals: list[GoalSpec]) -> WorkspaceGoals:
        by_trigger: dict[str, list[GoalSpec]] = defaultdict(list)
        steps: dict[str, list[StepHit]] = defaultdict(list)
        for goal in goals:
            if goal.status is not GoalStatus.ACTIVE:
                continue
            if goal.trigger_event is not None:
                by_trigger[goal.trigger_event].append(goal)
            for step in sorted(goal.steps, key=applies_before):
                if not step.retired:
                    steps[step.trigger_event].append((goal, step))
        return cls(
            revision=revision,
            active_by_trigger={name: tuple(specs) for name, specs in by_trigger.items()},
            by_code={goal.code: goal for goal in goals},
            conditions_by_trigger={
                name: ConditionIndex((spec, spec.match_conditions) for spec in specs)
                for name, specs in by_trigger.items()
            },
            steps_by_trigger={
                name: ConditionIndex((hit, hit[1].match_conditions) for hit in hits)
                for name, hits in steps.items()
            },
            unconditional_steps={
                name: _reached(hits)
                for name, hits in steps.items()
                if not any(step.match_conditions for _goal, step in hits)
            },
        )


def applies_before(step: StepSpec) -> tuple[bool, int]:
    """The order in which the steps of one goal that one event reaches apply (SPEC §9): in step order,
    the completion steps last, so that an event reaching the start and a completion opens a cycle and
    completes it. Matching gives each goal's steps in this order, made once per revision of the goals:
    ingestion takes them as they come."""
    return (step.completion, step.position)


def _reached(hits: Iterable[StepHit]) -> tuple[StepReached, ...]:
    return tuple((goal.code, step.key, step.is_start) for goal, step in hits)


class GoalIndex:
    """A per-process cache of `WorkspaceGoals`, checked against the stored revision on every use."""

    def __init__(self) -> None:
        self._cache: dict[uuid.UUID, WorkspaceGoals] = {}
        self._lock = threading.Lock()

    def for_workspace(self, session: Session, workspace_id: uuid.UUID, revision: int) -> WorkspaceGoals:
        cached = self._cache.get(workspace_id)
        if cached is not None and cached.revision == revision:
            return cached
        goals = session.scalars(select(Goal).where(Goal.workspace_id == workspace_id)).all()
        steps: dict[uuid.UUID, list[GoalStep]] = defaultdict(list)
        for step in session.scalars(select(GoalStep).where(GoalStep.workspace_id == workspace_id)):
            steps[step.goal_id].append(step)
        built = WorkspaceGoals.build(revision, [GoalSpec.of(goal, steps[goal.id]) for goal in goals])
        with self._lock:
            self._cache[workspace_id] = built
        return built

    def current(self, session: Session, workspace_id: uuid.UUID) -> WorkspaceGoals | None:
        """The workspace's goals as stored now (one look-up of the revision); None if there is no such
        workspace."""
        revision = session.scalar(select(Workspace.goals_revision).where(Workspace.id == workspace_id))
        return None if revision is None else self.for_workspace(session, workspace_id, revision)


def bump_revision(session: Session, workspace_id: uuid.UUID) -> None:
    """Mark the workspace's goals as changed; every process's index reloads them on next use."""
    session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(goals_revision=Workspace.goals_revision + 1)
        .execution_options(synchronize_session=False)
    )
