"""Factories: real rows made through the services, with sensible defaults. One per domain object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind, User
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.auth.service import Principal
from comerix.goals import service as goals
from comerix.goals.models import Goal
from comerix.goals.schemas import GoalCreate
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace
from comerix.workspaces.schemas import WorkspaceCreate

_sequence = count(1)


def make_workspace(session: Session, now: datetime, **overrides: Any) -> Workspace:
    fields = {"name": f"Shop {next(_sequence)}", "base_currency": "EUR", "timezone": "Europe/Berlin"}
    return workspaces.create(session, WorkspaceCreate(**(fields | overrides)), now=now)


def make_user(
    session: Session, workspace: Workspace, now: datetime, role: Role = Role.ADMIN, **overrides: Any
) -> User:
    fields = {"email": f"user{next(_sequence)}@shop.example", "role": role, "password": "correct horse"}
    return auth.create_user(session, workspace.id, UserCreate(**(fields | overrides)), now=now)


def goal_body(**overrides: Any) -> dict[str, Any]:
    """A valid goal as a client would send it."""
    return {
        "code": f"goal_{next(_sequence)}",
        "name": "Product purchase",
        "kind": "conversion",
        "trigger_event": "purchase",
    } | overrides


def make_goal(session: Session, actor: Principal, now: datetime, **overrides: Any) -> Goal:
    return goals.create(
        session, actor.workspace_id, GoalCreate(**goal_body(**overrides)), actor=actor, now=now
    )


@dataclass(frozen=True)
class Member:
    """A user with a personal access token, ready to call the admin API."""

    workspace: Workspace
    user: User
    token: str

    @property
    def principal(self) -> Principal:
        return auth.principal_of(self.user)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_member(
    session: Session, now: datetime, role: Role = Role.ADMIN, workspace: Workspace | None = None
) -> Member:
    workspace = workspace or make_workspace(session, now)
    user = make_user(session, workspace, now, role=role)
    token = auth.create_token(session, user, TokenCreate(), now=now)
    return Member(workspace=workspace, user=user, token=token)


def make_engine_key(
    session: Session, workspace: Workspace, now: datetime, kind: EngineKeyKind = EngineKeyKind.SECRET
) -> str:
    return auth.create_engine_key(session, workspace.id, EngineKeyCreate(kind=kind), now=now)
