"""The report query: the parameters of a report (SPEC §6) parsed and checked, and its periods.

The first step of a report: `parse_query` turns the request's text into a `ReportQuery` or an
`Invalid` naming every wrong parameter; `queries` then reads the rollups for it and `summary` folds
what they return.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.conversions.attribution import AttributionKind
from comerix.errors import FieldProblem, Invalid
from comerix.goals.models import Goal
from comerix.vocabulary import GoalKind

MAX_DAYS = 3660
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(9998, 12, 31)
E = TypeVar("E", bound=StrEnum)


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    def start_of(self, day: date) -> date:
        if self is Interval.WEEK:
            return day - timedelta(days=day.weekday())
        if self is Interval.MONTH:
            return day.replace(day=1)
        return day

    def after(self, start: date) -> date:
        if self is Interval.WEEK:
            return start + timedelta(days=7)
        if self is Interval.MONTH:
            return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start + timedelta(days=1)


class Compare(StrEnum):
    """What a report is compared with (SPEC §6): the period of the same length just before it."""

    PREVIOUS = "previous"


@dataclass(frozen=True)
class GoalFilter:
    """The goal a report is filtered by, as the query names it (by code) and the rollups key it (by id)."""

    id: uuid.UUID
    code: str
    kind: GoalKind


@dataclass(frozen=True)
class ReportQuery:
    """A validated report query."""

    start: date
    end: date
    interval: Interval = Interval.DAY
    goal: GoalFilter | None = None
    kind: GoalKind | None = None
    flow: str | None = None
    attribution: AttributionKind | None = None
    compare: Compare | None = None

    def previous(self) -> ReportQuery:
        """The same report for the period of the same length that ends the day before `start` (from
        `EARLIEST_DATE` at the earliest), compared with nothing."""
        days = (self.end - self.start).days + 1
        end = max(self.start - timedelta(days=1), EARLIEST_DATE)
        start = max(self.start - timedelta(days=days), EARLIEST_DATE)
        return replace(self, start=start, end=end, compare=None)

    def periods(self) -> list[date]:
        """The first day of every period of the series, the one holding `start` first."""
        periods = []
        period = self.interval.start_of(self.start)
        while period <= self.end:
            periods.append(period)
            period = self.interval.after(period)
        return periods


def parse_query(session: Session, workspace_id: uuid.UUID, params: dict[str, str | None]) -> ReportQuery:
    """The query of `params` (from, to, goal, kind, flow, attribution, interval, compare), or `Invalid`
    naming each parameter that is wrong."""
    problems: list[FieldProblem] = []
    start, end = date_range(params, problems)
    interval = _choice(Interval, params.get("interval") or "day", "interval", problems)
    kind = _choice(GoalKind, params.get("kind"), "kind", problems)
    attribution = _choice(AttributionKind, params.get("attribution"), "attribution", problems)
    compare = _choice(Compare, params.get("compare"), "compare", problems)
    goal = None
    if params.get("goal"):
        found = session.execute(
            select(Goal.id, Goal.code, Goal.kind).where(
                Goal.workspace_id == workspace_id, Goal.code == params["goal"]
            )
        ).one_or_none()
        goal = None if found is None else GoalFilter(found.id, found.code, found.kind)
        if goal is None:
            problems.append(FieldProblem("goal", f"no goal {params['goal']!r} in this workspace"))
    if problems:
        raise Invalid.of(problems)
    assert start is not None
    assert end is not None
    assert interval is not None
    return ReportQuery(start, end, interval, goal, kind, params.get("flow") or None, attribution, compare)


def date_range(
    params: Mapping[str, str | None], problems: list[FieldProblem]
) -> tuple[date | None, date | None]:
    """The range of local days `from` and `to` name (both required, at most `MAX_DAYS`), each None
    when wrong, with the problem added to `problems`."""
    start = parse_date(params.get("from"), "from", problems)
    end = parse_date(params.get("to"), "to", problems)
    if start and end and end < start:
        problems.append(FieldProblem("to", "is before `from`"))
    if start and end and (end - start).days >= MAX_DAYS:
        problems.append(FieldProblem("to", f"the range may cover at most {MAX_DAYS} days"))
    return start, end


def parse_date(raw: str | None, name: str, problems: list[FieldProblem]) -> date | None:
    """The date `raw` names (YYYY-MM-DD, within the range every backend represents), or None with the
    problem added to `problems` under `name`."""
    if not raw:
        problems.append(FieldProblem(name, "is required (YYYY-MM-DD)"))
        return None
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else date.fromisoformat("invalid")
    except ValueError:
        problems.append(FieldProblem(name, f"{raw!r} is not a date (YYYY-MM-DD)"))
        return None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        # Far dates would overflow when turned into the workspace's UTC instants.
        problems.append(FieldProblem(name, f"must be between {EARLIEST_DATE} and {LATEST_DATE}"))
        return None
    return value


def _choice(enum: type[E], raw: str | None, name: str, problems: list[FieldProblem]) -> E | None:
    if raw is None or raw == "":
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        problems.append(FieldProblem(name, f"{raw!r} is not one of {allowed}"))
        return None
