"""Insights → Conversations: the Conversation Explorer pages (SPEC §10): the conversations of a range,
newest first, and one conversation's timeline.

The list's filters live in the URL (a GET form): `from` and `to` (local days; the last 7 by default),
`flow`, `contact`, `contains_step`, `goal`, `converting` and the paging `cursor`, which are the list API's
own query (`analytics.conversations.parse_query`), so the page and `GET /api/v1/conversations` agree by
construction. A conversation's page reads the timeline the API reads (`conversations.timeline`).

A conversation id is whatever the client sent, so its page takes it as one path segment quoted whole
(`conversation_path`): a slash in it is `%2F` there, and the route reads the rest of the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from comerix.admin.analytics import ATTRIBUTIONS, LOCALE, count, exact_money
from comerix.admin.dependencies import TelemetryPage
from comerix.admin.forms import errors_by_field
from comerix.admin.pages import page
from comerix.admin.steps import MOST_EXECUTED, step_choices, with_chosen
from comerix.analytics import conversations, step_reports
from comerix.analytics.conversations import ConversationQuery
from comerix.analytics.schemas import ConversationRow, Money, StepCatalogue
from comerix.analytics.step_reports import StepRange
from comerix.analytics.sums import local_day
from comerix.auth.roles import Permission
from comerix.auth.sessions import SignedIn
from comerix.errors import Invalid
from comerix.goals import service as goals
from comerix.http import DbSession, Now
from comerix.text import json_text
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace

router = APIRouter(prefix="/admin", include_in_schema=False)

LIST_TEMPLATE = "admin/insights/conversations.html"
DETAIL_TEMPLATE = "admin/insights/conversation.html"
LIST_PATH = "/admin/insights/conversations"
PARAMETERS = ("from", "to", "flow", "contact", "contains_step", "goal", "converting", "cursor")
TRIMMED = ("from", "to", "goal", "converting", "cursor")  # ids (flow, contact, step) may carry spaces
DEFAULT_DAYS = 7
PATH_SHOWN = 8
"""Step labels a row of the list shows before an ellipsis (the whole path is in its title)."""


def conversation_path(conversation_id: str) -> str:
    """A conversation's page: its id quoted whole, slashes and spaces too."""
    return f"{LIST_PATH}/{quote(conversation_id, safe='')}"


def _contact_path(request: Request, contact_id: str) -> str:
    """The contact's profile, by its route's name: the contacts module links to conversations, so it is
    not imported here. Quoted as the contacts module quotes it (`%20`, `%2F`)."""
    profile = request.app.url_path_for("admin_contacts_profile")
    return f"{profile}?{urlencode({'contact_id': contact_id}, quote_via=quote)}"


@dataclass(frozen=True)
class Filters:
    """The list's query as the URL gave it (what the form shows again), the default range filled in
    when neither date is given."""

    values: dict[str, str]

    @classmethod
    def read(cls, params: QueryParams, today: date) -> Filters:
        values = {name: params.get(name, "") for name in PARAMETERS}
        values |= {name: values[name].strip() for name in TRIMMED}
        if not values["from"] and not values["to"]:
            first = today - timedelta(days=DEFAULT_DAYS - 1)
            values |= {"from": first.isoformat(), "to": today.isoformat()}
        return cls(values)

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the range narrows the list."""
        return any(self.values[name] for name in ("flow", "contact", "contains_step", "goal", "converting"))

    def link(self, cursor: str | None = None) -> str:
        """This list's address with the same filters, at `cursor` (None: the newest page)."""
        params = {name: value for name, value in self.values.items() if value and name != "cursor"}
        return f"{LIST_PATH}?{urlencode(params | ({'cursor': cursor} if cursor else {}))}"


@dataclass(frozen=True)
class Row:
    """A conversation of the list as the page shows it."""

    conversation: ConversationRow
    href: str

    @property
    def path_shown(self) -> str:
        """The first labels of its path, an ellipsis when there are more."""
        labels = self.conversation.step_path
        more = len(labels) > PATH_SHOWN or self.truncated
        return " → ".join(labels[:PATH_SHOWN]) + (" → …" if more else "")

    @property
    def path_title(self) -> str:
        """Its whole path as kept (only the first steps of a long conversation), for the title."""
        return " → ".join(self.conversation.step_path) + (" → …" if self.truncated else "")

    @property
    def truncated(self) -> bool:
        """Whether it executed more steps than its path keeps."""
        return self.conversation.steps > len(self.conversation.step_path)


