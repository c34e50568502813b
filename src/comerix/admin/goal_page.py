"""Insights → Goals → a goal's page (SPEC §9): for any goal, its trend over a range (the last 7, 30 or
90 days; `?range=`, 30 by default), its latest outcomes and its change history, with links to edit it
and to the Analytics Hub filtered by it; for a multi-step goal, also its cycles over the range: how many
started, in which state they stand, what they saved and earned, the funnel of its steps with the
drop-off at each, and the cycles started per day.

The trend is the Analytics Hub's summary filtered by this goal (`reports.summary`) and the cycles are
the goals report's (`goal_reports.goals_report`), both read from the rollups, so the page, the Hub and
the report API agree by construction. Who may open it: `goals.manage`, as every
other goal page (SPEC §5 puts viewing goals under it). Its figures are no secret to `analytics.view`,
which reads the same ones in the Hub and the report API: the page links there for those who have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from comerix.admin.analytics import ATTRIBUTIONS, count, exact_money, money, percent, period_label
from comerix.admin.contacts import contact_path
from comerix.admin.conversations import conversation_path
from comerix.admin.dependencies import GoalsPage
from comerix.admin.goal_figures import cycle_report, goal_query, recent_outcomes, trend_summary
from comerix.admin.goal_history import history_entries
from comerix.admin.pages import page
from comerix.analytics.schemas import CyclePoint, FunnelStep, GoalCycles, Money, SeriesPoint, Summary
from comerix.analytics.sums import local_day
from comerix.auth.roles import Permission
from comerix.goals import service
from comerix.goals.models import Goal
from comerix.http import DbSession, Now
from comerix.vocabulary import Range
from comerix.workspaces import service as workspaces

router = APIRouter(prefix="/admin", include_in_schema=False)

TEMPLATE = "admin/insights/goal.html"
ANALYTICS_PATH = "/admin/insights/analytics"


@router.get("/insights/goals/{goal_id}", name="admin_insights_goal")
def goal_page(
    goal_id: str,
    request: Request,
    session: DbSession,
    now: Now,
    signed_in: GoalsPage,
    range: Annotated[Range, Query()] = Range.D30,
) -> Response:
    """A goal's page. Another workspace's goal, or no goal at all, is the 404 page."""
    principal, allowed = signed_in.principal, signed_in.principal.permissions
    goal = service.get_or_raise(session, principal.workspace_id, goal_id)
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    query = goal_query(goal, local_day(now, workspace.timezone), range.span.days)
    trend = Trend(trend_summary(session, workspace, query))
    steps = service.steps_of(session, goal)
    cycles = cycle_report(session, workspace, query) if steps else None
    context = {
        "goal": goal,
        "steps": steps,
        "workspace": workspace,
        "timezone": workspace.timezone,
        "range": range,
        "ranges": [(choice, f"{choice.span.days} days") for choice in Range],
        "trend": trend,
        "chart": trend.chart(),
        "process": Process(cycles, workspace.base_currency) if cycles else None,
        "outcomes": recent_outcomes(session, workspace.id, goal.id),
        "attributions": ATTRIBUTIONS,
        "history": history_entries(service.history(session, goal)),
        "analytics_href": _analytics_link(goal, range) if Permission.ANALYTICS_VIEW in allowed else None,
        "contact_href": contact_path if Permission.CONTACTS_MANAGE in allowed else None,
        "conversation_href": conversation_path if Permission.TELEMETRY in allowed else None,
        "money": money,
        "exact_money": exact_money,
        "amount": amount,
        "state_labels": STATE_LABELS,
        "count": count,
    }
    return page(request, TEMPLATE, signed_in, context)


def _analytics_link(goal: Goal, range: Range) -> str:
    return f"{ANALYTICS_PATH}?{urlencode({'range': range.value, 'goal': goal.code})}"


@dataclass(frozen=True)
class Trend:
    """The summary as the goal page shows it: totals and a point per day."""

    summary: Summary

    @property
    def outcomes(self) -> int:
        totals = self.summary.totals
        return totals.conversions + totals.engagements + totals.custom

    @property
    def conversations(self) -> int:
        """Conversations started in the range and credited with this goal."""
        return sum(row.conversations for row in self.summary.by_goal)

    @property
    def days(self) -> list[tuple[date, str, int, list[Money]]]:
        """(day, its label, outcomes, base revenue) per day, oldest first."""
        points = self.summary.series
        return [(p.period, period_label(p.period, "day"), _outcomes(p), p.base_revenue) for p in points]

    def chart(self) -> dict[str, Any]:
        """The series for Chart.js: outcomes per day, and base revenue per base currency."""
        series = self.summary.series
        seen = {m.currency for point in series for m in point.base_revenue}
        currencies = sorted(seen | {self.summary.base_currency})
        return {
            "labels": [label for _, label, _, _ in self.days],
            "outcomes": [outcomes for _, _, outcomes, _ in self.days],
            "revenue": [
                {"currency": c, "values": [_amount(p.base_revenue, c) for p in series]} for c in currencies
            ],
        }


STATE_LABELS = {"completed": "Completed", "partial": "Partial", "incomplete": "Incomplete"}
STEP_TYPES = {"start": "Start", "step": "Step", "completion": "Completion"}


@dataclass(frozen=True)
class Process:
    """A multi-step goal's cycles (the goals report's entry) as the page shows them."""

    cycles: GoalCycles
    base_currency: str

    def tiles(self) -> list[tuple[str, str, str, str]]:
        """(id, label, value, note) of each headline figure."""
        c, base = self.cycles, self.base_currency
        seconds = c.time_saved_seconds
        return [
            ("started", "Started", count(c.started), "cycles begun in the range"),
            ("incomplete", "Incomplete", count(c.incomplete), "only the start step"),
            ("partial", "Partial", count(c.partial), "past the start, not completed"),
            ("completed", "Completed", count(c.completed), "each recorded one outcome"),
            ("completion-rate", "Completion rate", percent(c.completion_rate), "completed / started"),
            ("time-saved", "Time saved", duration(seconds), f"{count(seconds)} seconds"),
            ("cost-savings", "Cost savings", amount(c.cost_savings, base), f"in {base}"),
            ("revenue-earned", "Revenue earned", amount(c.revenue_earned, base), f"in {base}"),
        ]

    def funnel(self) -> list[tuple[FunnelStep, str, str]]:
        """Each step of the funnel with its type's label and its share as a percentage."""
        return [
            (step, STEP_TYPES.get(step.type, step.type), percent(step.share)) for step in self.cycles.funnel
        ]

    def funnel_chart(self) -> dict[str, Any]:
        funnel = self.cycles.funnel
        return {
            "labels": [step.name + (" (retired)" if step.retired else "") for step in funnel],
            "reached": [step.reached for step in funnel],
            "drop_off": [step.drop_off for step in funnel],
            "share": [percent(step.share) for step in funnel],
        }

    def series(self) -> list[tuple[date, str, CyclePoint]]:
        return [(p.period, period_label(p.period, "day"), p) for p in self.cycles.series]

    def states_chart(self) -> dict[str, Any]:
        points = self.cycles.series
        return {
            "labels": [period_label(p.period, "day") for p in points],
            "states": {label: [getattr(p, state) for p in points] for state, label in STATE_LABELS.items()},
        }


def duration(seconds: int) -> str:
    """Seconds as people read them, in their two largest units (`2 d 3 h`, `5 min 30 s`, `0 s`); the
    page shows the exact seconds beside it."""
    parts: list[str] = []
    left = seconds
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{count(left // size)} {unit}")
            left %= size
    return " ".join(parts[:2])


def _outcomes(point: SeriesPoint) -> int:
    return point.conversions + point.engagements + point.custom


def amount(value: Decimal, currency: str | None) -> str:
    """One stored amount in its currency, every digit kept."""
    return exact_money([Money(currency=currency, value=value)])[0] if currency else f"{value:,f}"


def _amount(amounts: list[Money], currency: str) -> Decimal:
    return next((m.value for m in amounts if m.currency == currency), Decimal(0))
