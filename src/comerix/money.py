"""Currencies: ISO 4217 codes checked against the maintained list that pycountry ships."""

from __future__ import annotations

from functools import cache

import pycountry

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
