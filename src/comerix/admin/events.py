"""Insights → Events: the Event Explorer page and its event-name catalogue.

The range and the name filter live in the URL (a GET form), so a filtered view can be bookmarked and
shared. Every event offers to start a goal from it: a link to the goal form naming the stored event
(`?from_event=<id>`), which fills in its name and its scalar properties as match conditions
(`explorer.goal_conditions`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from comerix.admin.contacts import contact_path
from comerix.admin.conversations import conversation_path
from comerix.admin.dependencies import TelemetryPage
from comerix.admin.pages import cursor_text, page, read_cursor, workspace_timezone
from comerix.auth.roles import Permission
from comerix.goals.schemas import check_property_path, check_scalar
from comerix.http import DbSession, Now
from comerix.telemetry import explorer
from comerix.telemetry.explorer import EventRead
from comerix.text import NumberOutOfRange, json_loads
from comerix.vocabulary import Range

router = APIRouter(prefix="/admin", include_in_schema=False)

NEW_GOAL_PATH = "/admin/insights/goals/new"
EXPLORER_PATH = "/admin/insights/events"
LATE = timedelta(minutes=1)
"""An event that arrived this long after its timestamp shows when it arrived, as the list is by arrival."""
RANGE_LABELS = {Range.D7: "Last 7 days", Range.D30: "Last 30 days", Range.D90: "Last 90 days"}


def new_goal_path(event: EventRead) -> str:
    """The goal form, prefilled with the event's name and its scalar properties as match conditions.
    The link names the stored event, not its values: properties may be personal data, which must not
    end up in URLs (access logs, browser history) where erasing the contact cannot reach them."""
    return f"{NEW_GOAL_PATH}?{urlencode({'from_event': event.id})}"


def explorer_path(range_: Range, name: str | None = None) -> str:
    query = {"range": range_.value} | ({"name": name} if name else {})
    return f"{EXPLORER_PATH}?{urlencode(query)}"


@dataclass(frozen=True)
class EventRow:
    event: EventRead
    new_goal_path: str | None
    contact_path: str | None
    conversation_path: str | None

    @property
    def arrived_late(self) -> bool:
        return self.event.received_at - self.event.timestamp >= LATE


@router.get("/insights/events", name="admin_insights_events")
def event_explorer(
    request: Request,
    session: DbSession,
    signed_in: TelemetryPage,
    now: Now,
    range_text: Annotated[str, Query(alias="range")] = Range.D30.value,
    name: str = "",
    contact: Annotated[str, Query(max_length=1024)] = "",
    flow: Annotated[str, Query(max_length=1024)] = "",
    property_path: Annotated[str, Query(alias="property", max_length=1024)] = "",
    value: Annotated[str, Query(max_length=2000)] = "",
    before: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The 100 latest arrivals of the range (and name, contact, flow, a property's value), then the 100
    before them (`before`: the last one's arrival and id), beside the catalogue of the range's event
    names. With a property, a page reads up to `explorer.SEARCH_LIMIT` arrivals to find its events."""
    principal = signed_in.principal
    try:
        range_, range_error = Range(range_text), None
    except ValueError:
        range_ = Range.D30
        range_error = (
            f"There is no range “{range_text[:40]}”: showing the last 30 days. Choose 7, 30 or 90 days."
        )
    name, contact, flow, property_path = name.strip(), contact.strip(), flow.strip(), property_path.strip()
    wanted, property_errors = property_filter(property_path, value)
    only = explorer.EventFilter(
        name=name or None,
        contact_id=contact or None,
        flow_id=flow or None,
        before=_cursor(before),
        property=wanted,
    )
    search = None
    if wanted is None:
        events = explorer.newest(session, principal.workspace_id, range_, only, now=now).events
    else:
        search = explorer.search(session, principal.workspace_id, range_, only, now=now)
        events = search.events
    catalogue = explorer.names(session, principal.workspace_id, range_, now=now).names
    known = {entry.name for entry in catalogue}
    near = [
        entry.name
        for entry in catalogue
        if name and entry.name != name and entry.name.lower() == name.lower()
    ]
    filters = {"range": range_.value, "name": name, "contact": contact, "flow": flow}
    if property_path:
        filters |= {"property": property_path, "value": value}
    may_create_goals = Permission.GOALS_MANAGE in principal.permissions
    may_open_contacts = Permission.CONTACTS_MANAGE in principal.permissions
    may_open_conversations = Permission.TELEMETRY in principal.permissions
    rows = [
        EventRow(
            event=event,
            new_goal_path=new_goal_path(event) if may_create_goals else None,
            contact_path=contact_path(event.contact_id) if event.contact_id and may_open_contacts else None,
            conversation_path=(
                conversation_path(event.conversation_id)
                if event.conversation_id and may_open_conversations
                else None
            ),
        )
        for event in events
    ]
    context = {
        "range": range_,
        "range_error": range_error,
        "ranges": [(option.value, RANGE_LABELS[option]) for option in Range],
        "range_label": RANGE_LABELS[range_],
        "name": name,
        "contact": contact,
        "flow": flow,
        "did_you_mean": [(other, _path(filters | {"name": other})) for other in near]
        if name not in known
        else [],
        "older": _older(filters, events, search),
        "property": property_path,
        "value": value,
        "property_errors": property_errors,
        "search": search,
        "search_limit": explorer.SEARCH_LIMIT,
        "paged": only.before is not None,
        "first_page": _path(filters),
        "rows": rows,
        "catalogue": [(entry, explorer_path(range_, entry.name)) for entry in catalogue],
        "property_paths": sorted(
            {key for entry in catalogue if not name or entry.name == name for key in entry.property_keys}
        )[:500],
        "timezone": workspace_timezone(session, signed_in),
        "limit": explorer.NEWEST_LIMIT,
    }
    return page(request, "admin/insights/events.html", signed_in, context)


