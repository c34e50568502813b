"""Values and currencies (SPEC §2): every mode, visible value errors, the currency fall-backs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from comerix.conversions.valuation import Valuation, to_decimal, valuate
from comerix.goals.rules import ValueRule
from comerix.rates.book import RateBook
from comerix.rates.reference import EcbRates
from comerix.vocabulary import BaseValueSource, ValueMode

FROM_TOTAL = ValueRule(ValueMode.FROM_PROPERTY, value_property="total")


class NoQuotes:
    """Reference rates that quote nothing: a currency no source publishes."""

    def per_euro(self, currency: str, day: date) -> Decimal | None:
        return None


DAY = date(2024, 1, 2)
AT = datetime(2024, 1, 2, 22, 30, tzinfo=UTC)  # still the 2nd in the workspace's Berlin
UNQUOTED = (RateBook("EUR", {}, NoQuotes(), "Europe/Berlin"), AT)
ECB = (RateBook("EUR", {}, EcbRates(), "Europe/Berlin"), AT)


def test_no_value_mode_gives_no_value_and_no_currency() -> None:
    assert valuate(ValueRule(ValueMode.NONE, currency="USD"), {"total": 5}, "EUR", *UNQUOTED) == Valuation()


def test_fixed_value_in_the_goal_currency() -> None:
    rule = ValueRule(ValueMode.FIXED, fixed_value=Decimal("25.00"), currency="GBP")
    assert valuate(rule, {}, "EUR", *UNQUOTED) == Valuation(
        Decimal("25.00"), "GBP", Decimal("25.00"), "EUR", None, BaseValueSource.DISPLAY_FALLBACK
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (129.5, "129.5"),
        ("129.50", "129.50"),
        (42, "42"),
        (" 7.25 ", "7.25"),
        (-10, "-10"),
        (0.1, "0.1"),
        ("1e3", "1000"),  # written out: PostgreSQL's NUMERIC would give 1000 back
    ],
)
def test_values_from_numbers_and_numeric_strings(raw: Any, expected: str) -> None:
    valuation = valuate(FROM_TOTAL, {"total": raw}, "EUR", *UNQUOTED)
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
    ],
)
def test_a_missing_or_non_numeric_value_is_null_with_a_reason(properties: dict[str, Any], error: str) -> None:
    valuation = valuate(FROM_TOTAL, properties, "EUR", *UNQUOTED)
    assert valuation == Valuation(value_error=error)


def test_currency_comes_from_the_event_first_in_any_case() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY, value_property="total", currency="GBP", currency_property="order.currency"
    )
    assert valuate(rule, {"total": 1, "order": {"currency": "usd"}}, "EUR", *UNQUOTED).currency == "USD"


@pytest.mark.parametrize("bad", ["US Dollar", "XXX", "", 840, None])
def test_an_invalid_event_currency_falls_back_to_the_goal_currency(bad: Any) -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency="GBP", currency_property="cur")
    assert valuate(rule, {"total": 1, "cur": bad}, "EUR", *UNQUOTED).currency == "GBP"


def test_without_any_currency_the_base_currency_is_used() -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency_property="cur")
    assert valuate(rule, {"total": 1}, "CHF", *UNQUOTED).currency == "CHF"


def test_base_value_and_currency_from_the_event() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY,
        value_property="total",
        currency_property="cur",
        base_value_property="base.total",
        base_currency_property="base.cur",
    )
    valuation = valuate(
        rule, {"total": "100", "cur": "USD", "base": {"total": "92.10", "cur": "eur"}}, "CHF", *UNQUOTED
    )
    assert valuation == Valuation(Decimal("100"), "USD", Decimal("92.10"), "EUR", None, BaseValueSource.EVENT)


def test_base_value_falls_back_to_the_display_value_and_base_currency_to_the_workspace() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY,
        value_property="total",
        base_value_property="base",
        base_currency_property="base_cur",
    )
    valuation = valuate(rule, {"total": "10", "base": "n/a", "base_cur": "NOPE"}, "EUR", *UNQUOTED)
    assert (valuation.base_value, valuation.base_currency) == (Decimal("10"), "EUR")


OUTSIDE = "outside the accepted range -999,999,999,999,999.999999 to 999,999,999,999,999.999999"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("1e17", "1E+17"),
        (1e17, "1E+17"),
        (10**30, "1000000000000000000000000000000"),
        ("1000000000000000", "1000000000000000"),
        ("-999999999999999.9999995", "-999999999999999.9999995"),
        ("9" * 60, "9" * 37 + "..."),
    ],
)
def test_a_value_outside_the_range_is_null_with_a_reason_naming_the_limits(raw: Any, shown: str) -> None:
    valuation = valuate(FROM_TOTAL, {"total": raw}, "EUR", *UNQUOTED)
    assert valuation == Valuation(value_error=f"property 'total' is {shown}, {OUTSIDE}")


@pytest.mark.parametrize("raw", ["999999999999999.999999", "-999999999999999.999999", "9300000000000", 1e-28])
def test_the_limits_themselves_are_values(raw: Any) -> None:
    valuation = valuate(FROM_TOTAL, {"total": raw}, "EUR", *UNQUOTED)
    assert (valuation.value, valuation.value_error) == (to_decimal(raw), None)


@pytest.mark.parametrize(
    ("raw", "shown"), [(1e-29, "1E-29"), ("1E-20000", "1E-20000"), ("0." + "3" * 50, "0." + "3" * 35 + "...")]
)
def test_a_value_with_more_than_28_decimal_places_is_null_with_a_reason(raw: Any, shown: str) -> None:
    for rule, properties, name in (
        (FROM_TOTAL, {"total": raw}, "total"),
        (
            ValueRule(ValueMode.FROM_PROPERTY, value_property="total", base_value_property="base"),
            {"total": "5", "base": raw},
            "base",
        ),
    ):
        valuation = valuate(rule, properties, "EUR", *UNQUOTED)
        assert valuation == Valuation(
            value_error=f"property {name!r} is {shown}, written with more than 28 decimal places"
        )


def test_a_base_value_outside_the_range_leaves_the_outcome_without_a_value() -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", base_value_property="base")
    valuation = valuate(rule, {"total": "5", "base": "9300000000000000.5"}, "EUR", *UNQUOTED)
    assert valuation == Valuation(value_error=f"property 'base' is 9300000000000000.5, {OUTSIDE}")


def test_a_stored_fixed_value_outside_the_range_is_null_with_a_reason() -> None:
    rule = ValueRule(ValueMode.FIXED, fixed_value=Decimal("-1E+15"))
    assert valuate(rule, {}, "EUR", *UNQUOTED) == Valuation(value_error=f"fixed_value -1E+15 is {OUTSIDE}")


def test_a_value_in_another_currency_is_converted_with_the_rate_of_its_day() -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency="USD")
    assert valuate(rule, {"total": "129.50"}, "EUR", *ECB) == Valuation(
        Decimal("129.50"),
        "USD",
        Decimal("118.200073"),  # 129.50 / 1.0956, the ECB's rate of 2 January 2024
        "EUR",
        None,
        BaseValueSource.RATE,
        Decimal("1.0956"),
        date(2024, 1, 2),
    )


def test_without_a_rate_the_display_value_is_taken_and_said_so() -> None:
    rule = ValueRule(ValueMode.FROM_PROPERTY, value_property="total", currency="ARS")
    valuation = valuate(rule, {"total": "1500"}, "EUR", *ECB)
    assert (valuation.base_value, valuation.base_value_source) == (
        Decimal("1500"),
        BaseValueSource.DISPLAY_FALLBACK,
    )
    assert (valuation.fx_rate, valuation.fx_date) == (None, None)


def test_the_base_currency_needs_no_rate() -> None:
    valuation = valuate(FROM_TOTAL, {"total": "89.00"}, "EUR", *ECB)
    assert (valuation.base_value, valuation.base_value_source) == (
        Decimal("89.00"),
        BaseValueSource.SAME_CURRENCY,
    )


def test_a_converted_value_beyond_the_range_is_null_with_a_reason() -> None:
    rule = ValueRule(
        ValueMode.FROM_PROPERTY, value_property="total", currency="EUR", base_currency_property="b"
    )
    valuation = valuate(rule, {"total": "999999999999999", "b": "IDR"}, "EUR", *ECB)
    assert valuation.value is None
    rate = ECB[0].rate("EUR", "IDR", DAY)
    assert rate is not None
    assert valuation.value_error == f"converted to IDR at {rate.per_base} EUR per IDR, it is {OUTSIDE}"


def test_the_rate_is_that_of_the_outcomes_local_date() -> None:
    """23:30 on 2 January in Berlin is the 3rd in Auckland, whose rate differs."""
    rule = ValueRule(ValueMode.FIXED, fixed_value=Decimal("100"), currency="USD")
    berlin = valuate(rule, {}, "EUR", RateBook("EUR", {}, EcbRates(), "Europe/Berlin"), AT)
    auckland = valuate(rule, {}, "EUR", RateBook("EUR", {}, EcbRates(), "Pacific/Auckland"), AT)
    assert (berlin.fx_date, auckland.fx_date) == (date(2024, 1, 2), date(2024, 1, 3))
    assert berlin.fx_rate != auckland.fx_rate
