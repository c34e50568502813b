"""Insights → Steps: the Step Explorer page (SPEC §10): where the conversations went from step to step.

The filters live in the URL (a GET form): `from` and `to` (local days; the last 30 by default), `flow`,
`start`, `direction`, `contains` and `depth`, which are the path tree API's own query
(`step_reports.parse_paths_query`), so the page and `GET /api/v1/steps/paths` agree by construction.
The tree is shown as columns, one per level: the first lists the roots, each next one the children of
the node selected in the column before. The selection is in the URL too (`path`, repeated: the step
ids from the root), and every node is a link that selects it: the page stays small whatever the tree's
size (only the selected branch's columns are sent), works without JavaScript, and a view can be shared.

Beside the tree, the step catalogue (`step_reports.catalogue`) of the shortest of its ranges (7, 30 or
90 UTC days, the API's) that reaches back to `from`: its most executed steps are the choices of the
start and contains selects, its flows those of the flow select.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from comerix.admin.analytics import LOCALE, count, percent
from comerix.admin.dependencies import TelemetryPage
from comerix.admin.forms import errors_by_field
from comerix.admin.pages import page
from comerix.analytics import step_reports
from comerix.analytics.schemas import PathNodeRead, PathsReport, StepCatalogue, StepRead
from comerix.analytics.step_paths import DEFAULT_DEPTH, MAX_DEPTH, Direction
from comerix.analytics.step_reports import PathsQuery, StepRange
from comerix.analytics.sums import local_day
from comerix.errors import Invalid
from comerix.http import DbSession, Now
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace

router = APIRouter(prefix="/admin", include_in_schema=False)

TEMPLATE = "admin/insights/steps.html"
PAGE_PATH = "/admin/insights/steps"
CONVERSATIONS_PATH = "/admin/insights/conversations"
PARAMETERS = ("from", "to", "flow", "start", "direction", "contains", "depth")
TRIMMED = ("from", "to", "direction", "depth")  # ids (flow, steps) may carry spaces of their own
DEFAULT_DAYS = 30
MOST_EXECUTED = 100
"""Steps the start and contains selects offer at most (the most executed): ids are the clients', and
one that sends free text as labels makes a step of every message."""
CATALOGUE_ROWS = 25
"""Steps the catalogue table lists at most (the most executed): the page is about the paths."""
DIRECTIONS = {Direction.FORWARD.value: "Forward", Direction.BACKWARD.value: "Backward"}


@dataclass(frozen=True)
class Filters:
    """The page's query as the URL gave it (what the form shows again), the default range filled in
    when neither date is given, and the selected branch (`path`)."""

    values: dict[str, str]
    path: tuple[str, ...]

    @classmethod
    def read(cls, params: QueryParams, today: date) -> Filters:
        values = {name: params.get(name, "") for name in PARAMETERS}
        values |= {name: values[name].strip() for name in TRIMMED}
        if not values["from"] and not values["to"]:
            first = today - timedelta(days=DEFAULT_DAYS - 1)
            values |= {"from": first.isoformat(), "to": today.isoformat()}
        return cls(values, tuple(step for step in params.getlist("path") if step))

    def parse(self) -> PathsQuery:
        """The path tree's query, or `Invalid` naming each wrong parameter."""
        return step_reports.parse_paths_query(dict(self.values))

    def link(self, path: Sequence[str]) -> str:
        """This page's address with the same filters and `path` selected."""
        params = [(name, value) for name, value in self.values.items() if value]
        params += [("path", step) for step in path]
        return f"{PAGE_PATH}?{urlencode(params)}"

    def conversations_link(self, step: str) -> str:
        """The Conversation Explorer's list of the conversations of this range and flow that executed
        `step`: those behind a node, near enough (they may have reached it by another path)."""
        params = {name: self.values[name] for name in ("from", "to", "flow") if self.values[name]}
        return f"{CONVERSATIONS_PATH}?{urlencode(params | {'contains_step': step})}"


@dataclass(frozen=True)
class Card:
    """A node of a column as the page shows it."""

    node: PathNodeRead
    href: str | None  # None for "other": its conversations went different ways
    selected: bool

    @property
    def share(self) -> str:
        return percent(self.node.share)

    @property
    def drop_off_share(self) -> str:
        return percent(_ratio(self.node.drop_off, self.node.conversations))


@dataclass(frozen=True)
class Column:
    level: int
    parent: PathNodeRead | None  # None for the roots
    cards: list[Card]


@dataclass(frozen=True)
class Explorer:
    """The tree as columns along the selected branch, and the selected node's path."""

    report: PathsReport
    chain: list[PathNodeRead]  # the selected node of each column, from the root
    columns: list[Column]

    @classmethod
    def of(cls, report: PathsReport, filters: Filters) -> Explorer:
        chain = selected_branch(report.nodes, filters.path)
        levels = [(None, report.nodes)] + [(node, node.children) for node in chain if node.children]
        selected = [node.step for node in chain if node.step is not None]  # "other" is never selected
        columns = []
        for index, (parent, nodes) in enumerate(levels):
            chosen = chain[index] if index < len(chain) else None
            cards = [
                Card(
                    node,
                    None if node.step is None else filters.link([*selected[:index], node.step]),
                    node is chosen,
                )
                for node in nodes
            ]
            columns.append(Column(index + 1, parent, cards))
        return cls(report, chain, columns)

    @property
    def focus(self) -> PathNodeRead | None:
        """The selected node the detail is about: the deepest of the branch."""
        return self.chain[-1] if self.chain else None

    @property
    def focus_parent(self) -> PathNodeRead | None:
        """The node selected before the focus (None for a root: its share is of all counted)."""
        return self.chain[-2] if len(self.chain) > 1 else None

    @property
    def focus_share(self) -> str:
        """The focus's share of the node selected before it (of all counted, for a root)."""
        return percent(self.focus.share if self.focus else 0)

    @property
    def focus_of_all(self) -> str:
        """The focus's conversations as a share of all counted."""
        focus = self.focus
        return percent(_ratio(focus.conversations if focus else 0, self.report.conversations))


