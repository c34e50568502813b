"""The shapes of Settings → Rates (`/api/v1/settings/rates`, SPEC §11): a workspace's own rates, as a
whole set that a PUT replaces, and their audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from comerix.money import in_range
from comerix.rates.book import RATE_DIGITS
from comerix.workspaces.schemas import CurrencyCode

MAX_RATES = 10_000
"""The most rates a workspace keeps: ten years of daily rates for three currencies."""


def check_rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0 or not in_range(value):
        raise ValueError("must be a positive number of units of the currency per unit of the base currency")
    if len(value.normalize().as_tuple().digits) > RATE_DIGITS:
        raise ValueError(f"has more than {RATE_DIGITS} significant digits")
    return value


PerBase = Annotated[Decimal, AfterValidator(check_rate)]


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: CurrencyCode = Field(description="the display currency the rate converts")
    date: dt.date = Field(description="the date the rate holds from (up to 7 days, or the next rate)")
    per_base: PerBase = Field(description="units of `currency` one unit of the base currency buys")


class RatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: list[RateIn] = Field(
        max_length=MAX_RATES, description="the whole set: what is left out is removed"
    )


class RateRead(BaseModel):
    currency: str
    date: dt.date
    per_base: Decimal


class RateChangeRead(BaseModel):
    currency: str
    date: dt.date
    before: Decimal | None = Field(description="null when the rate was added")
    after: Decimal | None = Field(description="null when the rate was removed")
    actor: str = Field(description="the email of who changed it")
    at: dt.datetime


class RatesRead(BaseModel):
    base_currency: str
    rates: list[RateRead] = Field(description="by currency, then date")
    changes: list[RateChangeRead] = Field(description="the latest 100 changes, newest first")
