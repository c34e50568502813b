"""Input and output shapes of workspaces and their analytics settings."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from comerix.money import normalize_currency
from comerix.text import no_nul


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_currency(value: str) -> str:
    code = normalize_currency(value)
    if code is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (for example EUR, USD, JPY)")
    return code


def check_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError(f"{value!r} is not an IANA time zone (for example Europe/Berlin, America/New_York)")
    return value


CurrencyCode = Annotated[str, AfterValidator(check_currency)]
TimezoneName = Annotated[str, AfterValidator(check_timezone)]


class AnalyticsSettings(BaseModel):
    """Settings → Analytics: the currency every sale rolls up into, and the zone reports are cut in."""

    model_config = ConfigDict(extra="forbid")

    base_currency: CurrencyCode
    timezone: TimezoneName


class WorkspaceCreate(AnalyticsSettings):
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(no_nul)
    ]
    timezone: TimezoneName = "UTC"


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    base_currency: str
    timezone: str = Field(description="IANA time zone in which reports are cut into days")
