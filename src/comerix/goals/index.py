"""The active goals of each workspace, in memory, indexed by trigger event name.

Ingestion asks `GoalIndex.for_workspace` once per group of batches. The index is rebuilt only when the
workspace's `goals_revision` (bumped in the same transaction as every goal change) has moved, so it is
right in every process, and the cost per event does not grow with goals that listen to other events.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from comerix.goals.matching import ConditionIndex
from comerix.goals.models import Goal
from comerix.goals.rules import ValueRule
from comerix.vocabulary import GoalKind, GoalStatus
from comerix.workspaces.models import Workspace


@dataclass(frozen=True)
class GoalSpec:
    """What ingestion needs of a goal, detached from the database."""

    id: uuid.UUID
    code: str
    kind: GoalKind
    status: GoalStatus
    trigger_event: str
    match_conditions: Mapping[str, Any]
    value_rule: ValueRule
    attribution_window_hours: int

    @classmethod
    def of(cls, goal: Goal) -> GoalSpec:
        return cls(
            id=goal.id,
            code=goal.code,
            kind=goal.kind,
            status=goal.status,
            trigger_event=goal.trigger_event,
            match_conditions=dict(goal.match_conditions),
            value_rule=ValueRule.of(goal),
            attribution_window_hours=goal.attribution_window_hours,
        )


@dataclass(frozen=True)
class WorkspaceGoals:
    revision: int
    active_by_trigger: Mapping[str, tuple[GoalSpec, ...]]
    by_code: Mapping[str, GoalSpec]
    conditions_by_trigger: Mapping[str, ConditionIndex[GoalSpec]]

    def listening_to(self, event_name: str) -> tuple[GoalSpec, ...]:
        return self.active_by_trigger.get(event_name, ())

    def achieved_by(self, event_name: str, properties: Mapping[str, Any]) -> list[GoalSpec]:
        """The active goals on `event_name` whose match conditions all hold for `properties`."""
        index = self.conditions_by_trigger.get(event_name)
        return index.matching(properties) if index is not None else []

    @classmethod
    def build(cls, revision: int, goals: list[GoalSpec]) -> WorkspaceGoals:
        by_trigger: dict[str, list[GoalSpec]] = defaultdict(list)
        for goal in goals:
            if goal.status is GoalStatus.ACTIVE:
                by_trigger[goal.trigger_event].append(goal)
        return cls(
            revision=revision,
            active_by_trigger={name: tuple(specs) for name, specs in by_trigger.items()},
            by_code={goal.code: goal for goal in goals},
            conditions_by_trigger={
                name: ConditionIndex((spec, spec.match_conditions) for spec in specs)
                for name, specs in by_trigger.items()
            },
        )


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
        built = WorkspaceGoals.build(revision, [GoalSpec.of(goal) for goal in goals])
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
