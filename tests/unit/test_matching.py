"""Matching (SPEC §1): JSON equality, property paths, case-sensitive names, every condition must hold."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comerix.goals.index import GoalSpec, StepSpec, WorkspaceGoals
from comerix.goals.matching import (
    MISSING,
    ConditionIndex,
    failures,
    json_equal,
    matches,
    read_path,
    scalar_key,
)
from comerix.goals.rules import ValueRule
from comerix.vocabulary import GoalKind, GoalStatus, ValueMode


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


# The condition index files goals under their first condition; it must answer exactly what checking
# every goal in turn answers, for every mix of types the JSON equality rules tell apart.
SCALARS = st.sampled_from([0, 1, 1.0, -0.0, "1", "true", True, False, None])
PATHS = st.sampled_from(["plan", "sku", "order.plan", "order"])
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(PATHS, inner, max_size=3)
)
CONDITIONS = st.dictionaries(PATHS, SCALARS, max_size=3)


@settings(max_examples=500)
@given(
    goals=st.lists(CONDITIONS, max_size=12),
    properties=st.dictionaries(PATHS, SCALARS | VALUES, max_size=4),
)
def test_the_condition_index_answers_what_checking_every_goal_answers(
    goals: list[dict[str, Any]], properties: dict[str, Any]
) -> None:
    index = ConditionIndex((number, conditions) for number, conditions in enumerate(goals))
    expected = [number for number, conditions in enumerate(goals) if matches(conditions, properties)]
    assert index.matching(properties) == expected


def multi_step(code: str, steps: list[tuple[str, dict[str, Any], bool]], status: GoalStatus) -> GoalSpec:
    """A multi-step goal whose steps are (trigger, conditions, retired), in this order."""
    return replace(
        spec("", status, code),
        trigger_event=None,
        steps=tuple(
            StepSpec(
                key=f"s{n}",
                slot=n,
                position=n,
                trigger_event=trigger,
                match_conditions=conditions,
                completion=n == len(steps) - 1,
                time_saved_seconds=0,
                cost_savings=Decimal(0),
                revenue_earned=Decimal(0),
                retired=retired,
            )
            for n, (trigger, conditions, retired) in enumerate(steps)
        ),
    )


NAMES = st.sampled_from(["started", "viewed", "paid"])
STEPS = st.lists(st.tuples(NAMES, CONDITIONS | st.just({}), st.booleans()), min_size=1, max_size=4)
STATUSES = st.sampled_from([GoalStatus.ACTIVE, GoalStatus.ACTIVE, GoalStatus.PAUSED])


@settings(max_examples=300)
@given(
    goals=st.lists(st.tuples(STEPS, STATUSES), max_size=6),
    name=NAMES | st.just("other"),
    properties=st.dictionaries(PATHS, SCALARS | VALUES, max_size=4),
)
def test_the_steps_an_event_reaches_are_those_its_conditions_hold_for(
    goals: list[tuple[list[tuple[str, dict[str, Any], bool]], GoalStatus]],
    name: str,
    properties: dict[str, Any],
) -> None:
    """`steps_reached`, which makes the steps of a name without conditions once, answers what checking
    every step of every active goal answers, goal by goal in the order they apply: in step order, the
    completion steps last."""
    specs = [multi_step(f"g{n}", steps, status) for n, (steps, status) in enumerate(goals)]
    expected = tuple(
        (goal.code, step.key, step.is_start)
        for goal in specs
        if goal.status is GoalStatus.ACTIVE
        for step in sorted(goal.steps, key=lambda step: (step.completion, step.position))
        if not step.retired and step.trigger_event == name and matches(step.match_conditions, properties)
    )
    workspace = WorkspaceGoals.build(1, specs)
    assert workspace.steps_reached(name, properties) == expected
    assert workspace.steps_reached(name, properties) == tuple(
        (goal.code, step.key, step.is_start) for goal, step in workspace.steps_hit(name, properties)
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [(1, 1.0), (0, -0.0), ("a", "a"), (True, True), (None, None), (10**20, 10**20)],
)
def test_equal_scalars_share_a_key(left: Any, right: Any) -> None:
    assert scalar_key(left) == scalar_key(right)
    assert hash(scalar_key(left)) == hash(scalar_key(right))


@pytest.mark.parametrize(
    ("left", "right"),
    [(1, "1"), (1, True), (0, False), ("true", True), (None, "null"), (None, False), (0, None)],
)
def test_unequal_scalars_have_different_keys(left: Any, right: Any) -> None:
    assert scalar_key(left) != scalar_key(right)


def test_lists_and_objects_have_no_key() -> None:
    assert scalar_key([1]) is None
    assert scalar_key({"a": 1}) is None


def test_a_goal_filed_under_a_value_is_checked_on_its_other_conditions_too() -> None:
    index = ConditionIndex(
        [
            ("premium-eur", {"plan": "premium", "currency": "EUR"}),
            ("any", {}),
            ("premium", {"plan": "premium"}),
        ]
    )
    assert index.matching({"plan": "premium", "currency": "USD"}) == ["any", "premium"]
    assert index.matching({"plan": "premium", "currency": "EUR"}) == ["premium-eur", "any", "premium"]
    assert index.matching({"plan": 1}) == ["any"]
