"""Creating, reading, changing and auditing goals. Every function is scoped to one workspace.

Nothing here commits: the request that calls it owns the transaction. Nothing here deletes a goal, nor
a step of a multi-step goal (SPEC §9): a step leaves by being retired. A goal's shape (single-step or
multi-step) is fixed once created: its outcomes, cycles and reports are of one kind or the other.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from comerix.auth.service import Principal
from comerix.db.constraints import insert
from comerix.errors import FieldProblem, Invalid, validated
from comerix.goals.errors import GoalCodeImmutable, GoalCodeTaken, GoalNotFound
from comerix.goals.index import bump_revision
from comerix.goals.models import Goal, GoalRevision, GoalStep, RevisionAction
from comerix.goals.schemas import (
    MODE_FIELDS,
    STEP_FIELDS,
    GoalCreate,
    GoalDefinition,
    GoalRead,
    GoalUpdate,
    StepDefinition,
    definition_problems,
)
from comerix.vocabulary import GoalStatus

_CODE_UNIQUE = "uq_goals_workspace_id_code"
_SHAPE_FIXED = "a goal's shape (single-step or multi-step) is fixed once created; create a new goal"


def get_or_raise(session: Session, workspace_id: uuid.UUID, goal_id: str) -> Goal:
    """The goal `goal_id` of this workspace. Any other id, malformed or another workspace's, is not found."""
    try:
        key = uuid.UUID(goal_id)
    except ValueError:
        raise GoalNotFound(goal_id) from None
    goal = session.get(Goal, (workspace_id, key))
    if goal is None:
        raise GoalNotFound(goal_id)
    return goal


def list_for_workspace(
    session: Session, workspace_id: uuid.UUID, status: GoalStatus | None = None
) -> list[Goal]:
    """The workspace's goals, primary goals first, then by name."""
    query = select(Goal).where(Goal.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Goal.status == status)
    return list(session.scalars(query.order_by(Goal.is_primary.desc(), Goal.name, Goal.code)))


def steps_of(session: Session, goal: Goal) -> list[GoalStep]:
    """The goal's steps in order, retired ones included; none for a single-step goal."""
    if goal.trigger_event is not None:  # single-step: its shape never changes, so it has no steps
        return []
    query = select(GoalStep).where(GoalStep.workspace_id == goal.workspace_id, GoalStep.goal_id == goal.id)
    return list(session.scalars(query.order_by(GoalStep.position)))


def read(session: Session, goal: Goal) -> GoalRead:
    """The goal as the API shows it, with its steps."""
    return GoalRead.of(goal, steps_of(session, goal))


def read_all(session: Session, goals: Sequence[Goal]) -> list[GoalRead]:
    """Goals as the API shows them, with the steps of all of them read at once."""
    multi_step = [goal.id for goal in goals if goal.trigger_event is None]
    steps: dict[uuid.UUID, list[GoalStep]] = defaultdict(list)
    if multi_step:
        workspace_id = goals[0].workspace_id
        query = select(GoalStep).where(
            GoalStep.workspace_id == workspace_id, GoalStep.goal_id.in_(multi_step)
        )
        for step in session.scalars(query):
            steps[step.goal_id].append(step)
    return [GoalRead.of(goal, steps[goal.id]) for goal in goals]


def create(
    session: Session, workspace_id: uuid.UUID, data: GoalCreate, *, actor: Principal, now: datetime
) -> Goal:
    _raise_problems(definition_problems(data, data.model_fields_set))
    goal = Goal(
        workspace_id=workspace_id,
        status=GoalStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        **data.model_dump(exclude={"steps"}),
    )
    insert(session, goal, {_CODE_UNIQUE: lambda: GoalCodeTaken(data.code)})
    steps = _store_steps(session, goal, [], data.steps)
    _record(session, goal, RevisionAction.CREATED, _diff({}, _snapshot(goal, steps)), actor=actor, now=now)
    return goal


def check_definition(data: GoalDefinition) -> GoalDefinition:
    """`data` as a goal definition, or `Invalid` naming what its value mode or its steps lack."""
    _raise_problems(definition_problems(data, data.model_fields_set))
    return GoalDefinition.model_validate(data.model_dump(include=set(GoalDefinition.model_fields)))


def update(session: Session, goal: Goal, data: GoalUpdate, *, actor: Principal, now: datetime) -> Goal:
    """Apply the fields sent in `data`; the whole goal is validated again. Nothing changes on refusal.

    `steps`, when sent, is the whole new list: stored steps are found by key, a new key adds a step,
    and a stored key left out is refused (a step is retired, never deleted)."""
    # Edits of one goal take turns, so that each finds the steps the previous one stored: a form posted
    # twice must not add a step twice. A write that changes nothing takes the row's lock on PostgreSQL
    # and the database's write lock on SQLite (whose reads before it took none), before anything is read.
    session.execute(
        sql_update(Goal)
        .where(Goal.workspace_id == goal.workspace_id, Goal.id == goal.id)
        .values(updated_at=Goal.updated_at)
        .execution_options(synchronize_session=False)
    )
    session.refresh(goal)
    patch = data.model_dump(exclude_unset=True)
    _check_read_only(goal, patch)
    _raise_problems(_shape_change_problems(goal, patch))
    stored = steps_of(session, goal)
    before = _snapshot(goal, stored)
    merged = {name: before[name] for name in GoalDefinition.model_fields} | {
        name: value for name, value in patch.items() if name in GoalDefinition.model_fields
    }
    merged["steps"] = merged["steps"] or []
    explicit = set(patch)
    for field_name in MODE_FIELDS:  # stale mode-specific values from the stored goal are dropped
        if field_name not in explicit:
            merged[field_name] = before[field_name] if _mode_uses(merged, field_name) else None
    definition = validated(GoalDefinition, merged)
    _raise_problems(_deleted_step_problems(stored, definition) + definition_problems(definition, explicit))
    for name, value in definition.model_dump(exclude={"steps"}).items():
        setattr(goal, name, value)
    steps = _store_steps(session, goal, stored, definition.steps)
    changes = _diff(before, _snapshot(goal, steps))
    if changes:
        goal.updated_at = now
        _record(session, goal, RevisionAction.UPDATED, changes, actor=actor, now=now)
    session.flush()
    return goal


