"""The Event Explorer: the raw events as they arrived, the catalogue of event names with their
property paths, and the match conditions that would make a goal out of one event.

The catalogue reads the tables ingestion keeps (`event_name_days`, `event_property_keys`), never the
raw events, so it costs the same whatever the volume. Its counts are whole UTC days: a range of 7 days
counts the events of the 8 UTC dates it touches, today included.

Both go by arrival (`received_at`), not by the event's own `timestamp`, which comes from the client:
the event just sent is on top and counted today even when the client's clock is off or a sale is
reported days after it happened. What happened when is the Analytics Hub's business, by event time.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from comerix.errors import NotFound
from comerix.goals.matching import matches
from comerix.goals.schemas import MAX_MATCH_CONDITIONS, check_property_path, check_scalar
from comerix.telemetry.models import Event, EventNameDay, EventPropertyKey
from comerix.vocabulary import Range, Source

NEWEST_LIMIT = 100


class EventNotFound(NotFound):
    code = "event_not_found"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no event {event_id!r} is stored in this workspace (it may have been erased)")


class EventRead(BaseModel):
    id: str
    event_id: str | None
    name: str
    timestamp: datetime
    received_at: datetime
    conversation_id: str | None
    contact_id: str | None
    flow_id: str | None
    source: Source
    properties: dict[str, Any]


class EventList(BaseModel):
    range: Range
    name: str | None
    events: list[EventRead]


class EventNameRead(BaseModel):
    name: str
    count: int
    last_seen_at: datetime
    property_keys: list[str]


class EventNameList(BaseModel):
    range: Range
    names: list[EventNameRead]


@dataclass(frozen=True)
class PropertyFilter:
    """A property path and the JSON scalar it must hold, compared as a goal's match condition compares
    them (SPEC §1: `2` is not `"2"`, a dotted path reads inside objects)."""

    path: str
    value: Any

    def holds(self, properties: Mapping[str, Any]) -> bool:
        return matches({self.path: self.value}, properties)


@dataclass(frozen=True)
class EventFilter:
    """Which arrivals a list shows: a name, a contact, a flow (each exact), a property's value, and where
    the page starts (after the event of `before`: its arrival time and id, the order of the list)."""

    name: str | None = None
    contact_id: str | None = None
    flow_id: str | None = None
    before: tuple[datetime, uuid.UUID] | None = None
    property: PropertyFilter | None = None


SEARCH_LIMIT = 20_000
"""With a property filter, how many of the latest arrivals a page reads at most to find its events:
property values are not indexed, and a rare one would otherwise read every event of the range."""


@dataclass(frozen=True)
class Search:
    """A page of events with a property's value, and how far it read: `read` arrivals, the last of them
    `last` (its arrival time and id: where the next page's reading starts)."""

    events: list[EventRead]
    read: int
    last: tuple[datetime, uuid.UUID] | None

    @property
    def stopped_short(self) -> bool:
        """Whether the reading stopped at `SEARCH_LIMIT` before the page was full: older events are left."""
        return self.read == SEARCH_LIMIT and len(self.events) < NEWEST_LIMIT


def search(
    session: Session, workspace_id: uuid.UUID, range_: Range, only: EventFilter, *, now: datetime
) -> Search:
    """Up to 100 events that arrived in the range and pass `only`, its property included, the latest
    first, among at most `SEARCH_LIMIT` arrivals that pass the rest of it."""
    wanted = only.property
    query = arrivals(workspace_id, now - range_.span, only).limit(SEARCH_LIMIT)
    found: list[EventRead] = []
    read_so_far, last = 0, None
    rows = session.scalars(query.execution_options(yield_per=1_000))
    try:
        for row in rows:
            read_so_far, last = read_so_far + 1, (row.received_at, row.id)
            if wanted is None or wanted.holds(row.properties):
                found.append(read(row))
                if len(found) == NEWEST_LIMIT:
                    break
    finally:
        rows.close()  # a page found early leaves the rest unread
    return Search(found, read_so_far, last)


def newest(
    session: Session, workspace_id: uuid.UUID, range_: Range, only: EventFilter, *, now: datetime
) -> EventList:
    """Up to 100 events that arrived in the range and pass `only`, the latest arrival first."""
    rows = session.scalars(arrivals(workspace_id, now - range_.span, only).limit(NEWEST_LIMIT))
    return EventList(range=range_, name=only.name, events=[read(row) for row in rows])


def arrivals(workspace_id: uuid.UUID, since: datetime, only: EventFilter = EventFilter()) -> Select[Event]:
    """The events that arrived since then and pass `only`, the latest arrival first.

    An index range scan, whatever the volume. New events land at the end of that index, which keeps
    ingestion's commits small (migration 0006).
    """
    query = select(Event).where(Event.workspace_id == workspace_id, Event.received_at >= since)
    if only.name is not None:
        query = query.where(Event.name == only.name)
    if only.contact_id is not None:
        query = query.where(Event.contact_id == only.contact_id)
    if only.flow_id is not None:
        query = query.where(Event.flow_id == only.flow_id)
    if only.before is not None:
        received, key = only.before
        query = query.where(
            or_(Event.received_at < received, and_(Event.received_at == received, Event.id < key))
        )
    return query.order_by(Event.received_at.desc(), Event.id.desc())  # one request's events: by id


def get_or_raise(session: Session, workspace_id: uuid.UUID, event_id: str) -> Event:
    """One stored event of the workspace by its id (the server's `id`, not the client's `event_id`)."""
    try:
        key = uuid.UUID(event_id)
    except ValueError:
        raise EventNotFound(event_id) from None
    row = session.get(Event, (workspace_id, key))
    if row is None:
        raise EventNotFound(event_id)
    return row


def read(row: Event) -> EventRead:
    """An event row as the explorer shows it."""
    return EventRead(
        id=str(row.id),
        event_id=row.event_id,
        name=row.name,
        timestamp=row.timestamp,
        received_at=row.received_at,
        conversation_id=row.conversation_id,
        contact_id=row.contact_id,
        flow_id=row.flow_id,
        source=row.source,
        properties=row.properties,
    )


def names(session: Session, workspace_id: uuid.UUID, range_: Range, *, now: datetime) -> EventNameList:
    """Every event name seen in the range: how often, when last, and the property paths seen on it."""
    since = now - range_.span
    totals = session.execute(
        select(
            EventNameDay.name,
            func.sum(EventNameDay.count).label("total"),
            func.max(EventNameDay.last_seen_at).label("last_seen_at"),
        )
        .where(EventNameDay.workspace_id == workspace_id, EventNameDay.day >= since.date())
        .group_by(EventNameDay.name)
    ).all()
    keys: dict[str, list[str]] = defaultdict(list)
    for key_name, path in session.execute(
        select(EventPropertyKey.name, EventPropertyKey.path)
        .where(EventPropertyKey.workspace_id == workspace_id, EventPropertyKey.last_seen_at >= since)
        .order_by(EventPropertyKey.name, EventPropertyKey.path)
    ):
        keys[key_name].append(path)
    rows = [
        EventNameRead(
            name=row.name,
            count=int(row.total),
            last_seen_at=_aware(row.last_seen_at),
            property_keys=keys.get(row.name, []),
        )
        for row in totals
    ]
    rows.sort(key=lambda row: (-row.count, row.name))
    return EventNameList(range=range_, names=rows)


def any_event(session: Session, workspace_id: uuid.UUID) -> bool:
    """Whether anything has arrived in the workspace yet (a new one's empty pages say how to start)."""
    return session.scalar(select(Event.id).where(Event.workspace_id == workspace_id).limit(1)) is not None


SUGGESTED_NAMES = 200


def known_names(session: Session, workspace_id: uuid.UUID) -> list[str]:
    """The event names the workspace has sent, the most frequent first (at most `SUGGESTED_NAMES`): what
    the goal form suggests as a trigger."""
    total = func.sum(EventNameDay.count)
    query = (
        select(EventNameDay.name)
        .where(EventNameDay.workspace_id == workspace_id)
        .group_by(EventNameDay.name)
        .order_by(total.desc(), EventNameDay.name)
        .limit(SUGGESTED_NAMES)
    )
    return list(session.scalars(query))


def goal_conditions(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Match conditions a goal could start from so that it matches this event: each scalar leaf of the
    properties under its property path (nested objects flattened to dotted paths, lists skipped), at
    most `MAX_MATCH_CONDITIONS`, in the properties' order.

    A leaf is left out when a goal could not hold it (a path or value its rules refuse) or when its path
    would read another value (a top-level key with a dot, `"order.plan"`, is read before the nested
    `order` → `plan`): every condition kept holds on this very event.
    """
    conditions: dict[str, Any] = {}
    for path, value in _leaves(properties, ""):
        if len(conditions) == MAX_MATCH_CONDITIONS:
            break
        if path in conditions or not _goal_may_hold(path, value):
            continue
        if matches({path: value}, properties):
            conditions[path] = value
    return conditions


def _leaves(properties: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in properties.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{path}.")
        elif not isinstance(value, list):
            yield path, value


def _goal_may_hold(path: str, value: Any) -> bool:
    try:
        check_property_path(path)
        check_scalar(value)
    except ValueError:
        return False
    return True


def _aware(moment: Any) -> datetime:
    """`max()` over a UTC column comes back raw on SQLite (text); make it an aware datetime again."""
    from datetime import UTC

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