@router.get("/insights/conversations", name="admin_insights_conversations")
def conversation_list(request: Request, session: DbSession, now: Now, signed_in: TelemetryPage) -> Response:
    """The conversations of a range, newest first, 50 a page, with their events, steps, goals and path."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    filters = Filters.read(request.query_params, local_day(now, workspace.timezone))
    known = step_reports.catalogue(session, workspace.id, StepRange.QUARTER, None, now)
    context = _form(session, workspace, filters, known)
    try:
        query = conversations.parse_query(session, workspace, dict(filters.values))
    except Invalid as invalid:
        context["errors"] = errors_by_field(invalid)
        return page(request, LIST_TEMPLATE, signed_in, context, status_code=422)
    found = conversations.conversations(session, workspace, query)
    context |= {
        "query": query,
        "period": _period(query),
        "rows": [Row(row, conversation_path(row.id)) for row in found.conversations],
        "older_href": filters.link(found.next) if found.next else None,
        "newest_href": filters.link() if filters.values["cursor"] else None,
        "step_labels": {step.id: step.label for step in reversed(known.steps)},  # the most executed wins
    }
    return page(request, LIST_TEMPLATE, signed_in, context)


def _form(session: DbSession, workspace: Workspace, filters: Filters, known: StepCatalogue) -> dict[str, Any]:
    """What the filter form shows: the filters as given, and the choices of each select and list."""
    values = filters.values
    in_flow = [step for step in known.steps if not values["flow"] or step.flow == values["flow"]]
    goal_choices = [
        (goal.code, f"{goal.name} ({goal.code})") for goal in goals.list_for_workspace(session, workspace.id)
    ]
    return {
        "workspace": workspace,
        "timezone": workspace.timezone,
        "filters": filters,
        "flows": sorted({step.flow for step in known.steps if step.flow}),
        "step_options": [
            ("", "Any step"),
            *with_chosen(step_choices(in_flow[:MOST_EXECUTED]), values["contains_step"]),
        ],
        "goal_options": [("", "Any goal"), *with_chosen(goal_choices, values["goal"])],
        "count": count,
        "errors": {},
    }


def _period(query: ConversationQuery) -> str:
    """The query's local days (its `end` is the start of the day after the last)."""
    first = query.start.date()
    last = (query.end - timedelta(days=1)).date()
    days = (format_date(day, "d MMM y", locale=LOCALE) for day in (first, last))
    return " \N{EN DASH} ".join(days)


@router.get("/insights/conversations/{conversation_id:path}", name="admin_insights_conversation")
def conversation_page(
    conversation_id: str, request: Request, session: DbSession, signed_in: TelemetryPage
) -> Response:
    """A conversation and its timeline. Another workspace's conversation, or none, is the 404 page."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    detail = conversations.timeline(session, workspace, conversation_id)
    context = {
        "chat": detail,
        "timezone": workspace.timezone,
        "contact_href": _contact_link(request, signed_in, detail.contact_id),
        "list_href": _week_until(local_day(detail.started_at, workspace.timezone)),
        "base_currency": workspace.base_currency,
        "attributions": ATTRIBUTIONS,
        "compact_json": compact_json,
        "amount": amount,
        "count": count,
    }
    return page(request, DETAIL_TEMPLATE, signed_in, context, current=LIST_PATH)


def _contact_link(request: Request, signed_in: SignedIn, contact_id: str | None) -> str | None:
    """The contact's profile, for those who may open it."""
    if contact_id is None or Permission.CONTACTS_MANAGE not in signed_in.principal.permissions:
        return None
    return _contact_path(request, contact_id)


def _week_until(day: date) -> str:
    """The list of the week up to `day` (the conversation's), to go back to from its page."""
    first = day - timedelta(days=DEFAULT_DAYS - 1)
    return f"{LIST_PATH}?{urlencode({'from': first.isoformat(), 'to': day.isoformat()})}"


def compact_json(value: Any) -> str:
    """JSON on one line, for properties shown folded (decimals and the like as strings)."""
    return json_text(value, default=str)


def amount(value: Decimal, currency: str | None) -> str:
    """A stored amount in its currency, every digit kept."""
    return exact_money([Money(currency=currency, value=value)])[0] if currency else f"{value:,f}"
