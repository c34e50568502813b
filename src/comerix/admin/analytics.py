"""Insights → Analytics: the Analytics Hub dashboard and its CSV download (SPEC §6).

The filters live in the URL (a GET form): a range preset (`range=7d|30d|90d|this_month|last_month`,
resolved to dates in the workspace's time zone) or `range=custom` with `from` and `to`, then `goal`,
`kind`, `flow`, `attribution` and `interval`. Everything after the preset is the summary API's own query
(`reports.parse_query`), and the figures are its `reports.summary`, so the page, `GET /api/v1/reports/
summary` and the CSV agree by construction: this module only formats them (Babel, `en` locale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from comerix.admin.dependencies import AnalyticsPage
from comerix.admin.forms import errors_by_field
from comerix.admin.pages import SECURITY_HEADERS, page
from comerix.analytics import exports, reports
from comerix.analytics.reports import Compare, Interval, ReportQuery
from comerix.analytics.schemas import Money, Summary, Totals
from comerix.analytics.sums import local_day
from comerix.errors import FieldProblem, Invalid
from comerix.goals import service as goals
from comerix.goals.models import Goal
from comerix.http import DbSession, Now
from comerix.telemetry import explorer
from comerix.vocabulary import GoalStatus
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace

router = APIRouter(prefix="/admin", include_in_schema=False)

TEMPLATE = "admin/insights/analytics.html"
LOCALE = "en"
PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
}
CUSTOM = "custom"
DEFAULT_RANGE = "30d"
PARAMETERS = ("from", "to", "goal", "kind", "flow", "attribution", "interval")
KINDS = {"conversion": "Conversion", "engagement": "Engagement", "custom": "Custom"}
OUTCOMES_OF = {"conversion": "conversions", "engagement": "engagements", "custom": "custom outcomes"}
ATTRIBUTIONS = {
    "conversation": "In the conversation",
    "window": "Within the attribution window",
    "none": "Not attributed",
}


def preset_dates(preset: str, today: date) -> tuple[date, date]:
    """The first and last local day of a range preset, ending `today` (last month: the whole month)."""
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    return today - timedelta(days=int(preset.removesuffix("d")) - 1), today


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters as the URL gave them (what the form shows again), with a preset's dates
    filled in. No range and no dates: the last 30 days; dates without a range: custom."""

    range: str
    values: dict[str, str]

    @classmethod
    def read(cls, params: Mapping[str, str], today: date) -> Filters:
        values = {name: params.get(name, "").strip() for name in PARAMETERS}
        chosen = params.get("range", "").strip() or (
            CUSTOM if values["from"] or values["to"] else DEFAULT_RANGE
        )
        if chosen in PRESETS:
            start, end = preset_dates(chosen, today)
            values |= {"from": start.isoformat(), "to": end.isoformat()}
        return cls(chosen, values)

    def parse(self, session: Session, workspace: Workspace) -> ReportQuery:
        """The report query, or `Invalid` naming each wrong parameter."""
        if self.range != CUSTOM and self.range not in PRESETS:
            choices = ", ".join([*PRESETS, CUSTOM])
            raise Invalid.of([FieldProblem("range", f"{self.range!r} is not one of {choices}")])
        return reports.parse_query(session, workspace.id, dict(self.values))

    def narrowed(self, name: str, value: str) -> str:
        """The page's query string with one more filter (a breakdown row's flow, goal or attribution)
        and the same range."""
        params = {"range": self.range} | self.values | {name: value}
        if self.range != CUSTOM:  # a preset's dates follow the day the link is opened
            params |= {"from": "", "to": ""}
        return urlencode({key: chosen for key, chosen in params.items() if chosen})

    def link(self, query: ReportQuery) -> str:
        """The query string of the CSV download: the report's dates and filters."""
        params = {"from": query.start.isoformat(), "to": query.end.isoformat()}
        params |= {name: self.values[name] for name in ("goal", "kind", "flow", "attribution")}
        return urlencode({name: value for name, value in params.items() if value})


def _today(workspace: Workspace, now: datetime) -> date:
    return local_day(now, workspace.timezone)


