"""Matching (SPEC §1): JSON equality, property paths, case-sensitive names, every condition must hold."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from comerix.conversions.valuation import ValueRule
from comerix.goals.index import GoalSpec, WorkspaceGoals
from comerix.goals.matching import MISSING, failures, json_equal, matches, read_path
from comerix.goals.models import GoalKind, GoalStatus, ValueMode


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (1, 1.0),
        (0, 0.0),
        (-2.5, -2.5),
        ("premium", "premium"),
        (True, True),
        (False, False),
        (None, None),
        (10**20, 10**20),
    ],
)
def test_equal_json_scalars(left: Any, right: Any) -> None:
    assert json_equal(left, right)
    assert json_equal(right, left)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("1", 1),
        ("1.0", 1.0),
        (True, "true"),
        (True, 1),
        (False, 0),
        (None, 0),
        (None, ""),
        (None, False),
        ("Premium", "premium"),
        ("premium ", "premium"),
        ({"a": 1}, {"a": 1}),
        ([1], [1]),
        (1, 1.0000001),
    ],
)
def test_unequal_json_scalars(left: Any, right: Any) -> None:
    assert not json_equal(left, right)
    assert not json_equal(right, left)


def test_dotted_paths_read_nested_objects() -> None:
    properties = {"order": {"plan": "premium", "items": {"count": 2}}}
    assert read_path(properties, "order.plan") == "premium"
    assert read_path(properties, "order.items.count") == 2
    assert read_path(properties, "order.missing") is MISSING
    assert read_path(properties, "order.plan.deeper") is MISSING


def test_a_key_with_a_dot_is_tried_first() -> None:
    properties = {"order.plan": "flat", "order": {"plan": "nested"}}
    assert read_path(properties, "order.plan") == "flat"


def test_dotted_keys_inside_nested_objects() -> None:
    assert read_path({"a": {"b.c": 1}}, "a.b.c") == 1
    assert read_path({"a.b": {"c": 2}}, "a.b.c") == 2


def test_null_is_a_value_and_missing_is_not() -> None:
    assert matches({"coupon": None}, {"coupon": None})
    assert not matches({"coupon": None}, {})


def test_empty_conditions_match_every_occurrence() -> None:
    assert matches({}, {})
    assert matches({}, {"anything": [1, 2]})


def test_every_condition_must_hold() -> None:
    conditions = {"plan": "premium", "seats": 3}
    assert matches(conditions, {"plan": "premium", "seats": 3.0, "extra": True})
    assert failures(conditions, {"plan": "premium", "seats": "3"}) == ["seats"]
    assert failures(conditions, {}) == ["plan", "seats"]


def spec(trigger: str, status: GoalStatus = GoalStatus.ACTIVE, code: str = "g") -> GoalSpec:
    return GoalSpec(
        id=uuid.uuid4(),
        code=code,
        kind=GoalKind.CONVERSION,
        status=status,
        trigger_event=trigger,
        match_conditions={},
        value_rule=ValueRule(ValueMode.NONE),
        attribution_window_hours=168,
    )


def test_the_index_holds_active_goals_by_exact_trigger_name() -> None:
    goals = WorkspaceGoals.build(
        1,
        [
            spec("purchase", code="a"),
            spec("Purchase", code="b"),
            spec("purchase", GoalStatus.PAUSED, "c"),
            spec("purchase", GoalStatus.ARCHIVED, "d"),
        ],
    )
    assert [g.code for g in goals.listening_to("purchase")] == ["a"]
    assert [g.code for g in goals.listening_to("Purchase")] == ["b"]
    assert goals.listening_to("PURCHASE") == ()
    assert set(goals.by_code) == {"a", "b", "c", "d"}
