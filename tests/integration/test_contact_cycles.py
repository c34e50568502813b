"""A contact's cycles of multi-step goals (SPEC §9) on each backend: the profile lists them, newest first,
with the steps reached in the goal's current order (through the service, and once over HTTP: the API's
JSON and the admin page); erasure deletes them and their steps, while the goals report's rollups keep
what they counted.

The rows are written through the ORM, as ingestion will have stored them: `add_multistep_goal` and
`add_cycle` are also the OData tests' way to make them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.analytics.models import GoalCycleRollup
from comerix.auth.service import Principal, principal_of
from comerix.clock import FixedClock
from comerix.contacts import service
from comerix.contacts.errors import ContactNotFound
from comerix.contacts.schemas import PROFILE_CYCLES
from comerix.conversions.models import GoalCycle, step_time
from comerix.db import Database
from comerix.goals.models import Goal, GoalStep
from comerix.telemetry.models import Contact, Conversation
from comerix.vocabulary import CycleState, GoalKind, GoalStatus, ValueMode
from tests.factories import make_member, make_user, make_workspace
from tests.pages import sign_in

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Step:
    """A step as a test defines it: its key, whether it completes the goal, and what it is worth."""

    key: str
    completion: bool = False
    time_saved_seconds: int = 0
    cost_savings: str = "0"
    revenue_earned: str = "0"
    retired: bool = False


BOOKING = (
    Step("start"),
    Step("choose", time_saved_seconds=60, cost_savings="0.50"),
    Step("pay", completion=True, time_saved_seconds=120, cost_savings="1.25", revenue_earned="49.90"),
)


def add_multistep_goal(
    session: Session,
    workspace_id: uuid.UUID,
    code: str,
    now: datetime,
    steps: Sequence[Step] = BOOKING,
    **fields: Any,
) -> tuple[Goal, dict[str, GoalStep]]:
    """A multi-step goal (no trigger of its own) and its steps, slot and position in the given order."""
    values = {
        "name": code.replace("_", " ").capitalize(),
        "description": None,
        "kind": GoalKind.CONVERSION,
        "is_primary": False,
        "status": GoalStatus.ACTIVE,
        "match_conditions": {},
        "value_mode": ValueMode.NONE,
        "attribution_window_hours": 168,
    } | fields
    goal = Goal(
        workspace_id=workspace_id,
        id=uuid.uuid4(),
        code=code,
        trigger_event=None,
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(goal)
    session.flush()
    made = {}
    for slot, step in enumerate(steps):
        made[step.key] = GoalStep(
            workspace_id=workspace_id,
            id=uuid.uuid4(),
            goal_id=goal.id,
            key=step.key,
            slot=slot,
            position=slot,
            name=step.key.capitalize(),
            description=None,
            trigger_event=f"{step.key}_event",
            match_conditions={},
            completion=step.completion,
            time_saved_seconds=step.time_saved_seconds,
            cost_savings=Decimal(step.cost_savings),
            revenue_earned=Decimal(step.revenue_earned),
            retired=step.retired,
        )
        session.add(made[step.key])
    session.flush()
    return goal, made


def add_cycle(
    session: Session,
    goal: Goal,
    steps: dict[str, GoalStep],
    conversation_id: str,
    contact_id: str | None,
    started: datetime,
    reached: Sequence[str],
    *,
    flow_id: str | None = "booking-bot",
) -> GoalCycle:
    """A cycle that reached `reached` (keys, in the order reached, a minute apart, each time kept in
    `reached_at`); completed when a completion step is among them. Its state and metrics follow SPEC §9."""
    hit = [steps[key] for key in reached]
    completed = any(step.completion for step in hit)
    state = (
        CycleState.COMPLETED if completed else CycleState.PARTIAL if len(hit) > 1 else CycleState.INCOMPLETE
    )
    counted = state is not CycleState.INCOMPLETE
    last = started + (len(hit) - 1) * MINUTE
    cycle = GoalCycle(
        workspace_id=goal.workspace_id,
        id=uuid.uuid4(),
        goal_id=goal.id,
        conversation_id=conversation_id,
        open_for=None if completed else conversation_id,
        contact_id=contact_id,
        flow_id=flow_id,
        started_at=started,
        last_step_at=last,
        ended_at=last if completed else None,
        state=state,
        reached=sum(1 << step.slot for step in hit),
        steps_reached=len(hit),
        time_saved_seconds=sum(s.time_saved_seconds for s in hit) if counted else 0,
        cost_savings=sum((s.cost_savings for s in hit), Decimal(0)) if counted else Decimal(0),
        revenue_earned=sum((s.revenue_earned for s in hit), Decimal(0)) if counted else Decimal(0),
        outcome_id=uuid.uuid4() if completed else None,
        reached_at={str(step.slot): step_time(started + offset * MINUTE) for offset, step in enumerate(hit)},
    )
    session.add(cycle)
    session.flush()
    return cycle


def add_chat(session: Session, workspace_id: uuid.UUID, chat: str, contact_id: str, at: datetime) -> None:
    session.add(
        Conversation(
            workspace_id=workspace_id,
            id=chat,
            started_at=at,
            last_activity_at=at,
            ended_at=None,
            contact_id=contact_id,
            flow_id="booking-bot",
        )
    )
    session.flush()


def add_person(session: Session, workspace_id: uuid.UUID, contact_id: str, at: datetime) -> None:
    session.add(Contact(workspace_id=workspace_id, id=contact_id, first_seen_at=at, last_seen_at=at))
    session.flush()


def add_rollup(session: Session, goal: Goal, day: date, state: CycleState, reached: int) -> None:
    """A goals report row, as the rollup stage would have counted one cycle."""
    session.add(
        GoalCycleRollup(
            workspace_id=goal.workspace_id,
            day=day,
            goal_id=goal.id.hex,
            flow_id="booking-bot",
            state=state.value,
            reached=reached,
            cycles=1,
            time_saved_seconds=180,
            cost_savings_high=0,
            cost_savings_low=1_750_000,
            revenue_earned_high=0,
            revenue_earned_low=49_900_000,
        )
    )
    session.flush()


def count(session: Session, model: type[Any], workspace_id: uuid.UUID, **where: Any) -> int:
    query = select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
    return int(session.scalar(query.filter_by(**where)) or 0)


@pytest.fixture
def admin(session: Session, clock: FixedClock) -> Principal:
    return principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))


@pytest.fixture
def stranger(session: Session, clock: FixedClock) -> Principal:
    return principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))


# The profile ---------------------------------------------------------------------------------------


def test_a_profile_lists_the_contacts_cycles_newest_first_with_steps_in_the_goals_order(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    now = clock.now()
    workspace = admin.workspace_id
    add_person(session, workspace, "ann", now)
    for chat, hours in (("chat-1", 0), ("chat-2", 24), ("chat-3", 25)):
        add_chat(session, workspace, chat, "ann", now + hours * HOUR)
    booking, steps = add_multistep_goal(session, workspace, "booking", now, name="Table booking")
    completed = add_cycle(session, booking, steps, "chat-1", "ann", now, ["start", "choose", "pay"])
    partial = add_cycle(session, booking, steps, "chat-2", "ann", now + 24 * HOUR, ["start", "choose"])
    # Started before the person was identified: no contact on the cycle, but the chat is theirs.
    anonymous = add_cycle(session, booking, steps, "chat-3", None, now + 25 * HOUR, ["start"])
    # Reordered since: the profile lists the keys in the goal's order of today, neither in the order
    # reached nor by slot.
    steps["pay"].position, steps["choose"].position = 1, 2
    session.flush()

    cycles = service.get_profile(session, workspace, "ann").cycles

    assert [c.id for c in cycles] == [str(anonymous.id), str(partial.id), str(completed.id)]
    first = cycles[2]
    assert (first.goal, first.name, first.conversation_id, first.flow_id) == (
        "booking",
        "Table booking",
        "chat-1",
        "booking-bot",
    )
    assert (first.state, first.started_at, first.ended_at) == (CycleState.COMPLETED, now, now + 2 * MINUTE)
    assert (first.steps, first.steps_reached) == (["start", "pay", "choose"], 3)
    assert (first.time_saved_seconds, first.cost_savings, first.revenue_earned) == (
        180,
        Decimal("1.75"),
        Decimal("49.90"),
    )
    assert (cycles[1].state, cycles[1].steps, cycles[1].ended_at) == (
        CycleState.PARTIAL,
        ["start", "choose"],
        None,
    )
    assert (cycles[0].state, cycles[0].steps, cycles[0].cost_savings) == (
        CycleState.INCOMPLETE,
        ["start"],
        Decimal(0),
    )
    assert first.model_dump(mode="json")["cost_savings"] == "1.75"


def test_a_profile_keeps_retired_steps_reached_and_lists_no_one_elses_cycles(
    session: Session, admin: Principal, stranger: Principal, clock: FixedClock
) -> None:
    now = clock.now()
    steps_defined = (Step("start"), Step("old_step", retired=True), Step("done", completion=True))
    goal, steps = add_multistep_goal(session, admin.workspace_id, "quote", now, steps_defined)
    for who in ("ann", "bob"):
        add_person(session, admin.workspace_id, who, now)
        add_chat(session, admin.workspace_id, f"chat-{who}", who, now)
    add_cycle(session, goal, steps, "chat-ann", "ann", now, ["start", "old_step"])
    add_cycle(session, goal, steps, "chat-bob", "bob", now, ["start", "done"])
    theirs, their_steps = add_multistep_goal(session, stranger.workspace_id, "quote", now, steps_defined)
    add_person(session, stranger.workspace_id, "ann", now)
    add_chat(session, stranger.workspace_id, "chat-ann", "ann", now)
    add_cycle(session, theirs, their_steps, "chat-ann", "ann", now, ["start", "done"])

    [cycle] = service.get_profile(session, admin.workspace_id, "ann").cycles

    assert (cycle.steps, cycle.state) == (["start", "old_step"], CycleState.PARTIAL)
    assert [c.state for c in service.get_profile(session, stranger.workspace_id, "ann").cycles] == [
        CycleState.COMPLETED
    ]


def test_a_profile_lists_at_most_the_newest_cycles(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    now = clock.now()
    add_person(session, admin.workspace_id, "ann", now)
    goal, steps = add_multistep_goal(session, admin.workspace_id, "booking", now)
    for n in range(PROFILE_CYCLES + 5):
        add_chat(session, admin.workspace_id, f"chat-{n}", "ann", now + n * MINUTE)
        add_cycle(session, goal, steps, f"chat-{n}", "ann", now + n * MINUTE, ["start", "pay"])

    cycles = service.get_profile(session, admin.workspace_id, "ann").cycles

    assert len(cycles) == PROFILE_CYCLES
    assert cycles[0].conversation_id == f"chat-{PROFILE_CYCLES + 4}"
    assert cycles[-1].conversation_id == "chat-5"


def test_a_profile_without_cycles_lists_none(session: Session, admin: Principal, clock: FixedClock) -> None:
    add_person(session, admin.workspace_id, "ann", clock.now())
    assert service.get_profile(session, admin.workspace_id, "ann").cycles == []


# Erasure ---------------------------------------------------------------------------------------------


def test_erasure_deletes_the_contacts_cycles_with_their_steps_and_keeps_the_rollups(
    session: Session, admin: Principal, stranger: Principal, clock: FixedClock
) -> None:
    now = clock.now()
    workspace = admin.workspace_id
    goal, steps = add_multistep_goal(session, workspace, "booking", now)
    for who in ("ann", "bob"):
        add_person(session, workspace, who, now)
        add_chat(session, workspace, f"chat-{who}", who, now)
    add_cycle(session, goal, steps, "chat-ann", "ann", now, ["start", "choose", "pay"])
    # In ann's chat before she was identified: the cycle does not name her.
    add_cycle(session, goal, steps, "chat-ann", None, now + HOUR, ["start"])
    # Hers by its contact, in a chat not stored as hers.
    add_cycle(session, goal, steps, "elsewhere", "ann", now, ["start", "choose"])
    add_cycle(session, goal, steps, "chat-bob", "bob", now, ["start", "pay"])
    theirs, their_steps = add_multistep_goal(session, stranger.workspace_id, "booking", now)
    add_person(session, stranger.workspace_id, "ann", now)
    add_cycle(session, theirs, their_steps, "chat-ann", "ann", now, ["start", "pay"])
    add_rollup(session, goal, now.date(), CycleState.COMPLETED, 0b111)
    add_rollup(session, goal, now.date(), CycleState.INCOMPLETE, 0b001)
    session.flush()
    rollups_before = [
        (r.day, r.goal_id, r.state, r.reached, r.cycles, r.time_saved_seconds, r.cost_savings_low)
        for r in session.scalars(select(GoalCycleRollup).order_by(GoalCycleRollup.state))
    ]
    assert count(session, GoalCycle, workspace) == 4

    result = service.erase(session, workspace, "ann")

    assert (result.events_deleted, result.conversations_deleted) == (0, 1)
    session.expire_all()
    left = session.scalars(select(GoalCycle).where(GoalCycle.workspace_id == workspace)).all()
    assert [(c.contact_id, sorted(c.step_times())) for c in left] == [
        ("bob", [steps["start"].slot, steps["pay"].slot])
    ]
    assert count(session, GoalCycle, stranger.workspace_id) == 1
    rollups_after = [
        (r.day, r.goal_id, r.state, r.reached, r.cycles, r.time_saved_seconds, r.cost_savings_low)
        for r in session.scalars(select(GoalCycleRollup).order_by(GoalCycleRollup.state))
    ]
    assert rollups_after == rollups_before
    with pytest.raises(ContactNotFound):
        service.get_profile(session, workspace, "ann")
    assert [c.conversation_id for c in service.get_profile(session, workspace, "bob").cycles] == ["chat-bob"]


def test_erasure_of_a_contact_known_only_by_cycles_deletes_them(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    """Nothing else names the contact (its profile row and chats went some other way): still erased."""
    goal, steps = add_multistep_goal(session, admin.workspace_id, "booking", clock.now())
    add_cycle(session, goal, steps, "chat-1", "ann", clock.now(), ["start", "choose"])

    assert service.erasure_preview(session, admin.workspace_id, "ann").conversations_deleted == 0
    service.erase(session, admin.workspace_id, "ann")

    assert count(session, GoalCycle, admin.workspace_id) == 0
    with pytest.raises(ContactNotFound):
        service.erase(session, admin.workspace_id, "ann")


# Over HTTP: the API's JSON and the admin page ------------------------------------------------------------


def test_the_profile_shows_the_cycles_over_the_api_and_on_its_page(
    db: Database, client: TestClient, pages: TestClient, clock: FixedClock
) -> None:
    now = clock.now()
    with db.transaction() as session:
        member = make_member(session, now)
        workspace = member.workspace.id
        add_person(session, workspace, "ann", now)
        add_chat(session, workspace, "chat-1", "ann", now)
        goal, steps = add_multistep_goal(session, workspace, "booking", now, name="Table <booking>")
        cycle = add_cycle(session, goal, steps, "chat-1", "ann", now, ["start", "choose", "pay"])

    answer = client.get("/api/v1/contacts/ann", headers=member.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cycles"] == [
        {
            "id": str(cycle.id),
            "goal": "booking",
            "name": "Table <booking>",
            "conversation_id": "chat-1",
            "flow_id": "booking-bot",
            "state": "completed",
            "started_at": "2026-11-02T09:30:00Z",
            "ended_at": "2026-11-02T09:32:00Z",
            "steps": ["start", "choose", "pay"],
            "steps_reached": 3,
            "time_saved_seconds": 180,
            "cost_savings": "1.75",
            "revenue_earned": "49.90",
        }
    ]

    assert sign_in(pages, member.user.email).status_code == 303
    page = pages.get("/admin/contacts/profile", params={"contact_id": "ann"})
    assert page.status_code == 200, page.text
    assert "Multi-step goals" in page.text
    assert 'Table &lt;booking&gt; <code class="muted">booking</code>' in page.text
    assert "<code>start</code> → <code>choose</code> → <code>pay</code>" in page.text
    assert "3 min" in page.text
    assert "1.75 EUR" in page.text
    assert "49.90 EUR" in page.text