@router.get("/insights/analytics", name="admin_insights_analytics")
def dashboard(request: Request, session: DbSession, now: Now, signed_in: AnalyticsPage) -> Response:
    """The Analytics Hub: headline tiles, the series chart and the breakdowns of a range."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    today = _today(workspace, now)
    filters = Filters.read(request.query_params, today)
    context = _filter_form(session, workspace, filters, today)
    try:
        query = filters.parse(session, workspace)
    except Invalid as invalid:
        context["errors"] = errors_by_field(invalid)
        return page(request, TEMPLATE, signed_in, context, status_code=422)
    summary = reports.summary(session, workspace, replace(query, compare=Compare.PREVIOUS))
    csv_path = request.app.url_path_for("admin_insights_analytics_csv")
    context |= Dashboard(summary).context() | {
        "nothing_yet": not explorer.any_event(session, workspace.id),
        "csv_href": f"{csv_path}?{filters.link(query)}",
        "narrowed": filters.narrowed,
    }
    return page(request, TEMPLATE, signed_in, context)


def _filter_form(session: Session, workspace: Workspace, filters: Filters, today: date) -> dict[str, Any]:
    """What the filter form shows: the filters as given, and the choices of each select."""
    return {
        "workspace": workspace,
        "filters": filters,
        "preset_ranges": {preset: preset_dates(preset, today) for preset in PRESETS},
        "range_options": [*PRESETS.items(), (CUSTOM, "Custom dates")],
        "goal_options": _goal_options(goals.list_for_workspace(session, workspace.id)),
        "flow_options": _flow_options(reports.flows_seen(session, workspace.id), filters.values["flow"]),
        "kind_options": [("", "All kinds"), *KINDS.items()],
        "attribution_options": [("", "Any attribution"), *ATTRIBUTIONS.items()],
        "interval_options": [(i.value, i.value.capitalize()) for i in Interval],
    }


@router.get("/insights/analytics/outcomes.csv", name="admin_insights_analytics_csv")
def outcomes_csv(request: Request, session: DbSession, now: Now, signed_in: AnalyticsPage) -> Response:
    """Every outcome of the dashboard's range and filters, one CSV row each (the API's export)."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    query = Filters.read(request.query_params, _today(workspace, now)).parse(session, workspace)
    return StreamingResponse(
        exports.rows(request.app.state.database, workspace.id, workspace.timezone, query),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{exports.file_name(query)}"',
            "Cache-Control": SECURITY_HEADERS["Cache-Control"],
            "X-Content-Type-Options": "nosniff",
        },
    )


def _goal_options(workspace_goals: list[Goal]) -> list[tuple[str, str]]:
    """Every goal by name (primary first), the paused and archived ones marked: their outcomes count."""
    return [("", "All goals")] + [
        (g.code, g.name if g.status is GoalStatus.ACTIVE else f"{g.name} ({g.status.value})")
        for g in workspace_goals
    ]


def _flow_options(flows: list[str], chosen: str) -> list[tuple[str, str]]:
    """The flows seen, and the one in the URL even when it was never seen (so the form shows it)."""
    if chosen and chosen not in flows:
        flows = sorted([*flows, chosen])
    return [("", "All flows"), *((flow, flow) for flow in flows)]


def money(amounts: list[Money]) -> list[str]:
    """Each amount in its currency, rounded half even to the currency's minor unit, as a dashboard shows
    a sum (a converted base value has 6 decimals, and a sum of them as many). The exact figure is in
    the API, the CSV and OData, and in `exact_money`. Babel quantizes in the current context: a sum of
    many amounts near SPEC §2's limit has more than its 28 digits."""
    with localcontext(prec=MONEY_DIGITS):
        return [format_currency(a.value, a.currency, locale=LOCALE) for a in amounts]


def exact_money(amounts: list[Money]) -> list[str]:
    """Each amount in its currency with every digit it has: one stored outcome, or a sum's exact figure."""
    with localcontext(prec=MONEY_DIGITS):
        return [
            format_currency(a.value, a.currency, locale=LOCALE, decimal_quantization=False) for a in amounts
        ]


MONEY_DIGITS = 60
"""More digits than any sum of the rollups has (below 2^63 * 10^18 millionths: 37 digits)."""


def count(value: int) -> str:
    return format_decimal(value, locale=LOCALE)


def percent(value: float | Decimal) -> str:
    return format_percent(value, "#,##0.0%", locale=LOCALE)


def period_label(period: date, interval: str) -> str:
    if interval == Interval.MONTH:
        return format_date(period, "MMM y", locale=LOCALE)
    if interval == Interval.WEEK:
        return "Week of " + format_date(period, "d MMM", locale=LOCALE)
    return format_date(period, "EEE d MMM", locale=LOCALE)


@dataclass(frozen=True)
class Change:
    """A tile's figure against the previous period: what the page says, and which way it went."""

    text: str
    direction: str  # "up", "down" or "flat"


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    values: list[str]
    sub: str = ""
    primary: bool = False
    change: Change | None = None
    counted: bool = True  # False: the filters leave nothing this figure counts (shown as —, not 0)


