"""A goal's value rule as a plain value: pure, no I/O.

It lives with goals, which define it, and below conversions, whose valuation applies it, so that the
goal index and the preview name it without importing what sits above them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Protocol

from comerix.vocabulary import ValueMode


class Valued(Protocol):
    """Anything that spells out a value rule: a stored goal, or one being previewed."""

    @property
    def value_mode(self) -> ValueMode: ...
    @property
    def fixed_value(self) -> Decimal | None: ...
    @property
    def value_property(self) -> str | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def currency_property(self) -> str | None: ...
    @property
    def base_value_property(self) -> str | None: ...
    @property
    def base_currency_property(self) -> str | None: ...


@dataclass(frozen=True)
class ValueRule:
    """The part of a goal that decides an outcome's value (`conversions.valuation.valuate`)."""

    value_mode: ValueMode
    fixed_value: Decimal | None = None
    value_property: str | None = None
    currency: str | None = None
    currency_property: str | None = None
    base_value_property: str | None = None
    base_currency_property: str | None = None

    @classmethod
    def of(cls, goal: Valued) -> ValueRule:
        """The value rule `goal` spells out."""
        return cls(**{field.name: getattr(goal, field.name) for field in fields(cls)})
