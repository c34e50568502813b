"""The goals service with multi-step goals on each backend (SPEC §9): the `goal_steps` rows it stores
(slots never move, positions follow the order), refusals that change nothing, the revision that tells
ingestion, and the goal index built from what it stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.auth.service import Principal, principal_of
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.errors import Invalid
from comerix.goals import service
from comerix.goals.index import GoalIndex
from comerix.goals.models import Goal, GoalStep
from comerix.goals.schemas import GoalUpdate
from comerix.vocabulary import GoalStatus
from comerix.workspaces.models import Workspace
from tests.factories import make_goal, make_multistep_goal, make_user, make_workspace, step_body


@pytest.fixture
def admin(session: Session, clock: FixedClock) -> Principal:
    return principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))


def update(session: Session, admin: Principal, goal: Goal, clock: FixedClock, **fields: Any) -> Goal:
    return service.update(session, goal, GoalUpdate.model_validate(fields), actor=admin, now=clock.now())


def rows(session: Session, goal: Goal) -> list[tuple[str, int, int, bool]]:
    """(key, slot, position, retired) of the goal's stored steps, by slot."""
    query = select(GoalStep).where(GoalStep.goal_id == goal.id).order_by(GoalStep.slot)
    return [(step.key, step.slot, step.position, step.retired) for step in session.scalars(query)]


def revision(session: Session, admin: Principal) -> int:
    found = session.scalar(select(Workspace.goals_revision).where(Workspace.id == admin.workspace_id))
    assert found is not None
    return found


def sent(goal: Goal, session: Session) -> list[dict[str, Any]]:
    """The goal's steps as a client would send them back."""
    return [
        {k: v for k, v in step.items() if k not in {"type", "position"}}
        for step in service.read(session, goal).model_dump(mode="json")["steps"]
    ]


