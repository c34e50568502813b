"""Factories: real rows made through the services, with sensible defaults. One per domain object."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from comerix.auth import service as auth
from comerix.auth.models import EngineKeyKind, User
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.auth.service import Principal
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.models import Goal
from comerix.goals.schemas import GoalCreate
from comerix.telemetry.models import Event
from comerix.vocabulary import Source
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace
from comerix.workspaces.schemas import WorkspaceCreate

_sequence = count(1)


def make_workspace(session: Session, now: datetime, **overrides: Any) -> Workspace:
    fields = {"name": f"Shop {next(_sequence)}", "base_currency": "EUR", "timezone": "Europe/Berlin"}
    return workspaces.create(session, WorkspaceCreate(**(fields | overrides)), now=now)


def add_event(
    session: Session, workspace_id: uuid.UUID, contact_id: str | None, at: datetime, **fields: Any
) -> None:
    """A stored widget event at `at` (received then too, unless `received_at` says otherwise)."""
    values = {
        "name": "message_sent",
        "conversation_id": None,
        "flow_id": None,
        "properties": {"text": "hi"},
        "received_at": at,
    }
    session.add(
        Event(
            workspace_id=workspace_id,
            contact_id=contact_id,
            timestamp=at,
            source=Source.WIDGET,
            **(values | fields),
        )
    )


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


def step_body(key: str, **overrides: Any) -> dict[str, Any]:
    """A valid step of a multi-step goal, triggered by the event named like its key."""
    return {"key": key, "name": key.replace("_", " ").capitalize(), "trigger_event": key} | overrides


def multistep_goal_body(**overrides: Any) -> dict[str, Any]:
    """A valid multi-step goal as a client would send it: `booking_started` (the start step, on the
    event of that name), `details_given` (60 s saved), `booking_paid` (the completion, 25.00 earned)."""
    return {
        "code": f"goal_{next(_sequence)}",
        "name": "Booking",
        "kind": "conversion",
        "steps": [
            step_body("booking_started"),
            step_body("details_given", time_saved_seconds=60),
            step_body("booking_paid", completion=True, revenue_earned="25.00"),
        ],
    } | overrides


def make_multistep_goal(session: Session, actor: Principal, now: datetime, **overrides: Any) -> Goal:
    return goals.create(
        session, actor.workspace_id, GoalCreate(**multistep_goal_body(**overrides)), actor=actor, now=now
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


class Shop:
    """A workspace seen from outside, over HTTP: an admin with a token, and both kinds of Engine key."""

    def __init__(self, client: TestClient, db: Database, clock: FixedClock) -> None:
        with db.transaction() as session:
            self.admin: Member = make_member(session, clock.now())
            self.public = make_engine_key(session, self.admin.workspace, clock.now(), EngineKeyKind.PUBLIC)
            self.secret = make_engine_key(session, self.admin.workspace, clock.now(), EngineKeyKind.SECRET)
        self.client = client
        self.clock = clock

    def goal(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/api/v1/goals", json=body, headers=self.admin.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def send(self, path: str, body: Any, key: str | None = None, expect: int = 202) -> dict[str, Any]:
        """Post to the Engine API (events with the public key, conversions with the secret one)."""
        key = key or (self.public if path == "/events" else self.secret)
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == expect, response.text
        return dict(response.json())

    def at(self, days: float, hours: float = 0) -> str:
        """A timestamp `days` (and `hours`) into a period that started 12 days ago."""
        moment = self.clock.now() - timedelta(days=12) + timedelta(days=days, hours=hours)
        return moment.isoformat()


def send_sales_day(client: TestClient, admin: Member, secret_key: str, day: datetime) -> None:
    """The reports' example shop: a primary `sale` goal valued from `total` in `currency` and a `reply`
    engagement; one chat on `day` with a reply and sales of 0.10 and 0.20 EUR, and a sale of 5 USD the
    next day that no chat drove."""
    for goal in (
        {
            "code": "sale",
            "name": "Sale",
            "kind": "conversion",
            "is_primary": True,
            "trigger_event": "sale",
            "value_mode": "from_property",
            "value_property": "total",
            "currency_property": "currency",
        },
        {"code": "reply", "name": "Reply", "kind": "engagement", "trigger_event": "reply"},
    ):
        assert client.post("/api/v1/goals", headers=admin.headers, json=goal).status_code == 201
    chat = {"conversation_id": "c1", "contact_id": "ann", "flow_id": "sales-bot"}
    events = [
        {"name": "conversation_started", "timestamp": day.isoformat(), **chat},
        {"name": "reply", "timestamp": (day + timedelta(minutes=1)).isoformat(), **chat},
        *(
            {
                "name": "sale",
                "timestamp": (day + timedelta(minutes=minute)).isoformat(),
                "properties": {"total": total, "currency": "EUR"},
                **chat,
            }
            for minute, total in ((2, "0.10"), (3, "0.20"))
        ),
    ]
    auth = {"Authorization": f"Bearer {secret_key}"}
    assert client.post("/events", json={"events": events}, headers=auth).status_code == 202
    late = {
        "event": "sale",
        "contact_id": "bob",
        "timestamp": (day + timedelta(days=1)).isoformat(),
        "properties": {"total": "5", "currency": "USD"},
    }
    assert client.post("/conversions", json=late, headers=auth).status_code == 202
