"""Currencies (ISO 4217 codes checked against the maintained list that pycountry ships), the range of
amounts SPEC §2 accepts, and how rollups keep sums of amounts exactly in 64-bit integers."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
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


MAX_AMOUNT = Decimal("999999999999999.999999")
MIN_AMOUNT = -MAX_AMOUNT
AMOUNT_RANGE = "-999,999,999,999,999.999999 to 999,999,999,999,999.999999"
"""SPEC §2: every amount in this range is stored and summed exactly; one outside it is not recorded."""


def in_range(amount: Decimal) -> bool:
    """Whether `amount` (finite) lies in SPEC §2's range. Its millionths (`to_micros`) then do too: the
    limits are whole millionths, so rounding to 6 decimal places cannot carry an amount past them."""
    return MIN_AMOUNT <= amount <= MAX_AMOUNT


MAX_DECIMALS = 28
"""An outcome keeps the digits of its amount (SPEC §2 asks for 6 decimals; a float sent as 59.97000000000001
has 14), up to this many decimal places. More is nobody's money, and beyond 16,383 PostgreSQL's NUMERIC
refuses it. The stored text is then at most 45 characters, and a contact's sum of base values in a
100-digit context stays exact."""


def kept_amount(amount: Decimal) -> Decimal | None:
    """`amount` (finite, `in_range`) as an outcome or a goal stores it, the same on both backends: its
    digits as given, except zeros beyond `MAX_DECIMALS` places dropped, a positive exponent written out
    (2E+3 → 2000) and the sign of a zero dropped (NUMERIC has no -0); None when it has more decimal
    places than `MAX_DECIMALS`, trailing zeros not counted."""
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # a finite amount
    if -MAX_DECIMALS <= exponent <= 0 and not (sign and amount.is_zero()):
        return amount  # nearly every amount
    if exponent < -MAX_DECIMALS:
        zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if not amount.is_zero() and exponent + zeros < -MAX_DECIMALS:
            return None
    places = min(max(-exponent, 0), MAX_DECIMALS)
    with localcontext(prec=_KEPT_DIGITS):  # room for every digit kept: exact
        kept = amount.quantize(Decimal(1).scaleb(-places))
    return kept.copy_abs() if kept.is_zero() else kept


_KEPT_DIGITS = 15 + MAX_DECIMALS  # an amount in range has at most 15 digits before the point


MICROS = Decimal(1_000_000)


def to_micros(amount: Decimal) -> int:
    """An amount in millionths of its unit: exact for up to 6 decimal places, rounded half-even beyond.
    Exact for any amount in range: `quantize` rounds once, and what it leaves (at most 21 digits)
    multiplies exactly; multiplying first could round at the context's 28 digits, then again."""
    return int(amount.quantize(_MILLIONTH, ROUND_HALF_EVEN) * MICROS)


_MILLIONTH = Decimal("0.000001")

LIMB = 10**18
"""A rollup keeps a sum of millionths as two 64-bit integers: high * LIMB + low, with 0 ≤ low < LIMB.

One in-range amount is below 10^21 millionths in magnitude, so it adds at most 1,000 to `high`, and
`high` overflows only after about 9.2e15 amounts at the limit in one cell (its count, a 64-bit
integer too, after 9.2e18). The writer adds `low`s with a carry, so `low` stays below LIMB and
two of them never overflow; a report sums `low` in halves (`LOW_HALF`). Why two limbs:
docs/decisions.md, "Rollup money is two 64-bit limbs"."""

LOW_HALF = 10**9
"""A report sums `low // LOW_HALF` and `low % LOW_HALF` (each below 10^9) instead of `low` (below 10^18),
so the database's 64-bit SUM overflows only past 9.2e9 rows."""


def from_limbs(high: int, low_high: int, low_low: int) -> int:
    """The millionths that sums of high, low // LOW_HALF and low % LOW_HALF over rollup rows stand for."""
    return high * LIMB + low_high * LOW_HALF + low_low


def from_micros(micros: int, currency: str) -> Decimal:
    """A sum of millionths back as a decimal, with at least the currency's minor digits ("0.30" EUR,
    "100" JPY) and more only when the sum has them. Exact at any size: a sum of many amounts at the
    limit has more digits than the default context's 28."""
    digits = _minor_digits(currency)
    with localcontext(prec=len(str(abs(micros))) + digits + 2):
        amount = Decimal(micros).scaleb(-6).normalize()
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # a finite amount
        return amount.quantize(Decimal(1).scaleb(-digits)) if -exponent <= digits else amount


@cache
def _minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))