def test_creating_stores_each_step_in_its_slot_and_place(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_multistep_goal(session, admin, clock.now())
    assert goal.trigger_event is None
    assert rows(session, goal) == [
        ("booking_started", 0, 0, False),
        ("details_given", 1, 1, False),
        ("booking_paid", 2, 2, False),
    ]
    paid = service.steps_of(session, goal)[2]
    assert (paid.completion, paid.revenue_earned, paid.cost_savings) == (True, Decimal("25.00"), Decimal(0))
    assert service.steps_of(session, make_goal(session, admin, clock.now())) == []


def test_reordering_moves_positions_and_a_new_step_takes_the_next_slot(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_multistep_goal(session, admin, clock.now())
    started, details, paid = sent(goal, session)
    update(session, admin, goal, clock, steps=[started, paid, details])
    assert rows(session, goal) == [
        ("booking_started", 0, 0, False),
        ("details_given", 1, 2, False),
        ("booking_paid", 2, 1, False),
    ]
    with pytest.raises(Invalid):  # details_given left out
        update(session, admin, goal, clock, steps=[started, paid])
    update(
        session,
        admin,
        goal,
        clock,
        steps=[step_body("chat_opened"), details, started | {"retired": True}, paid],
    )
    assert rows(session, goal) == [
        ("booking_started", 0, 2, True),
        ("details_given", 1, 1, False),
        ("booking_paid", 2, 3, False),
        ("chat_opened", 3, 0, False),
    ]


def test_a_refused_edit_of_steps_changes_nothing_and_tells_no_one(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_multistep_goal(session, admin, clock.now())
    before = (service.read(session, goal), rows(session, goal), revision(session, admin))
    started, details, paid = sent(goal, session)
    for steps in (
        [started, paid],
        [started | {"name": "Renamed", "retired": True}, details, paid],
        [started, details | {"name": "Renamed"}, paid | {"completion": False}],
        [started, details, paid, step_body("details_given")],
    ):
        with pytest.raises(Invalid):
            update(session, admin, goal, clock, name="Renamed", steps=steps)
    session.flush()
    session.expire_all()
    assert (service.read(session, goal), rows(session, goal), revision(session, admin)) == before
    assert len(service.history(session, goal)) == 1


def test_every_change_of_steps_bumps_the_revision_and_is_audited(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_multistep_goal(session, admin, clock.now())
    start = revision(session, admin)
    started, details, paid = sent(goal, session)
    update(session, admin, goal, clock, steps=[started, details | {"cost_savings": "0.5"}, paid])
    update(session, admin, goal, clock, steps=[started, details | {"cost_savings": "0.5"}, paid])  # no change
    assert revision(session, admin) == start + 1
    trail = service.history(session, goal)
    assert len(trail) == 2
    changed = trail[0].changes["steps"]
    assert (changed["from"][1]["cost_savings"], changed["to"][1]["cost_savings"]) == ("0", "0.5")


def test_the_goal_index_reads_the_stored_steps(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_multistep_goal(session, admin, clock.now())
    started, details, paid = sent(goal, session)
    details["match_conditions"] = {"form": "full"}
    update(session, admin, goal, clock, steps=[started, paid, details, step_body("old", retired=True)])
    make_goal(session, admin, clock.now(), code="purchase", trigger_event="booking_paid")

    goals = GoalIndex().current(session, admin.workspace_id)
    assert goals is not None
    spec = goals.by_code[goal.code]
    assert (spec.multi_step, spec.trigger_event) == (True, None)
    assert [(s.key, s.slot, s.position, s.is_start, s.completion, s.retired) for s in spec.steps] == [
        ("booking_started", 0, 0, True, False, False),
        ("booking_paid", 2, 1, False, True, False),
        ("details_given", 1, 2, False, False, False),
        ("old", 3, 3, False, False, True),
    ]
    paid_spec = spec.step("booking_paid")
    assert paid_spec is not None
    assert paid_spec.revenue_earned == Decimal("25.00")
    assert spec.step("nope") is None
    assert [(g.code, s.key) for g, s in goals.steps_hit("details_given", {"form": "full"})] == [
        (goal.code, "details_given")
    ]
    assert goals.steps_hit("details_given", {"form": "short"}) == []
    assert goals.steps_hit("old", {}) == []  # retired
    assert [s.key for _, s in goals.steps_hit("booking_paid", {})] == ["booking_paid"]
    assert [g.code for g in goals.achieved_by("booking_paid", {})] == ["purchase"]  # the single-step goal

    service.set_status(session, goal, GoalStatus.PAUSED, actor=admin, now=clock.now())
    paused = GoalIndex().current(session, admin.workspace_id)
    assert paused is not None
    assert paused.steps_hit("booking_started", {}) == []


def test_goals_are_read_with_their_own_steps(session: Session, admin: Principal, clock: FixedClock) -> None:
    first = make_multistep_goal(session, admin, clock.now(), name="A")
    single = make_goal(session, admin, clock.now(), name="B")
    second = make_multistep_goal(
        session,
        admin,
        clock.now(),
        name="C",
        steps=[step_body("opened"), step_body("closed", completion=True)],
    )
    other = principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))
    make_multistep_goal(session, other, clock.now())
    listed = service.read_all(session, service.list_for_workspace(session, admin.workspace_id))
    assert [[s.key for s in goal.steps] for goal in listed] == [
        ["booking_started", "details_given", "booking_paid"],
        [],
        ["opened", "closed"],
    ]
    assert listed == [service.read(session, goal) for goal in (first, single, second)]


def test_a_step_added_by_two_edits_at_once_is_added_once(db: Database, clock: FixedClock) -> None:
    """A form posted twice: the second edit waits for the first (its row lock on PostgreSQL, the write
    lock on SQLite) and finds the step it added."""
    with db.transaction() as session:
        admin = principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))
        goal_id = str(make_multistep_goal(session, admin, clock.now()).id)
        steps = [*sent(service.get_or_raise(session, admin.workspace_id, goal_id), session)]
    steps.append(step_body("extra"))

    def edit(session: Session) -> None:
        goal = service.get_or_raise(session, admin.workspace_id, goal_id)
        update(session, admin, goal, clock, steps=steps)

    with ThreadPoolExecutor(max_workers=1) as pool, db.transaction() as first:
        edit(first)
        second = pool.submit(lambda: _in_transaction(db, edit))
        time.sleep(0.3)
        assert not second.done()  # waiting for the first edit's lock on the goal
    second.result(timeout=10)

    with db.transaction() as session:
        goal = service.get_or_raise(session, admin.workspace_id, goal_id)
        assert [(key, slot) for key, slot, _, _ in rows(session, goal)] == [
            ("booking_started", 0),
            ("details_given", 1),
            ("booking_paid", 2),
            ("extra", 3),
        ]
        assert len(service.history(session, goal)) == 2


def _in_transaction(db: Database, work: Callable[[Session], None]) -> None:
    with db.transaction() as session:
        work(session)