def set_status(session: Session, goal: Goal, status: GoalStatus, *, actor: Principal, now: datetime) -> Goal:
    """Move a goal to any of the three statuses. Its outcomes stay wherever it goes."""
    if goal.status is not status:
        changes = {"status": {"from": goal.status.value, "to": status.value}}
        goal.status = status
        goal.updated_at = now
        _record(session, goal, RevisionAction.STATUS_CHANGED, changes, actor=actor, now=now)
        session.flush()
    return goal


def history(session: Session, goal: Goal) -> list[GoalRevision]:
    """The goal's audit trail, newest first."""
    query = (
        select(GoalRevision)
        .where(GoalRevision.workspace_id == goal.workspace_id, GoalRevision.goal_id == goal.id)
        .order_by(GoalRevision.id.desc())
    )
    return list(session.scalars(query))


def _check_read_only(goal: Goal, patch: dict[str, Any]) -> None:
    if "code" in patch and patch["code"] != goal.code:
        raise GoalCodeImmutable(goal.code, str(patch["code"]))
    stored = {
        "id": str(goal.id),
        "status": goal.status,
        "created_at": goal.created_at,
        "updated_at": goal.updated_at,
    }
    problems = [
        FieldProblem(
            name,
            "is read-only" + (" (change it with POST /api/v1/goals/{id}/status)" if name == "status" else ""),
        )
        for name, value in stored.items()
        if name in patch and patch[name] != value
    ]
    _raise_problems(problems)


def _shape_change_problems(goal: Goal, patch: dict[str, Any]) -> list[FieldProblem]:
    """A single-step goal stays single-step and a multi-step goal multi-step: outcomes, cycles and
    reports already recorded are of the one kind, so another shape is another goal."""
    if "steps" not in patch:
        return []
    if goal.trigger_event is None and not patch["steps"]:
        return [FieldProblem("steps", f"cannot be emptied: {_SHAPE_FIXED}")]
    if goal.trigger_event is not None and patch["steps"]:
        return [FieldProblem("steps", f"cannot be added to a single-step goal: {_SHAPE_FIXED}")]
    return []


def _deleted_step_problems(stored: Sequence[GoalStep], definition: GoalDefinition) -> list[FieldProblem]:
    kept = {step.key for step in definition.steps}
    missing = [step.key for step in stored if step.key not in kept]
    if not missing:
        return []
    named = ", ".join(missing)
    return [FieldProblem("steps", f"steps cannot be deleted; set retired: true (missing: {named})")]


def _store_steps(
    session: Session, goal: Goal, stored: Sequence[GoalStep], wanted: Sequence[StepDefinition]
) -> list[GoalStep]:
    """The goal's steps as `wanted` says, in its order: stored ones changed in place, new ones added
    with the next free slot (a slot is a step's bit in cycles' masks: never reused)."""
    by_key = {step.key: step for step in stored}
    next_slot = max((step.slot for step in stored), default=-1) + 1
    steps = []
    for position, step in enumerate(wanted):
        row = by_key.get(step.key)
        if row is None:
            row = GoalStep(workspace_id=goal.workspace_id, goal_id=goal.id, key=step.key, slot=next_slot)
            next_slot += 1
            session.add(row)
        for name, value in step.model_dump(include=set(STEP_FIELDS)).items():
            setattr(row, name, value)
        row.position = position
        steps.append(row)
    return steps


def _mode_uses(definition: dict[str, Any], field_name: str) -> bool:
    return str(definition.get("value_mode")) == MODE_FIELDS[field_name].value


def _raise_problems(problems: list[FieldProblem]) -> None:
    if problems:
        raise Invalid.of(problems)


def _snapshot(goal: Goal, steps: Sequence[GoalStep]) -> dict[str, Any]:
    """The goal as the API shows it, steps included, in JSON form: what the audit trail compares."""
    return GoalRead.of(goal, steps).model_dump(mode="json", exclude={"id", "created_at", "updated_at"})


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if before.get(name) != value or name not in before
    }


def _record(
    session: Session,
    goal: Goal,
    action: RevisionAction,
    changes: dict[str, Any],
    *,
    actor: Principal,
    now: datetime,
) -> None:
    bump_revision(session, goal.workspace_id)
    session.add(
        GoalRevision(
            workspace_id=goal.workspace_id,
            goal_id=goal.id,
            action=action,
            changes=changes,
            actor_user_id=actor.user_id,
            actor_email=actor.email,
            at=now,
        )
    )
