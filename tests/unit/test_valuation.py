"""Values and currencies (SPEC §2): every mode, visible value errors, the currency fall-backs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from comerix.conversions.valuation import Valuation, ValueRule, to_decimal, valuate
from comerix.goals.models import ValueMode

FROM_TOTAL = ValueRule(ValueMode.FROM_PROPERTY, value_property="total")


def test_no_value_mode_gives_no_value_and_no_currency() -> None:
    assert valuate(ValueRule(ValueMode.NONE, currency="USD"), {"total": 5}, "EUR") == Valuation()


def test_fixed_value_in_the_goal_currency() -> None:
    rule = ValueRule(ValueMode.FIXED, fixed_value=Decimal("25.00"), currency="GBP")
    assert valuate(rule, {}, "EUR") == Valuation(Decimal("25.00"), "GBP", Decimal("25.00"), "EUR")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (129.5, "129.5"),
        ("129.50", "129.50"),
        (42, "42"),
        (" 7.25 ", "7.25"),
        (-10, "-10"),
        (0.1, "0.1"),
        ("1e3", "1E+3"),
    ],
)
def test_values_from_numbers_and_numeric_strings(raw: Any, expected: str) -> None:
    valuation = valuate(FROM_TOTAL, {"total": raw}, "EUR")
    assert valuation.value == Decimal(expected)
    assert str(valuation.value) == expected
    assert valuation.value_error is None


def test_floats_become_their_shortest_exact_decimal() -> None:
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")  # type: ignore[operator]


@pytest.mark.parametrize(
    ("properties", "error"),
    [
        ({}, "property 'total' is missing"),
        ({"total": "abc"}, "property 'total' is not a number (got 'abc')"),
        ({"total": True}, "property 'total' is not a number (got True)"),
        ({"total": None}, "property 'total' is not a number (got None)"),
        ({"total": {"amount": 1}}, "property 'total' is not a number (got {'amount': 1})"),
        ({"total": "NaN"}, "property 'total' is not a number (got 'NaN')"),
        ({"total": "Infinity"}, "property 'total' is not a number (got 'Infinity')"),
        ({"total": 10**30}, "property 'total' is not a number (got 1000000000000000000000000000000)"),
    ],
)
def test_a_missing_or_non_numeric_value_is_null_with_a_reason(properties: dict[str, Any], error: str) -> None:
    valuation = valuate(FROM_TOTAL, properties, "EUR")
    assert valuation == Valuation(value_error=error)


def test_currency_comes_from_the_event_first_in_any_case() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY, value_property="total", currency="GBP", currency_property="order.currency"
    )
    assert valuate(rule, {"total": 1, "order": {"currency": "usd"}}, "EUR").currency == "USD"


@pytest.mark.parametrize("bad", ["US Dollar", "XXX", "", 840, None])
def test_an_invalid_event_currency_falls_back_to_the_goal_currency(bad: Any) -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency="GBP", currency_property="cur")
    assert valuate(rule, {"total": 1, "cur": bad}, "EUR").currency == "GBP"


def test_without_any_currency_the_base_currency_is_used() -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency_property="cur")
    assert valuate(rule, {"total": 1}, "CHF").currency == "CHF"


def test_base_value_and_currency_from_the_event() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY,
        value_property="total",
        currency_property="cur",
        base_value_property="base.total",
        base_currency_property="base.cur",
    )
    valuation = valuate(rule, {"total": "100", "cur": "USD", "base": {"total": "92.10", "cur": "eur"}}, "CHF")
    assert valuation == Valuation(Decimal("100"), "USD", Decimal("92.10"), "EUR")


def test_base_value_falls_back_to_the_display_value_and_base_currency_to_the_workspace() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY,
        value_property="total",
        base_value_property="base",
        base_currency_property="base_cur",
    )
    valuation = valuate(rule, {"total": "10", "base": "n/a", "base_cur": "NOPE"}, "EUR")
    assert (valuation.base_value, valuation.base_currency) == (Decimal("10"), "EUR")
