"""The demo workspace that `make run` starts with: a shop, its admin, and goals of every kind.

Idempotent in spirit: `comerix demo --if-empty` does nothing on a database that already has workspaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from comerix.auth import service as auth
from comerix.auth.roles import Role
from comerix.auth.schemas import TokenCreate, UserCreate
from comerix.goals import service as goals
from comerix.goals.models import GoalKind, ValueMode
from comerix.goals.schemas import GoalCreate
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import WorkspaceCreate

DEMO_WORKSPACE = "Demo Shop"
DEMO_EMAIL = "admin@demo-shop.example"
DEMO_PASSWORD = "comerix-demo"  # noqa: S105 - the published login of a local demo, printed on purpose

DEMO_GOALS = (
    GoalCreate(
        code="product_purchase",
        name="Product purchase",
        kind=GoalKind.CONVERSION,
        is_primary=True,
        description="A premium plan bought after (or during) a chat.",
        trigger_event="purchase",
        match_conditions={"plan": "premium"},
        value_mode=ValueMode.FROM_PROPERTY,
        value_property="grand_total",
        currency_property="currency",
        base_value_property="base_total",
    ),
    GoalCreate(
        code="lead_form",
        name="Lead form sent",
        kind=GoalKind.CONVERSION,
        is_primary=True,
        trigger_event="form_submitted",
        match_conditions={"form": "lead"},
        value_mode=ValueMode.FIXED,
        fixed_value=Decimal("25.00"),
        currency="EUR",
    ),
    GoalCreate(
        code="newsletter_signup",
        name="Newsletter sign-up",
        kind=GoalKind.ENGAGEMENT,
        trigger_event="newsletter_subscribed",
        attribution_window_hours=72,
    ),
    GoalCreate(
        code="agent_reply_rated",
        name="Reply rated helpful",
        kind=GoalKind.ENGAGEMENT,
        trigger_event="reply_rated",
        match_conditions={"rating.helpful": True},
    ),
    GoalCreate(
        code="human_handoff",
        name="Handed to a human",
        kind=GoalKind.CUSTOM,
        trigger_event="handoff_requested",
    ),
)


@dataclass(frozen=True)
class DemoLogin:
    workspace_id: str
    email: str
    password: str
    token: str | None


def create(session: Session, *, now: datetime) -> DemoLogin:
    """A new demo workspace with its admin user, a personal access token and the demo goals."""
    workspace = workspaces.create(
        session, WorkspaceCreate(name=DEMO_WORKSPACE, base_currency="EUR", timezone="Europe/Berlin"), now=now
    )
    user = auth.create_user(
        session, workspace.id, UserCreate(email=DEMO_EMAIL, role=Role.ADMIN, password=DEMO_PASSWORD), now=now
    )
    token = auth.create_token(session, user, TokenCreate(name="demo"), now=now)
    admin = auth.principal_of(user)
    for goal in DEMO_GOALS:
        goals.create(session, workspace.id, goal, actor=admin, now=now)
    return DemoLogin(workspace_id=str(workspace.id), email=DEMO_EMAIL, password=DEMO_PASSWORD, token=token)
