"""Money in the rollups: millionths of the unit, shown with the currency's minor digits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from comerix.money import from_micros, to_micros


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
