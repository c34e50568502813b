"""Currencies: ISO 4217 codes checked against the maintained list that pycountry ships."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

import pycountry
from babel.numbers import get_currency_precision

# In the ISO list but not money anyone is paid in: "no currency" and the testing code.
_NOT_CURRENCIES = frozenset({"XXX", "XTS"})


@cache
def currency_codes() -> frozenset[str]:
    """Every active ISO 4217 alphabetic code that can price a sale."""
    return frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_CURRENCIES


def normalize_currency(code: str) -> str | None:
    """The upper-case ISO 4217 code for `code` (any case), or None if it is not a real currency."""
    candidate = code.strip().upper()
    return candidate if candidate in currency_codes() else None


MICROS = Decimal(1_000_000)


def to_micros(amount: Decimal) -> int:
    """An amount in millionths of its unit: exact for up to 6 decimal places, rounded half-even beyond."""
    return int((amount * MICROS).to_integral_value(ROUND_HALF_EVEN))


def from_micros(micros: int, currency: str) -> Decimal:
    """A sum of millionths back as a decimal, with at least the currency's minor digits ("0.30" EUR,
    "100" JPY) and more only when the sum has them."""
    amount = (Decimal(micros) / MICROS).normalize()
    digits = _minor_digits(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite amount
    return amount.quantize(Decimal(1).scaleb(-digits)) if -exponent <= digits else amount


@cache
def _minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))
