"""Money in the rollups: millionths of the unit, shown with the currency's minor digits."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comerix.money import (
    LIMB,
    MAX_AMOUNT,
    MIN_AMOUNT,
    from_limbs,
    from_micros,
    in_range,
    kept_amount,
    to_micros,
)

LIMIT_MICROS = 10**21 - 1


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("0.30", "EUR", "0.30"),
        ("0.3", "EUR", "0.30"),
        ("100", "JPY", "100"),
        ("1.5", "BHD", "1.500"),
        ("0.125", "EUR", "0.125"),
        ("-5", "USD", "-5.00"),
        ("123456789.99", "IDR", "123456789.99"),
    ],
)
def test_sums_keep_every_digit_and_at_least_the_minor_ones(amount: str, currency: str, shown: str) -> None:
    assert str(from_micros(to_micros(Decimal(amount)), currency)) == shown


def test_tenths_and_fifths_add_up_exactly() -> None:
    total = to_micros(Decimal("0.10")) + to_micros(Decimal("0.20"))
    assert from_micros(total, "EUR") == Decimal("0.30")
    assert str(from_micros(total, "EUR")) == "0.30"


def test_digits_beyond_the_sixth_are_rounded_half_even() -> None:
    assert to_micros(Decimal("0.0000005")) == 0
    assert to_micros(Decimal("0.0000015")) == 2


def test_rounding_is_exact_beyond_the_context_precision() -> None:
    """30 significant digits: multiplying by a million first would round twice (to 28 digits, giving
    1.5 millionths, then half-even to 2)."""
    assert to_micros(Decimal("0.00000149999999999999999999999999995")) == 1


def test_the_limits_are_whole_millionths_in_range() -> None:
    assert (to_micros(MAX_AMOUNT), to_micros(MIN_AMOUNT)) == (LIMIT_MICROS, -LIMIT_MICROS)
    assert all(in_range(amount) for amount in (MAX_AMOUNT, MIN_AMOUNT, Decimal("1E-30")))
    assert not in_range(Decimal("999999999999999.9999991"))
    assert not in_range(Decimal("-1E+15"))


@given(st.integers(-(10**40), 10**40))
def test_limbs_give_back_the_millionths_with_a_low_limb_in_range(micros: int) -> None:
    high, low = divmod(micros, LIMB)  # as the rollup writer splits its sums
    assert 0 <= low < LIMB
    assert from_limbs(high, low // 10**9, low % 10**9) == micros


def test_one_amount_at_the_limit_adds_at_most_a_thousand_to_the_high_limb() -> None:
    assert divmod(LIMIT_MICROS, LIMB) == (999, LIMB - 1)
    assert divmod(-LIMIT_MICROS, LIMB) == (-1000, 1)


def test_a_sum_with_more_digits_than_the_default_context_is_shown_exactly() -> None:
    total = (10**6 + 1) * LIMIT_MICROS
    with localcontext(prec=60):
        expected = (10**6 + 1) * MAX_AMOUNT
    assert str(expected) == "1000000999999999999998.999999"  # 28 digits: the default context's last
    assert from_micros(total, "EUR") == expected
    assert str(from_micros(total, "EUR")) == str(expected)
    assert str(from_micros(-10 * total, "JPY")) == "-10000009999999999999989.99999"
    assert str(from_micros(10**30, "EUR")) == "1000000000000000000000000.00"


@pytest.mark.parametrize(
    ("amount", "kept"),
    [
        ("129.50", "129.50"),
        ("59.97000000000001", "59.97000000000001"),
        ("0." + "0" * 27 + "1", "1E-28"),
        ("-999999999999999.999999" + "0" * 40, "-999999999999999.999999" + "0" * 22),
        ("1." + "0" * 20000, "1." + "0" * 28),
        ("0E-2000000", "0E-28"),
        ("-0.00", "0.00"),
        ("-0E+5", "0"),
        ("2E+3", "2000"),
        ("9.99999999999999999999E+14", "999999999999999.999999"),
        ("1e-16384", None),
        ("0." + "0" * 28 + "1", None),
        ("0." + "1" * 5000, None),
    ],
)
def test_an_amount_keeps_its_digits_up_to_28_decimal_places(amount: str, kept: str | None) -> None:
    """The form both backends store alike: PostgreSQL refuses more than 16,383 decimal places, reads
    2E+3 as 2000 and has no -0."""
    found = kept_amount(Decimal(amount))
    assert (None if found is None else str(found)) == kept
    if found is not None:
        assert found == Decimal(amount)