def property_filter(path: str, text: str) -> tuple[explorer.PropertyFilter | None, dict[str, str]]:
    """The property filter of the form, and its problems by field. The value is read as a goal's match
    condition holds it: a number, `true`, `false`, `null` or a quoted string as JSON, anything else as
    the text typed (`premium` is the string "premium"; `2` the number, `"2"` the string)."""
    if not path:
        return None, (
            {"property": "Give the property path the value is for, for example plan."} if text else {}
        )
    try:
        check_property_path(path)
    except ValueError as problem:
        return None, {"property": f"The property path {problem}."}
    if not text:
        return None, {
            "value": 'Give the value it must have: text, a number, true, false, null, or "" for none.'
        }
    try:
        parsed = json_loads(text)  # as the goal form reads its conditions: exact integers, any size
    except NumberOutOfRange:
        return None, {"value": "The value is a number beyond what a property may hold."}
    except ValueError:
        parsed = text
    try:
        check_scalar(parsed)
    except ValueError as problem:
        return None, {"value": f"The value {problem}."}
    return explorer.PropertyFilter(path, parsed), {}


def _older(filters: dict[str, str], events: list[EventRead], search: explorer.Search | None) -> str | None:
    """The link to the page of older events: after the last one shown when the page is full, or after
    the last one read when a property search stopped short of a full page."""
    if search is not None and search.stopped_short and search.last is not None:
        return _path(filters | {"before": cursor_text(*search.last)})
    if len(events) == explorer.NEWEST_LIMIT:
        return _path(filters | {"before": cursor_text(events[-1].received_at, events[-1].id)})
    return None


def _path(filters: dict[str, str]) -> str:
    return f"{EXPLORER_PATH}?{urlencode({key: value for key, value in filters.items() if value})}"


def _cursor(text: str) -> tuple[datetime, uuid.UUID] | None:
    """The event a page starts after, from the "Older" link (an unreadable one starts at the latest)."""
    found = read_cursor(text)
    if found is None:
        return None
    try:
        return found[0], uuid.UUID(found[1])
    except ValueError:
        return None
