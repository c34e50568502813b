"""The goals JSON API: `/api/v1/goals` (SPEC §5). Thin: parse, call the service, shape the answer.

`POST /api/v1/goals/preview` reads stored events: it is served by `telemetry.views`, above goals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.goals import service
from comerix.goals.schemas import (
    Actor,
    GoalCreate,
    GoalHistory,
    GoalList,
    GoalRead,
    GoalRevisionRead,
    GoalUpdate,
    StatusChange,
)
from comerix.http import DbSession, Now
from comerix.vocabulary import GoalStatus

router = APIRouter(prefix="/api/v1/goals", tags=["goals"], responses=errors(400, 401, 403, 422))
GoalsManager = Annotated[Principal, Depends(require(Permission.GOALS_MANAGE))]


@router.get("", response_model=GoalList)
def list_goals(
    session: DbSession, principal: GoalsManager, status: Annotated[GoalStatus | None, Query()] = None
) -> GoalList:
    goals = service.list_for_workspace(session, principal.workspace_id, status)
    return GoalList(goals=service.read_all(session, goals))


@router.post("", status_code=201, response_model=GoalRead, responses=errors(409))
def create_goal(data: GoalCreate, session: DbSession, principal: GoalsManager, now: Now) -> GoalRead:
    return service.read(
        session, service.create(session, principal.workspace_id, data, actor=principal, now=now)
    )


@router.get("/{goal_id}", response_model=GoalRead, responses=errors(404))
def get_goal(goal_id: str, session: DbSession, principal: GoalsManager) -> GoalRead:
    return service.read(session, service.get_or_raise(session, principal.workspace_id, goal_id))


@router.patch("/{goal_id}", response_model=GoalRead, responses=errors(404))
def update_goal(
    goal_id: str, data: GoalUpdate, session: DbSession, principal: GoalsManager, now: Now
) -> GoalRead:
    goal = service.get_or_raise(session, principal.workspace_id, goal_id)
    return service.read(session, service.update(session, goal, data, actor=principal, now=now))


@router.post("/{goal_id}/status", response_model=GoalRead, responses=errors(404))
def change_status(
    goal_id: str, data: StatusChange, session: DbSession, principal: GoalsManager, now: Now
) -> GoalRead:
    goal = service.get_or_raise(session, principal.workspace_id, goal_id)
    return service.read(session, service.set_status(session, goal, data.status, actor=principal, now=now))


@router.get("/{goal_id}/history", response_model=GoalHistory, responses=errors(404))
def goal_history(goal_id: str, session: DbSession, principal: GoalsManager) -> GoalHistory:
    goal = service.get_or_raise(session, principal.workspace_id, goal_id)
    revisions = service.history(session, goal)
    return GoalHistory(
        goal=str(goal.id),
        history=[
            GoalRevisionRead(
                id=str(revision.id),
                action=revision.action,
                at=revision.at,
                actor=Actor(
                    user_id=str(revision.actor_user_id) if revision.actor_user_id else None,
                    email=revision.actor_email,
                ),
                changes=revision.changes,
            )
            for revision in revisions
        ],
    )