def selected_branch(nodes: list[PathNodeRead], path: Sequence[str]) -> list[PathNodeRead]:
    """The node selected in each column: the path's steps as far as they are found, level by level;
    without a path (or when its first step is not found), the most frequent step at each level."""
    branch: list[PathNodeRead] = []
    level = nodes
    for step in path:
        found = next((node for node in level if node.step == step), None)
        if found is None:
            break
        branch.append(found)
        level = found.children
    if branch:
        return branch
    level = nodes
    while first := next((node for node in level if node.step is not None), None):
        branch.append(first)
        level = first.children
    return branch


def catalogue_range(start: date, now: datetime) -> StepRange:
    """The shortest of the catalogue's ranges (UTC days up to today) that reaches back to `start`."""
    for chosen in StepRange:
        if now.date() - timedelta(days=chosen.days - 1) <= start:
            return chosen
    return StepRange.QUARTER


@router.get("/insights/steps", name="admin_insights_steps")
def step_explorer(request: Request, session: DbSession, now: Now, signed_in: TelemetryPage) -> Response:
    """The Step Explorer: the path tree of a range as columns, and the steps executed."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    filters = Filters.read(request.query_params, local_day(now, workspace.timezone))
    known = step_reports.catalogue(session, workspace.id, StepRange.QUARTER, None, now)
    context = _form(workspace, filters, known)
    try:
        query = filters.parse()
    except Invalid as invalid:
        context["errors"] = errors_by_field(invalid)
        return page(request, TEMPLATE, signed_in, context, status_code=422)
    chosen = catalogue_range(query.start, now)
    steps = step_reports.catalogue(session, workspace.id, chosen, query.flow, now)
    explorer = Explorer.of(step_reports.paths(session, workspace.id, query), filters)
    context |= {
        "explorer": explorer,
        "query": query,
        "period": _period(query.start, query.end),
        "catalogue": steps,
        "catalogue_steps": steps.steps[:CATALOGUE_ROWS],
        "catalogue_days": chosen.days,
        "anything_sent": bool(known.steps),
        "step_labels": _labels(known),
    }
    return page(request, TEMPLATE, signed_in, context)


def _form(workspace: Workspace, filters: Filters, known: StepCatalogue) -> dict[str, Any]:
    """What the filter form shows: the filters as given, and the choices of each select."""
    values = filters.values
    flows = sorted({step.flow for step in known.steps if step.flow})
    in_flow = [step for step in known.steps if not values["flow"] or step.flow == values["flow"]]
    choices = step_choices(in_flow[:MOST_EXECUTED])
    return {
        "workspace": workspace,
        "timezone": workspace.timezone,
        "filters": filters,
        "flow_options": [("", "All flows"), *with_chosen([(f, f) for f in flows], values["flow"])],
        "start_options": [("", "First steps"), *with_chosen(choices, values["start"])],
        "contains_options": [("", "Any step"), *with_chosen(choices, values["contains"])],
        "direction_options": with_chosen(list(DIRECTIONS.items()), values["direction"]),
        "depth_options": [(str(level), str(level)) for level in range(1, MAX_DEPTH + 1)],
        "default_depth": str(DEFAULT_DEPTH),
        "count": count,
        "errors": {},
    }


def step_choices(steps: list[StepRead]) -> list[tuple[str, str]]:
    """(id, label) of each step, by label; a label that several ids share names its id too. A step id
    of several flows keeps the label of its most executed entry (the catalogue's order)."""
    labels: dict[str, str] = {}
    for step in steps:
        labels.setdefault(step.id, step.label)
    shared = {label for label, times in Counter(labels.values()).items() if times > 1}
    choices = [(step, f"{label} ({step})" if label in shared else label) for step, label in labels.items()]
    return sorted(choices, key=lambda choice: (choice[1].casefold(), choice[0]))


def with_chosen(options: list[tuple[str, str]], chosen: str) -> list[tuple[str, str]]:
    """The options, and the one in the URL even when it is not among them (so the form shows it)."""
    if chosen and chosen not in {value for value, _ in options}:
        return [*options, (chosen, chosen)]
    return options


def _labels(known: StepCatalogue) -> dict[str, str]:
    """Each step id's label, for the summary's start and contains (most executed entry first)."""
    labels: dict[str, str] = {}
    for step in known.steps:
        labels.setdefault(step.id, step.label)
    return labels


def _period(start: date, end: date) -> str:
    first, last = (format_date(day, "d MMM y", locale=LOCALE) for day in (start, end))
    return f"{first} \N{EN DASH} {last}"


def _ratio(part: int, whole: int) -> Decimal:
    return Decimal(part) / whole if whole else Decimal(0)
