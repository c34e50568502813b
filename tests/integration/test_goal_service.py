"""The goals service on each backend: uniqueness, immutability, partial updates, status, audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from comerix.auth.service import Principal, principal_of
from comerix.clock import FixedClock
from comerix.errors import Invalid
from comerix.goals import service
from comerix.goals.errors import GoalCodeImmutable, GoalCodeTaken, GoalNotFound
from comerix.goals.models import RevisionAction
from comerix.goals.schemas import GoalRead, GoalUpdate
from comerix.vocabulary import GoalStatus, ValueMode
from tests.factories import make_goal, make_user, make_workspace


@pytest.fixture
def admin(session: Session, clock: FixedClock) -> Principal:
    return principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))


def update(session: Session, admin: Principal, goal_id: Any, clock: FixedClock, **fields: Any) -> Any:
    goal = service.get_or_raise(session, admin.workspace_id, str(goal_id))
    return service.update(session, goal, GoalUpdate.model_validate(fields), actor=admin, now=clock.now())


def test_a_new_goal_is_active(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    assert goal.status is GoalStatus.ACTIVE
    assert goal.created_at == goal.updated_at == clock.now()


def test_a_code_is_unique_in_its_workspace(session: Session, admin: Principal, clock: FixedClock) -> None:
    make_goal(session, admin, clock.now(), code="signup")
    with pytest.raises(GoalCodeTaken):
        make_goal(session, admin, clock.now(), code="signup")


def test_an_archived_goal_keeps_its_code(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), code="signup")
    service.set_status(session, goal, GoalStatus.ARCHIVED, actor=admin, now=clock.now())
    with pytest.raises(GoalCodeTaken):
        make_goal(session, admin, clock.now(), code="signup")


def test_another_workspace_may_use_the_same_code(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    make_goal(session, admin, clock.now(), code="signup")
    other = principal_of(make_user(session, make_workspace(session, clock.now()), clock.now()))
    assert make_goal(session, other, clock.now(), code="signup").code == "signup"


def test_another_workspaces_goal_is_not_found(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    other = make_workspace(session, clock.now())
    with pytest.raises(GoalNotFound):
        service.get_or_raise(session, other.id, str(goal.id))


@pytest.mark.parametrize("goal_id", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ids_are_not_found(session: Session, admin: Principal, goal_id: str) -> None:
    with pytest.raises(GoalNotFound):
        service.get_or_raise(session, admin.workspace_id, goal_id)


def test_update_changes_only_the_fields_sent(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), description="before", match_conditions={"plan": "premium"})
    clock.advance(timedelta(minutes=5))
    updated = update(session, admin, goal.id, clock, name="Renamed")
    assert (updated.name, updated.description, updated.match_conditions) == (
        "Renamed",
        "before",
        {"plan": "premium"},
    )
    assert updated.updated_at == clock.now() != updated.created_at


def test_the_code_cannot_change(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), code="signup")
    with pytest.raises(GoalCodeImmutable):
        update(session, admin, goal.id, clock, code="sign_up", name="Changed too")
    assert goal.code == "signup"
    assert goal.name != "Changed too"


def test_sending_the_same_code_back_is_fine(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), code="signup")
    assert update(session, admin, goal.id, clock, code="signup", name="Sign-up").name == "Sign-up"


def test_a_fetched_goal_can_be_sent_back_whole(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    body = GoalRead.of(goal).model_dump(mode="json") | {"name": "Round trip"}
    assert update(session, admin, goal.id, clock, **body).name == "Round trip"


def test_status_cannot_change_through_update(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    with pytest.raises(Invalid) as exc:
        update(session, admin, goal.id, clock, status="paused")
    assert exc.value.details[0]["field"] == "status"
    assert goal.status is GoalStatus.ACTIVE


def test_a_refused_update_changes_nothing(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), name="Kept")
    before = GoalRead.of(goal)
    with pytest.raises(Invalid) as exc:
        update(session, admin, goal.id, clock, name="New", value_mode="fixed")
    assert exc.value.details == [{"field": "fixed_value", "message": "is required when value_mode is fixed"}]
    assert GoalRead.of(goal) == before
    assert len(service.history(session, goal)) == 1


def test_null_for_a_required_field_is_refused(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    with pytest.raises(Invalid) as exc:
        update(session, admin, goal.id, clock, name=None)
    assert exc.value.details[0]["field"] == "name"


def test_leaving_a_value_mode_drops_its_stored_field(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_goal(session, admin, clock.now(), value_mode="fixed", fixed_value="10")
    updated = update(session, admin, goal.id, clock, value_mode="from_property", value_property="total")
    assert (updated.value_mode, updated.fixed_value, updated.value_property) == (
        ValueMode.FROM_PROPERTY,
        None,
        "total",
    )


def test_status_moves_between_all_three_values(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now())
    for status in (
        GoalStatus.PAUSED,
        GoalStatus.ARCHIVED,
        GoalStatus.ACTIVE,
        GoalStatus.ARCHIVED,
        GoalStatus.PAUSED,
        GoalStatus.ACTIVE,
    ):
        assert service.set_status(session, goal, status, actor=admin, now=clock.now()).status is status


def test_list_filters_by_status_and_puts_primary_goals_first(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    make_goal(session, admin, clock.now(), name="A secondary")
    make_goal(session, admin, clock.now(), name="Z primary", is_primary=True)
    paused = make_goal(session, admin, clock.now(), name="B paused")
    service.set_status(session, paused, GoalStatus.PAUSED, actor=admin, now=clock.now())
    listed = service.list_for_workspace(session, admin.workspace_id)
    assert [g.name for g in listed] == ["Z primary", "A secondary", "B paused"]
    only_paused = service.list_for_workspace(session, admin.workspace_id, GoalStatus.PAUSED)
    assert [g.name for g in only_paused] == ["B paused"]


def test_every_change_is_in_the_audit_trail(session: Session, admin: Principal, clock: FixedClock) -> None:
    goal = make_goal(session, admin, clock.now(), name="First")
    clock.advance(timedelta(minutes=1))
    update(session, admin, goal.id, clock, name="Second", attribution_window_hours=48)
    clock.advance(timedelta(minutes=1))
    service.set_status(session, goal, GoalStatus.PAUSED, actor=admin, now=clock.now())

    trail = service.history(session, goal)
    assert [r.action for r in trail] == [
        RevisionAction.STATUS_CHANGED,
        RevisionAction.UPDATED,
        RevisionAction.CREATED,
    ]
    assert trail[0].changes == {"status": {"from": "active", "to": "paused"}}
    assert trail[1].changes == {
        "name": {"from": "First", "to": "Second"},
        "attribution_window_hours": {"from": 168, "to": 48},
    }
    assert trail[2].changes["name"] == {"from": None, "to": "First"}
    assert {(r.actor_user_id, r.actor_email) for r in trail} == {(admin.user_id, admin.email)}
    assert [r.at for r in trail] == [
        clock.now(),
        clock.now() - timedelta(minutes=1),
        clock.now() - timedelta(minutes=2),
    ]


def test_a_change_that_changes_nothing_leaves_no_trace(
    session: Session, admin: Principal, clock: FixedClock
) -> None:
    goal = make_goal(session, admin, clock.now(), name="Same")
    update(session, admin, goal.id, clock, name="Same")
    service.set_status(session, goal, GoalStatus.ACTIVE, actor=admin, now=clock.now())
    assert len(service.history(session, goal)) == 1
