"""What an outcome is worth, in which currency, and in the base currency: pure (SPEC §2).

- value: `none` → null; `fixed` → the goal's fixed value; `from_property` → the number at the goal's
  value property (a JSON number or a numeric string). Missing or not a number: null, with a visible
  `value_error`, never a silent zero.
- currency (only with a value): the event's currency property when it holds a real ISO 4217 code (any
  case); else the goal's currency; else the workspace base currency.
- base_value: the event's base value property when numeric; else the display value.
- base_currency: the event's base currency property when valid; else the workspace base currency.
- An amount (value or base value) outside the range of `money.in_range`, or with more decimal places
  than `money.MAX_DECIMALS`: no value, and a `value_error` that names the limit, never a silent zero
  nor an amount the rollups cannot sum exactly or a database cannot store. An amount is kept as
  `money.kept_amount` writes it, so that both backends store the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from comerix.goals.matching import MISSING, read_path
from comerix.goals.rules import ValueRule
from comerix.money import AMOUNT_RANGE, MAX_DECIMALS, in_range, kept_amount, normalize_currency
from comerix.vocabulary import ValueMode


@dataclass(frozen=True)
class Valuation:
    value: Decimal | None = None
    currency: str | None = None
    base_value: Decimal | None = None
    base_currency: str | None = None
    value_error: str | None = None


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


def valuate(rule: ValueRule, properties: Mapping[str, Any], base_currency: str) -> Valuation:
    """The value, currency, base value and base currency of one outcome."""
    value, error = value_of(rule, properties)
    if value is None:
        return Valuation(value_error=error)
    base_value: Decimal | None = None
    if rule.base_value_property is not None:
        raw = read_path(properties, rule.base_value_property)
        base_value = to_decimal(raw) if raw is not MISSING else None
        if base_value is not None:
            base_value, error = _amount(base_value, rule.base_value_property)
            if base_value is None:
                return Valuation(value_error=error)
    return Valuation(
        value=value,
        currency=_currency_at(properties, rule.currency_property) or rule.currency or base_currency,
        base_value=value if base_value is None else base_value,
        base_currency=_currency_at(properties, rule.base_currency_property) or base_currency,
    )
