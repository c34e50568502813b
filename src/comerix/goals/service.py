"""Creating, reading, changing and auditing goals. Every function is scoped to one workspace.

Nothing here commits: the request that calls it owns the transaction. Nothing here deletes a goal.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.auth.service import Principal
from comerix.db.constraints import insert
from comerix.errors import FieldProblem, Invalid, validated
from comerix.goals.errors import GoalCodeImmutable, GoalCodeTaken, GoalNotFound
from comerix.goals.index import bump_revision
from comerix.goals.models import Goal, GoalRevision, RevisionAction
from comerix.goals.schemas import (
    MODE_FIELDS,
    GoalCreate,
    GoalDefinition,
    GoalRead,
    GoalUpdate,
    value_mode_problems,
)
from comerix.vocabulary import GoalStatus

_CODE_UNIQUE = "uq_goals_workspace_id_code"


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


def create(
    session: Session, workspace_id: uuid.UUID, data: GoalCreate, *, actor: Principal, now: datetime
) -> Goal:
    _raise_problems(value_mode_problems(data, data.model_fields_set))
    goal = Goal(
        workspace_id=workspace_id,
        status=GoalStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    insert(session, goal, {_CODE_UNIQUE: lambda: GoalCodeTaken(data.code)})
    _record(session, goal, RevisionAction.CREATED, _diff({}, _snapshot(goal)), actor=actor, now=now)
    return goal


def check_definition(data: GoalDefinition) -> GoalDefinition:
    """`data` as a goal definition, or `Invalid` naming what its value mode lacks."""
    _raise_problems(value_mode_problems(data, data.model_fields_set))
    return GoalDefinition.model_validate(data.model_dump(include=set(GoalDefinition.model_fields)))


def update(session: Session, goal: Goal, data: GoalUpdate, *, actor: Principal, now: datetime) -> Goal:
    """Apply the fields sent in `data`; the whole goal is validated again. Nothing changes on refusal."""
    patch = data.model_dump(exclude_unset=True)
    _check_read_only(goal, patch)
    before = _snapshot(goal)
    merged = {name: before[name] for name in GoalDefinition.model_fields} | {
        name: value for name, value in patch.items() if name in GoalDefinition.model_fields
    }
    explicit = set(patch)
    for field_name in MODE_FIELDS:  # stale mode-specific values from the stored goal are dropped
        if field_name not in explicit:
            merged[field_name] = before[field_name] if _mode_uses(merged, field_name) else None
    definition = validated(GoalDefinition, merged)
    _raise_problems(value_mode_problems(definition, explicit))
    for name, value in definition.model_dump().items():
        setattr(goal, name, value)
    changes = _diff(before, _snapshot(goal))
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


def _mode_uses(definition: dict[str, Any], field_name: str) -> bool:
    return str(definition.get("value_mode")) == MODE_FIELDS[field_name].value


def _raise_problems(problems: list[FieldProblem]) -> None:
    if problems:
        raise Invalid.of(problems)


def _snapshot(goal: Goal) -> dict[str, Any]:
    """The goal as the API shows it, in JSON form: what the audit trail compares."""
    return GoalRead.of(goal).model_dump(mode="json", exclude={"id", "created_at", "updated_at"})


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
