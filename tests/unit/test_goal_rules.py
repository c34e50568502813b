"""Every field rule of a goal (SPEC §1), checked on the schemas alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from comerix.errors import problems_from_pydantic
from comerix.goals.schemas import GoalCreate, GoalDefinition, GoalUpdate, value_mode_problems
from comerix.vocabulary import GoalKind, ValueMode
from tests.factories import goal_body


def problems(**fields: Any) -> dict[str, str]:
    """The problems with a goal body, by field name; empty when the body is valid."""
    try:
        goal = GoalCreate.model_validate(goal_body(**fields))
    except ValidationError as exc:
        return {p.field: p.message for p in problems_from_pydantic(exc.errors())}
    return {p.field: p.message for p in value_mode_problems(goal, set(fields))}


@pytest.mark.parametrize("code", ["a", "product_purchase", "x1", "a_" + "b" * 62, "plan_2026"])
def test_valid_codes_are_accepted(code: str) -> None:
    assert problems(code=code) == {}


@pytest.mark.parametrize(
    "code", ["", "Product", "1st", "_private", "a-b", "a b", "a" * 65, "café", "purchase!", "A"]
)
def test_code_must_match_the_pattern(code: str) -> None:
    assert "lowercase letter" in problems(code=code)["code"]


def test_code_is_required() -> None:
    body = goal_body()
    del body["code"]
    with pytest.raises(ValidationError) as exc:
        GoalCreate.model_validate(body)
    assert [p.field for p in problems_from_pydantic(exc.value.errors())] == ["code"]


@pytest.mark.parametrize(
    ("name", "ok"), [("P", True), ("x" * 120, True), ("", False), ("   ", False), ("x" * 121, False)]
)
def test_name_is_1_to_120_characters(name: str, ok: bool) -> None:
    assert ("name" not in problems(name=name)) is ok


def test_description_is_optional_and_at_most_2000_characters() -> None:
    assert problems(description=None) == {}
    assert problems(description="d" * 2000) == {}
    assert "description" in problems(description="d" * 2001)


def test_kind_is_one_of_three() -> None:
    for kind in GoalKind:
        assert problems(kind=kind.value) == {}
    assert "kind" in problems(kind="sale")


def test_defaults_of_a_new_goal() -> None:
    goal = GoalCreate.model_validate(goal_body())
    assert goal.is_primary is False
    assert goal.match_conditions == {}
    assert goal.value_mode is ValueMode.NONE
    assert goal.attribution_window_hours == 168


def test_is_primary_must_be_a_real_boolean() -> None:
    assert problems(is_primary=True) == {}
    assert "is_primary" in problems(is_primary="yes")


@pytest.mark.parametrize(
    ("name", "ok"),
    [("purchase", True), ("Purchase.Completed", True), ("e" * 128, True), ("", False), ("e" * 129, False)],
)
def test_trigger_event_is_1_to_128_characters(name: str, ok: bool) -> None:
    assert ("trigger_event" not in problems(trigger_event=name)) is ok


def test_trigger_event_keeps_its_case() -> None:
    assert GoalCreate.model_validate(goal_body(trigger_event="Purchase")).trigger_event == "Purchase"


def test_match_conditions_take_scalars_of_every_json_type() -> None:
    conditions = {
        "plan": "premium",
        "seats": 3,
        "price": 9.5,
        "trial": False,
        "coupon": None,
        "order.plan": "x",
    }
    assert problems(match_conditions=conditions) == {}
    assert GoalCreate.model_validate(goal_body(match_conditions=conditions)).match_conditions == conditions


@pytest.mark.parametrize("nested", [{"a": 1}, [1, 2], []])
def test_match_condition_values_must_not_nest(nested: Any) -> None:
    found = problems(match_conditions={"plan": "premium", "order": nested})
    assert list(found) == ["match_conditions.order"]
    assert "nested objects and lists are not allowed" in found["match_conditions.order"]


def test_at_most_20_match_conditions() -> None:
    assert problems(match_conditions={f"k{i}": i for i in range(20)}) == {}
    assert "match_conditions" in problems(match_conditions={f"k{i}": i for i in range(21)})


@pytest.mark.parametrize("key", ["", ".plan", "plan.", "order..plan"])
def test_match_condition_keys_are_property_paths(key: str) -> None:
    assert any(field.startswith("match_conditions") for field in problems(match_conditions={key: 1}))


def test_match_condition_numbers_must_be_finite() -> None:
    assert "match_conditions.x" in problems(match_conditions={"x": float("nan")})


def test_fixed_mode_needs_a_fixed_value() -> None:
    assert problems(value_mode="fixed") == {"fixed_value": "is required when value_mode is fixed"}
    assert problems(value_mode="fixed", fixed_value="129.50") == {}


def test_from_property_mode_needs_a_value_property() -> None:
    assert problems(value_mode="from_property") == {
        "value_property": "is required when value_mode is from_property"
    }
    assert problems(value_mode="from_property", value_property="order.total") == {}


def test_a_mode_specific_field_sent_for_another_mode_is_refused() -> None:
    assert "fixed_value" in problems(value_mode="none", fixed_value="10")
    assert "value_property" in problems(value_mode="fixed", fixed_value="1", value_property="total")


def test_fixed_value_is_an_exact_decimal() -> None:
    goal = GoalCreate.model_validate(goal_body(value_mode="fixed", fixed_value="129.50"))
    assert goal.fixed_value == Decimal("129.50")
    assert str(goal.fixed_value) == "129.50"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1.1234567", "abc", "1" * 19 + ".1234567"])
def test_fixed_value_must_be_a_finite_decimal_of_sensible_size(value: str) -> None:
    assert "fixed_value" in problems(value_mode="fixed", fixed_value=value)


@pytest.mark.parametrize(
    ("given", "stored"), [("EUR", "EUR"), ("usd", "USD"), ("JPY", "JPY"), ("chf", "CHF")]
)
def test_currency_is_a_real_iso_4217_code(given: str, stored: str) -> None:
    assert GoalCreate.model_validate(goal_body(currency=given)).currency == stored


@pytest.mark.parametrize("code", ["EURO", "ABC", "E", "", "XXX", "XTS"])
def test_made_up_currencies_are_refused(code: str) -> None:
    assert "ISO 4217" in problems(currency=code)["currency"]


@pytest.mark.parametrize(
    "field", ["value_property", "currency_property", "base_value_property", "base_currency_property"]
)
def test_property_fields_are_paths(field: str) -> None:
    valued = {"value_mode": "from_property", "value_property": "total"}
    assert problems(**(valued | {field: "order.total"})) == {}
    assert field in problems(**(valued | {field: "order..total"}))
    assert field in problems(**(valued | {field: "x" * 256}))


@pytest.mark.parametrize(
    ("hours", "ok"), [(1, True), (168, True), (8760, True), (0, False), (8761, False), (-5, False)]
)
def test_attribution_window_is_1_to_8760_hours(hours: int, ok: bool) -> None:
    assert ("attribution_window_hours" not in problems(attribution_window_hours=hours)) is ok


def test_unknown_fields_are_refused_by_name() -> None:
    assert problems(colour="red") == {"colour": "is not a field here"}


def test_every_problem_is_reported_at_once() -> None:
    found = problems(code="Bad", name="", kind="x", attribution_window_hours=0, currency="ABC")
    assert set(found) == {"code", "name", "kind", "attribution_window_hours", "currency"}


def test_update_accepts_any_subset_of_fields() -> None:
    update = GoalUpdate.model_validate({"name": "New name"})
    assert update.model_dump(exclude_unset=True) == {"name": "New name"}


def test_definition_has_every_spec_field_but_code() -> None:
    assert set(GoalDefinition.model_fields) == {
        "name",
        "description",
        "kind",
        "is_primary",
        "trigger_event",
        "match_conditions",
        "steps",
        "value_mode",
        "fixed_value",
        "value_property",
        "currency",
        "currency_property",
        "base_value_property",
        "base_currency_property",
        "attribution_window_hours",
    }
