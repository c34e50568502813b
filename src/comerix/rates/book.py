"""Which exchange rate converts an outcome's display value into its base currency, and the base value it
gives (SPEC §11). Pure: the rates come in as mappings, and nothing here reads a clock or a database.

- A rate is `per_base`: how many units of a currency one unit of the base currency buys on a date.
- The rate for a local date is the latest on or before it, at most `MAX_AGE_DAYS` old, so a weekend or a
  holiday takes the last business day's rate, and a currency left unquoted for longer has none.
- The workspace's own rates (for its base currency, set by an admin) win: one within the age limit is
  taken before any reference rate.
- Reference rates are the European Central Bank's: units of a currency per euro. A rate between two
  other currencies is a cross rate through the euro, both quotes of the same ECB date.
- A cross rate is kept to `RATE_DIGITS` significant digits, half even; an ECB or an admin's rate is kept
  as published. The base value is the display value divided by the kept rate, rounded to 6 decimal
  places, half even: the stored rate alone explains every stored base value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Protocol
from zoneinfo import ZoneInfo

MAX_AGE_DAYS = 7
RATE_DIGITS = 12  # a cross rate's significant digits: the ECB publishes 5 or 6
BASE_PLACES = Decimal("0.000001")  # SPEC §11: a converted base value has 6 decimal places
EURO = "EUR"


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate found for a date: how many units of the currency one unit of the base buys, and the
    date of the quote (on or before the date asked for)."""

    per_base: Decimal
    day: date


class ReferenceRates(Protocol):
    """The ECB's reference rates: units of `currency` per euro on exactly `day`, None when not quoted."""

    def per_euro(self, currency: str, day: date) -> Decimal | None: ...


class RateBook:
    """The rates one workspace converts with: its own for its base currency, else the reference rates,
    on the dates of its time zone. It remembers what it found: a workspace converts few currencies on
    few dates."""

    def __init__(
        self,
        base_currency: str,
        own: Mapping[str, Mapping[date, Decimal]],
        reference: ReferenceRates,
        timezone: str = "UTC",
    ) -> None:
        self.base_currency = base_currency
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._own = own
        self._reference = reference
        self._found: dict[tuple[str, str, date], Rate | None] = {}

    def rate_at(self, currency: str, base: str, moment: datetime) -> Rate | None:
        """The rate for the workspace's local date of `moment`."""
        return self.rate(currency, base, moment.astimezone(self._zone).date())

    def rate(self, currency: str, base: str, day: date) -> Rate | None:
        """The rate that converts `currency` into `base` for the local date `day`, or None."""
        key = (currency, base, day)
        if key not in self._found:
            self._found[key] = self._own_rate(currency, base, day) or self._reference_rate(
                currency, base, day
            )
        return self._found[key]

    def _own_rate(self, currency: str, base: str, day: date) -> Rate | None:
        quotes = self._own.get(currency) if base == self.base_currency else None
        if not quotes:
            return None
        for quoted in _days_back(day):
            if (per_base := quotes.get(quoted)) is not None:
                return Rate(per_base, quoted)
        return None

    def _reference_rate(self, currency: str, base: str, day: date) -> Rate | None:
        for quoted in _days_back(day):
            per_euro = self._per_euro(currency, quoted)
            base_per_euro = self._per_euro(base, quoted)
            if per_euro is not None and base_per_euro is not None:
                return Rate(cross(per_euro, base_per_euro), quoted)
        return None

    def _per_euro(self, currency: str, day: date) -> Decimal | None:
        return Decimal(1) if currency == EURO else self._reference.per_euro(currency, day)


def _days_back(day: date) -> list[date]:
    return [day - timedelta(days=n) for n in range(MAX_AGE_DAYS + 1)]


def cross(per_euro: Decimal, base_per_euro: Decimal) -> Decimal:
    """Units of a currency per unit of the base, from both quotes per euro: exact when the base is the
    euro, else to RATE_DIGITS significant digits, half even."""
    if base_per_euro == 1:
        return per_euro
    with localcontext(prec=RATE_DIGITS, rounding=ROUND_HALF_EVEN):
        return (per_euro / base_per_euro).normalize()


def convert(value: Decimal, rate: Rate) -> Decimal:
    """`value` in the base currency: value / rate, to 6 decimal places, half even. The quotient is
    worked out to more digits than any amount of SPEC §2 and any kept rate need, then rounded once."""
    with localcontext(prec=80, rounding=ROUND_HALF_EVEN):
        return (value / rate.per_base).quantize(BASE_PLACES)
