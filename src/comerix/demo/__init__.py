"""The demo workspace that `make run` starts with: a shop, its users, goals of every kind and value
mode (two of them multi-step processes, `demo.processes`), Engine API keys, and 90 days of realistic
chats (`demo.traffic`) sent through the real pipeline.

`comerix demo --if-empty` does nothing on a database that already has workspaces.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from comerix.auth import service as auth
from comerix.auth import usage
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.db import Database
from comerix.demo.processes import PROCESS_GOALS
from comerix.demo.traffic import CURRENCIES, DAYS, traffic
from comerix.goals import service as goals
from comerix.goals.index import GoalIndex
from comerix.goals.schemas import GoalCreate
from comerix.ingestion import STAGES
from comerix.rates import reference
from comerix.rates import service as rates
from comerix.rates.schemas import RateIn, RatesIn
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import ingest
from comerix.telemetry.schemas import IngestResult, Item
from comerix.vocabulary import GoalKind, GoalStatus, Source, ValueMode
from comerix.workspaces import service as workspaces
from comerix.workspaces.schemas import WorkspaceCreate

DEMO_WORKSPACE = "Demo Shop"
DEMO_CURRENCIES = sorted(set(CURRENCIES) - {"EUR"})
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
    *PROCESS_GOALS,  # the multi-step ones: a fitting booked, a return handled
    GoalCreate(
        code="trial_started",
        name="Free trial started",
        kind=GoalKind.CONVERSION,
        description="Paused while the trial offer is being reworked.",
        trigger_event="trial_started",
        value_mode=ValueMode.FIXED,
        fixed_value=Decimal("5.00"),
        currency="EUR",
    ),
    GoalCreate(
        code="coupon_copied",
        name="Coupon code copied",
        kind=GoalKind.ENGAGEMENT,
        description="Archived with the summer campaign.",
        trigger_event="coupon_copied",
    ),
)
# The list page shows every status at first sight: these demo goals are not active.
DEMO_STATUSES = {"trial_started": GoalStatus.PAUSED, "coupon_copied": GoalStatus.ARCHIVED}


DEMO_ROLES = (Role.DESIGNER, Role.ANALYST, Role.VIEWER)  # signing in as e.g. analyst@demo-shop.example
TRAFFIC_BATCH = 500


@dataclass(frozen=True)
class DemoLogin:
    workspace_id: uuid.UUID
    email: str
    password: str
    token: str
    public_key: str
    secret_key: str


def create(session: Session, *, now: datetime) -> DemoLogin:
    """A new demo workspace with its admin user, a personal access token and the demo goals."""
    workspace = workspaces.create(
        session, WorkspaceCreate(name=DEMO_WORKSPACE, base_currency="EUR", timezone="Europe/Berlin"), now=now
    )
    user = auth.create_user(
        session, workspace.id, UserCreate(email=DEMO_EMAIL, role=Role.ADMIN, password=DEMO_PASSWORD), now=now
    )
    for role in DEMO_ROLES:
        auth.create_user(
            session,
            workspace.id,
            UserCreate(email=f"{role.value}@demo-shop.example", role=role, password=DEMO_PASSWORD),
            now=now,
        )
    token = auth.create_token(session, user, TokenCreate(name="demo"), now=now)
    # The shop made its keys before its widget and backend sent the demo period's traffic with them.
    keys_made = now - timedelta(days=DAYS + 1)
    keys = [
        auth.create_engine_key(
            session, workspace.id, EngineKeyCreate(kind=kind, name=f"demo {kind.value}"), now=keys_made
        )
        for kind in (EngineKeyKind.PUBLIC, EngineKeyKind.SECRET)
    ]
    admin = auth.principal_of(user)
    for data in DEMO_GOALS:
        goal = goals.create(session, workspace.id, data, actor=admin, now=now)
        if data.code in DEMO_STATUSES:
            goals.set_status(session, goal, DEMO_STATUSES[data.code], actor=admin, now=now)
    rates.replace_rates(session, workspace, RatesIn(rates=carried_rates(now)), actor=admin, now=now)
    return DemoLogin(
        workspace_id=workspace.id,
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        token=token,
        public_key=keys[0],
        secret_key=keys[1],
    )


def carried_rates(now: datetime) -> list[RateIn]:
    """The shop's own rates for the weekdays since the ECB history the service ships with ends, up to
    `now`: the ECB's last quote of each of the demo's currencies, carried forward, so that every sale of
    the demo converts into euros (SPEC §11; the README says what they are)."""
    history = reference.EcbRates()
    last = history.last_bundled_day
    quotes = {currency: history.per_euro(currency, last) for currency in DEMO_CURRENCIES}
    days = (last + timedelta(days=n) for n in range(1, (now.date() - last).days + 2))
    return [
        RateIn(currency=currency, date=day, per_base=quote)
        for day in days
        if day.weekday() < 5
        for currency, quote in quotes.items()
        if quote is not None
    ]


def load_traffic(
    database: Database,
    workspace_id: uuid.UUID,
    now: datetime,
    *,
    scale: float = 1.0,
    progress: Callable[[int], None] = lambda _count: None,
) -> IngestTotals:
    """Send the demo period's events through the ingestion pipeline, in batches, each committed.

    Each batch arrives when its last event happened, as a widget sending as it goes would have, so the
    Event Explorer's ranges (by arrival) show the demo period as it unfolded.
    """
    index = GoalIndex()
    totals = IngestTotals()
    batch: list[Item] = []
    last_sent: dict[Source, datetime] = {}  # by route: the widget's key sends events, the shop's conversions
    for item in [*traffic(now, scale=scale), None]:
        if item is not None:
            batch.append(replace(item, index=len(batch)))
        if batch and (item is None or len(batch) == TRAFFIC_BATCH):
            with database.transaction() as session:
                arrived = max(item.timestamp for item in batch)
                result = ingest(session, Batch(workspace_id, batch, arrived), index, STAGES)
            totals.add(result)
            last_sent.update((sent.source, arrived) for sent in batch)
            progress(len(batch))
            batch = []
    with database.transaction() as session:
        _keys_used(session, workspace_id, last_sent)
    return totals


def _keys_used(session: Session, workspace_id: uuid.UUID, last_sent: dict[Source, datetime]) -> None:
    """The demo keys' "last used": the public key sent the widget's events, the secret one the shop's
    conversions, as a real shop's would have."""
    kinds = {Source.WIDGET: EngineKeyKind.PUBLIC, Source.SERVER: EngineKeyKind.SECRET}
    keys = {key.kind: key.id for key in auth.list_engine_keys(session, workspace_id)}
    usage.record(
        session,
        {
            (workspace_id, keys[kinds[source]]): at
            for source, at in last_sent.items()
            if kinds[source] in keys
        },
    )


@dataclass
class IngestTotals:
    events: int = 0
    outcomes: int = 0

    def add(self, result: IngestResult) -> None:
        self.events += result.accepted
        self.outcomes += sum(len(item.outcomes) for item in result.results)