def change(now: Decimal | int, before: Decimal | int) -> Change:
    """The relative change from `before` to `now`, as analytics products show it on a tile."""
    if now == before:
        return Change("no change", "flat")
    direction = "up" if now > before else "down"
    arrow = "\N{BLACK UP-POINTING TRIANGLE}" if now > before else "\N{BLACK DOWN-POINTING TRIANGLE}"
    if before == 0:
        return Change(f"{arrow} from none", direction)
    ratio = (Decimal(now) - Decimal(before)) / abs(Decimal(before))
    return Change(f"{arrow} {format_percent(abs(ratio), '#,##0.0%', locale=LOCALE)}", direction)


def rate_change(now: float, before: float) -> Change:
    """A rate's change in percentage points (a rate's relative change reads as a second rate)."""
    points = round((now - before) * 100, 1)
    if points == 0:
        return Change("no change", "flat")
    arrow = "\N{BLACK UP-POINTING TRIANGLE}" if points > 0 else "\N{BLACK DOWN-POINTING TRIANGLE}"
    return Change(f"{arrow} {abs(points):,.1f} pp", "up" if points > 0 else "down")


class Dashboard:
    """The summary as the page shows it: formatted tiles, the chart's data and the breakdowns."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary
        self.zero = format_currency(0, summary.base_currency, locale=LOCALE)

    def context(self) -> dict[str, Any]:
        s, totals = self.summary, self.summary.totals
        tiles, chart = self.tiles(), self.chart()
        return {
            "summary": s,
            "outcomes_total": totals.conversions + totals.engagements + totals.custom,
            "period": f"{format_date(s.from_, 'd MMM y', locale=LOCALE)} \N{EN DASH} "
            f"{format_date(s.to, 'd MMM y', locale=LOCALE)}",
            "goal_tiles": [tile for tile in tiles if tile.primary],
            "tiles": [tile for tile in tiles if not tile.primary],
            "chart": chart,
            "previous_period": self.previous_period(),
            "periods": chart["labels"],
            "attribution_rows": sorted(
                s.by_attribution, key=lambda row: list(ATTRIBUTIONS).index(row.attribution)
            ),
            "money": money,
            "exact_money": exact_money,
            "money_of": lambda currency, value: money([Money(currency=currency, value=value)])[0],
            "count": count,
            "percent": percent,
            "kinds": KINDS,
            "attributions": ATTRIBUTIONS,
        }

    def tiles(self) -> list[Tile]:
        totals = self.summary.totals
        previous = self.summary.previous
        before = previous.totals if previous else None
        # A goal the previous period never reached has no row there: it changed from none.
        outcomes_before = {row.goal: row.outcomes for row in previous.by_goal} if previous else {}
        tiles = [
            Tile(
                f"goal-{row.goal}",
                row.name,
                [count(row.outcomes)],
                f"{OUTCOMES_OF[row.kind]} · base revenue {', '.join(self._money(row.base_revenue))}",
                primary=True,
                change=None if previous is None else change(row.outcomes, outcomes_before.get(row.goal, 0)),
            )
            for row in self.summary.by_goal
            if row.is_primary
        ]
        return tiles + self._not_counted(self._headline(totals, before))

    def _headline(self, totals: Totals, before: Totals | None) -> list[Tile]:
        chat, unattributed = totals.chat_driven_base_revenue, totals.unattributed_base_revenue
        return [
            Tile(
                "conversations",
                "Conversations",
                [count(totals.conversations)],
                "started in the range",
                change=None if before is None else change(totals.conversations, before.conversations),
            ),
            Tile(
                "converting",
                "Converting conversations",
                [count(totals.converting_conversations)],
                "with at least one conversion",
                change=None
                if before is None
                else change(totals.converting_conversations, before.converting_conversations),
            ),
            Tile(
                "conversion-rate",
                "Conversion rate",
                [percent(totals.conversion_rate)],
                "converting / all",
                change=None
                if before is None
                else rate_change(totals.conversion_rate, before.conversion_rate),
            ),
            Tile(
                "conversions",
                "Conversions",
                [count(totals.conversions)],
                f"{count(totals.engagements)} engagements · {count(totals.custom)} custom",
                change=None if before is None else change(totals.conversions, before.conversions),
            ),
            Tile("revenue", "Revenue", self._money(totals.revenue), "per display currency"),
            Tile(
                "base-revenue",
                "Base revenue",
                self._money(totals.base_revenue),
                "every sale, in base",
                change=None
                if before is None
                else self._base_change(totals.base_revenue, before.base_revenue),
            ),
            Tile(
                "chat-driven",
                "Chat-driven base revenue",
                self._money(chat),
                self._share(chat),
                change=None if before is None else self._base_change(chat, before.chat_driven_base_revenue),
            ),
            Tile(
                "unattributed",
                "Unattributed",
                self._money(unattributed),
                self._share(unattributed),
                change=None
                if before is None
                else self._base_change(unattributed, before.unattributed_base_revenue),
            ),
        ]

    def period_labels(self) -> list[str]:
        """Each period of the series by name; a week or month the range only partly covers says so,
        so that its smaller figures are not read as a fall."""
        s = self.summary
        interval = Interval(s.interval)
        return [
            period_label(p.period, s.interval)
            + (
                " (partial)"
                if p.period < s.from_ or interval.after(p.period) - timedelta(days=1) > s.to
                else ""
            )
            for p in s.series
        ]

    def _not_counted(self, tiles: list[Tile]) -> list[Tile]:
        """The conversion figures as "—" when the filters leave no conversion to count: a Kind other
        than conversion, or only unattributed outcomes (no conversation is credited with those)."""
        kind, attribution = self.summary.filters.get("kind"), self.summary.filters.get("attribution")
        if kind not in (None, "conversion"):
            reason = f"only {OUTCOMES_OF[kind]} are shown (Kind filter)"
        elif attribution == "none":
            reason = "unattributed outcomes credit no conversation"
        else:
            return tiles
        totals = self.summary.totals
        shown = {"engagement": totals.engagements, "custom": totals.custom}
        changed = []
        for tile in tiles:
            if tile.key in ("converting", "conversion-rate"):
                tile = replace(tile, values=["\N{EM DASH}"], sub=reason, change=None, counted=False)
            elif tile.key == "conversions" and kind in shown:
                label = KINDS[kind] + "s" if kind == "engagement" else "Custom outcomes"
                tile = replace(
                    tile,
                    label=label,
                    values=[count(shown[kind])],
                    sub="the Kind filter's",
                    change=self._kind_change(kind),
                )
            changed.append(tile)
        return changed

    def _kind_change(self, kind: str) -> Change | None:
        previous = self.summary.previous
        if previous is None:
            return None
        now, before = self.summary.totals, previous.totals
        if kind == "engagement":
            return change(now.engagements, before.engagements)
        return change(now.custom, before.custom)

    def _base_change(self, now: list[Money], before: list[Money]) -> Change:
        """The change of an amount in the workspace's base currency (the one every tile adds up in)."""
        currency = self.summary.base_currency
        return change(_amount(now, currency), _amount(before, currency))

    def chart(self) -> dict[str, Any]:
        """The series for Chart.js: outcome counts per kind, and base revenue per base currency; with the
        previous period, its outcomes and base revenue period by period (its first under the report's
        first), for a faint line under each."""
        series = self.summary.series
        seen = {m.currency for point in series for m in point.base_revenue}
        currencies = sorted(seen | {self.summary.base_currency})
        chart: dict[str, Any] = {
            "labels": self.period_labels(),
            "counts": {
                "Conversions": [p.conversions for p in series],
                "Engagements": [p.engagements for p in series],
                "Custom": [p.custom for p in series],
            },
            "revenue": [
                {"currency": c, "values": [_amount(p.base_revenue, c) for p in series]} for c in currencies
            ],
        }
        if self.summary.previous is not None:
            earlier = self.summary.previous.series[: len(series)]
            base = self.summary.base_currency
            chart["previous"] = {
                "label": self.previous_period(),
                "outcomes": [p.conversions + p.engagements + p.custom for p in earlier],
                "revenue": {"currency": base, "values": [_amount(p.base_revenue, base) for p in earlier]},
            }
        return chart

    def previous_period(self) -> str:
        """The dates of the period the changes compare with, as the page names them."""
        previous = self.summary.previous
        if previous is None:
            return ""
        return (
            f"{format_date(previous.from_, 'd MMM y', locale=LOCALE)} \N{EN DASH} "
            f"{format_date(previous.to, 'd MMM y', locale=LOCALE)}"
        )

    def _money(self, amounts: list[Money]) -> list[str]:
        return money(amounts) or [self.zero]

    def _share(self, part: list[Money]) -> str:
        """`part`'s share of base revenue, per base currency."""
        whole = {m.currency: m.value for m in self.summary.totals.base_revenue if m.value}
        amounts = {m.currency: m.value for m in part}
        shares = [
            percent(amounts.get(c, Decimal(0)) / total) + (f" of {c}" if len(whole) > 1 else "")
            for c, total in whole.items()
        ]
        return (", ".join(shares) + " of base revenue") if shares else "no base revenue"


def _amount(amounts: list[Money], currency: str) -> Decimal:
    return next((m.value for m in amounts if m.currency == currency), Decimal(0))
