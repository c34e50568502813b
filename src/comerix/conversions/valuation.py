"""What an outcome is worth, in which currency, and in the base currency: pure (SPEC §2).

- value: `none` → null; `fixed` → the goal's fixed value; `from_property` → the number at the goal's
  value property (a JSON number or a numeric string). Missing or not a number: null, with a visible
  `value_error`, never a silent zero.
- currency (only with a value): the event's currency property when it holds a real ISO 4217 code (any
  case); else the goal's currency; else the workspace base currency.
- base_currency: the event's base currency property when valid; else the workspace base currency.
- base_value (SPEC §11), and how it was found (`base_value_source`): the event's base value property when
  numeric (`event`); else the display value when the display currency is the base currency
  (`same_currency`); else the display value converted with the rate for the outcome's local date
  (`rate`, with the rate and its date: `rates.book`); else, with no rate known, the display value as is
  (`display_fallback`), which the reports count apart so that nothing is silent.
- An amount (value or base value) outside the range of `money.in_range`, or with more decimal places
  than `money.MAX_DECIMALS`: no value, and a `value_error` that names the limit, never a silent zero
  nor an amount the rollups cannot sum exactly or a database cannot store. An amount is kept as
  `money.kept_amount` writes it, so that both backends store the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from comerix.goals.matching import MISSING, read_path
from comerix.goals.rules import ValueRule
from comerix.money import AMOUNT_RANGE, MAX_DECIMALS, in_range, kept_amount, normalize_currency
from comerix.rates.book import Rate, RateBook, convert
from comerix.vocabulary import BaseValueSource, ValueMode


@dataclass(frozen=True)
class Valuation:
    value: Decimal | None = None
    currency: str | None = None
    base_value: Decimal | None = None
    base_currency: str | None = None
    value_error: str | None = None
    base_value_source: BaseValueSource | None = None
    fx_rate: Decimal | None = None
    fx_date: date | None = None


def to_decimal(raw: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact, finite Decimal; None for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        # repr of a float is its shortest exact decimal form: 129.5 → "129.5", never 129.4999…
        number = Decimal(
            raw.strip() if isinstance(raw, str) else repr(raw) if isinstance(raw, float) else raw
        )
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _currency_at(properties: Mapping[str, Any], path: str | None) -> str | None:
    if path is None:
        return None
    raw = read_path(properties, path)
    return normalize_currency(raw) if isinstance(raw, str) else None


def value_of(rule: ValueRule, properties: Mapping[str, Any]) -> tuple[Decimal | None, str | None]:
    """The display value and, when there is none but there should be, why."""
    if rule.value_mode is ValueMode.FIXED:
        if rule.fixed_value is None:
            return None, None
        return _amount(rule.fixed_value, None)
    if rule.value_mode is ValueMode.NONE or rule.value_property is None:
        return None, None
    raw = read_path(properties, rule.value_property)
    if raw is MISSING:
        return None, f"property {rule.value_property!r} is missing"
    number = to_decimal(raw)
    if number is None:
        return None, f"property {rule.value_property!r} is not a number (got {_shown(raw, repr)})"
    return _amount(number, rule.value_property)


def _amount(number: Decimal, path: str | None) -> tuple[Decimal | None, str | None]:
    """`number` as the outcome keeps it, or why it cannot be an amount: the number at property `path`,
    or (None) the goal's fixed value (checked at save; one stored before must not stop ingestion)."""
    if not in_range(number):
        problem = _OUTSIDE
    elif (kept := kept_amount(number)) is None:
        problem = f"written with more than {MAX_DECIMALS} decimal places"
    else:
        return kept, None
    if path is None:
        return None, f"fixed_value {_shown(number)} is {problem}"
    return None, f"property {path!r} is {_shown(number)}, {problem}"


_OUTSIDE = f"outside the accepted range {AMOUNT_RANGE}"


def _shown(value: Any, text: Any = str) -> str:
    shown = str(text(value))
    return shown if len(shown) <= 40 else shown[:37] + "..."


def valuate(
    rule: ValueRule, properties: Mapping[str, Any], base_currency: str, rates: RateBook, at: datetime
) -> Valuation:
    """The value, currency, base value and base currency of one outcome that occurred `at`."""
    value, error = value_of(rule, properties)
    if value is None:
        return Valuation(value_error=error)
    currency = _currency_at(properties, rule.currency_property) or rule.currency or base_currency
    base = _currency_at(properties, rule.base_currency_property) or base_currency
    if rule.base_value_property is not None:
        raw = read_path(properties, rule.base_value_property)
        sent = to_decimal(raw) if raw is not MISSING else None
        if sent is not None:
            base_value, error = _amount(sent, rule.base_value_property)
            if base_value is None:
                return Valuation(value_error=error)
            return Valuation(value, currency, base_value, base, base_value_source=BaseValueSource.EVENT)
    if currency == base:
        return Valuation(value, currency, value, base, base_value_source=BaseValueSource.SAME_CURRENCY)
    rate = rates.rate_at(currency, base, at)
    if rate is None:
        return Valuation(value, currency, value, base, base_value_source=BaseValueSource.DISPLAY_FALLBACK)
    base_value = converted(value, rate)
    if base_value is None:
        problem = f"converted to {base} at {rate.per_base} {currency} per {base}, it is {_OUTSIDE}"
        return Valuation(value_error=problem)
    return Valuation(
        value,
        currency,
        base_value,
        base,
        base_value_source=BaseValueSource.RATE,
        fx_rate=rate.per_base,
        fx_date=rate.day,
    )


def converted(value: Decimal, rate: Rate) -> Decimal | None:
    """`value` converted with `rate` (`rates.book.convert`), or None when that is beyond SPEC §2's range."""
    base_value = convert(value, rate)
    return base_value if in_range(base_value) else None
