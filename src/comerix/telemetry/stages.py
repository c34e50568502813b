"""Telemetry's stages of ingestion (see `telemetry.pipeline` for the group they work on):

- validate: the pure checks ran in the request (`telemetry.schemas`); here, explicit goal codes and
  the step keys named with them are checked against the workspace's goals (an unknown code, a step
  its goal has not or has retired, steps for a single-step goal or none for a multi-step one refuse
  the whole batch, before any write), and items for a paused or archived goal are rejected, storing
  nothing.
- dedupe: the events are inserted with ON CONFLICT DO NOTHING on (workspace_id, event_id): the unique
  constraint alone decides, so concurrent retries can never both win. When fewer rows are written than
  sent (a retry, or another writer stored an id first), one indexed query for the rows' own ids tells
  which are ours; the other items are duplicates. New events, the usual case, cost no read at all.
- conversation: one read of the conversations the new events name tells how each will stand once
  stored, which the later stages take instead of reading again (and which of them the rollups move).
- store_conversations: those conversations and their contacts are created or updated.
- match: the active goals listening to each event's name whose conditions hold (pure), or the
  single-step goal an item names (the steps of a multi-step one are `telemetry.cycles`').
- value: value, currency, base value and base currency of each match (pure, `conversions.valuation`).
- attribute: `conversation`, `window` or `none`, per goal and its own window (the choice is pure,
  `conversions.attribution`; a contact's candidate conversations are one indexed look-up an event,
  for the widest window its goals need, and another for a narrower window only when the first was
  cut at its limit before that window's pick); a multi-step goal's completion is credited to its cycle's
  conversation, as `telemetry.cycles` found.
- record: each match, valued and credited, as an `OutcomeRecord`.
- persist: the outcomes.
- catalogue (`telemetry.catalogue`): the event names and property paths, for goal authors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from comerix.conversions import attribution, records
from comerix.conversions.attribution import Attribution, Candidate
from comerix.conversions.records import OutcomeRecord
from comerix.conversions.valuation import valuate
from comerix.db.bulk import insert_rows
from comerix.db.types import new_id
from comerix.errors import FieldProblem, Invalid
from comerix.goals.index import GoalSpec
from comerix.telemetry.batches import EVENT_COLUMNS, EventRow
from comerix.telemetry.models import Conversation, Event
from comerix.telemetry.pipeline import (
    Chats,
    ChatSeen,
    ConversationChange,
    Group,
    ItemRef,
    Match,
    Place,
    Rejection,
    StoredEvent,
)
from comerix.telemetry.schemas import Item
from comerix.vocabulary import GoalStatus

CANDIDATES_PER_CONTACT = 50

_events, _conversations = Event.__table__, Conversation.__table__
_STORED_ROW_IDS = select(_events.c.id).where(
    _events.c.workspace_id == bindparam("workspace"), _events.c.id.in_(bindparam("ids", expanding=True))
)
_CANDIDATE_COLUMNS = (
    _conversations.c.id,
    _conversations.c.flow_id,
    _conversations.c.started_at,
    _conversations.c.last_activity_at,
)
_CONVERSATIONS = select(*_CANDIDATE_COLUMNS).where(
    _conversations.c.workspace_id == bindparam("workspace"),
    _conversations.c.id.in_(bindparam("ids", expanding=True)),
)
_STANDING = _CONVERSATIONS.add_columns(_conversations.c.contact_id)
_CANDIDATES = (
    select(*_CANDIDATE_COLUMNS)
    .where(
        _conversations.c.workspace_id == bindparam("workspace"),
        _conversations.c.contact_id == bindparam("contact"),
        _conversations.c.started_at <= bindparam("at"),
        _conversations.c.last_activity_at >= bindparam("window_start"),
    )
    .order_by(_conversations.c.started_at.desc(), _conversations.c.id.desc())
    .limit(CANDIDATES_PER_CONTACT)
)


def validate(group: Group) -> Group:
    """Refuse each batch that names an unknown goal, or steps its goal has not; reject the items that
    name a goal not active."""
    refused: dict[int, Invalid] = {}
    explicit: dict[ItemRef, GoalSpec] = {}
    rejected: dict[ItemRef, Rejection] = {}
    for position, batch in enumerate(group.batches):
        problems: list[FieldProblem] = []
        for item in batch.items:
            if item.goal_code is None:
                continue
            goal = group.goals.by_code.get(item.goal_code)
            if goal is None:
                problems.append(
                    FieldProblem("goal", f"no goal {item.goal_code!r} in this workspace", item.index)
                )
            elif wrong := step_problems(item, goal):
                problems.extend(wrong)
            elif goal.status is GoalStatus.ACTIVE:
                explicit[(position, item.index)] = goal
            else:
                paused = goal.status is GoalStatus.PAUSED
                rejected[(position, item.index)] = (
                    Rejection.GOAL_PAUSED if paused else Rejection.GOAL_ARCHIVED
                )
        if problems:
            refused[position] = Invalid.of(problems)
    rejected = {(batch, index): why for (batch, index), why in rejected.items() if batch not in refused}
    return replace(group, refused=refused, explicit=explicit, rejected=rejected)


def step_problems(item: Item, goal: GoalSpec) -> list[FieldProblem]:
    """What is wrong with the steps an item names for its goal (SPEC §9): a multi-step goal needs the
    keys of steps it has and has not retired; a single-step goal has none."""
    code, steps = goal.code, item.steps
    if not goal.multi_step:
        if steps is None:
            return []
        return [FieldProblem("steps", f"goal {code!r} is single-step: it has no steps to name", item.index)]
    if steps is None:
        return [FieldProblem("steps", f"goal {code!r} is multi-step: name the steps reached", item.index)]
    problems = []
    for position, key in enumerate(steps):
        step = goal.step(key)
        if step is None or step.retired:
            why = "has no step" if step is None else "has retired the step (it records nothing new):"
            problems.append(FieldProblem(f"steps[{position}]", f"goal {code!r} {why} {key!r}", item.index))
    return problems


def dedupe(group: Group) -> Group:
    """Store the events not seen before; reject the rest as duplicates."""
    rejected = dict(group.rejected)
    candidates: list[tuple[StoredEvent, EventRow]] = []
    seen: set[str] = set()
    for position, batch in group.accepted():
        rows = batch.prepared.event_rows(batch, group.codec)
        for item, row in zip(batch.items, rows, strict=True):
            if (position, item.index) in rejected:
                continue
            if item.event_id is not None:
                if item.event_id in seen:
                    rejected[(position, item.index)] = Rejection.DUPLICATE
                    continue
                seen.add(item.event_id)
            candidates.append((StoredEvent(item, position, row.id), row))
    written = _insert_events(group, [row for _, row in candidates])
    fresh = [event for event, _ in candidates]
    if written < len(candidates):
        # The unique constraint kept some out: ids stored before (a retry), or by another writer meanwhile.
        ours = _stored_row_ids(group, [event.row_id for event in fresh])
        for event in fresh:
            if event.row_id not in ours:
                rejected[(event.batch, event.item.index)] = Rejection.DUPLICATE
        fresh = [event for event in fresh if event.row_id in ours]
    return replace(group, rejected=rejected, stored=tuple(fresh))


def _insert_events(group: Group, rows: list[EventRow]) -> int:
    return insert_rows(
        group.session.connection(),
        group.codec,
        "events",
        EVENT_COLUMNS,
        rows,
        json_columns=frozenset({"properties"}),
        tail="ON CONFLICT (workspace_id, event_id) DO NOTHING",
    )


def _stored_row_ids(group: Group, row_ids: list[Any]) -> set[Any]:
    """Which of `row_ids` (in the codec's terms) are stored, in those terms."""
    codec = group.codec
    found = group.session.connection().execute(
        _STORED_ROW_IDS,
        {"workspace": group.terms.workspace_id, "ids": [codec.id_back(row_id) for row_id in row_ids]},
    )
    return {codec.id(row_id) for row_id in found.scalars()}


def conversation(group: Group) -> Group:
    """How the conversations the new events name will stand once stored, and what to store of them and
    of their contacts (`store_conversations` writes it)."""
    chats: dict[str, ChatSeen] = {}
    people: dict[str, tuple[datetime, datetime]] = {}
    hex_of = _hex if not group.codec.sqlite else str  # SQLite's row ids are their hex already
    for event in sorted(group.stored, key=lambda e: e.item.timestamp):
        item = event.item
        if item.conversation_id is not None:
            chats.setdefault(item.conversation_id, ChatSeen(item.timestamp)).saw(item, hex_of(event.row_id))
        if item.contact_id is not None:
            people[item.contact_id] = (people.get(item.contact_id, (item.timestamp,))[0], item.timestamp)
    stand = _stand(group, chats) if chats else Chats()
    return replace(group, chats=replace(stand, seen=chats, contacts=people))


def _hex(row_id: uuid.UUID) -> str:
    return row_id.hex


def store_conversations(group: Group) -> Group:
    """Create or update the conversations and contacts the new events name."""
    if group.chats.seen:
        _upsert_conversations(group, group.chats.seen)
    if group.chats.contacts:
        _upsert_contacts(group, group.chats.contacts)
    return group


def _stand(group: Group, chats: Mapping[str, ChatSeen]) -> Chats:
    """How the conversations named by the group stand once its upsert has merged them with what is
    stored, as that upsert merges them; and those that are new, or whose start or flow it changes."""
    rows = group.session.connection().execute(
        _STANDING, {"workspace": group.terms.workspace_id, "ids": list(chats.keys())}
    )
    stored = {row.id: row for row in rows}
    standing: dict[str, Candidate] = {}
    contact_of: dict[str, str | None] = {}
    changes = []
    for chat_id, named in chats.items():
        old = stored.get(chat_id)
        started, last, flow, contact = named.first, named.last, named.flow_id, named.contact_id
        before = None
        if old is not None:
            before = Place(old.started_at, old.flow_id)
            started, last = min(started, old.started_at), max(last, old.last_activity_at)
            flow, contact = old.flow_id or flow, old.contact_id or contact
        after = Place(started, flow)
        if before != after:
            changes.append(ConversationChange(chat_id, before, after))
        standing[chat_id] = Candidate(chat_id, flow, started, last)
        contact_of[chat_id] = contact
    return Chats(standing, frozenset(chats.keys() - stored.keys()), tuple(changes), contact_of=contact_of)


TIMELINE_EVENTS = 1000
"""The events a conversation keeps the row ids of, for its timeline: its first thousand or so (a group
adds all of its own while fewer are kept). Its count of events goes on."""
CONVERSATION_COLUMNS = (
    "workspace_id",
    "id",
    "started_at",
    "last_activity_at",
    "ended_at",
    "contact_id",
    "flow_id",
    "events",
    "event_refs",
)


def _upsert_conversations(group: Group, chats: Mapping[str, ChatSeen]) -> None:
    codec = group.codec
    workspace, least, greatest = codec.id(group.terms.workspace_id), codec.least, codec.greatest
    insert_rows(
        group.session.connection(),
        codec,
        "conversations",
        CONVERSATION_COLUMNS,
        [
            (
                workspace,
                chat_id,
                codec.time(c.first),
                codec.time(c.last),
                codec.time(c.ended_at),
                c.contact_id,
                c.flow_id,
                len(c.events),
                ",".join(c.events),
            )
            for chat_id, c in chats.items()
        ],
        tail=(
            "ON CONFLICT (workspace_id, id) DO UPDATE SET "
            f"started_at = {least}(conversations.started_at, excluded.started_at), "
            f"last_activity_at = {greatest}(conversations.last_activity_at, excluded.last_activity_at), "
            # SQLite's max(a, NULL) is NULL, so the later of two possibly-missing ends is spelt out
            f"ended_at = {greatest}(coalesce(conversations.ended_at, excluded.ended_at), "
            "coalesce(excluded.ended_at, conversations.ended_at)), "
            "contact_id = coalesce(conversations.contact_id, excluded.contact_id), "
            "flow_id = coalesce(conversations.flow_id, excluded.flow_id), "
            "events = conversations.events + excluded.events, "
            # the first TIMELINE_EVENTS or so: a group adds its events while fewer are kept
            f"event_refs = CASE WHEN conversations.events >= {TIMELINE_EVENTS} THEN conversations.event_refs "
            "WHEN conversations.event_refs = '' THEN excluded.event_refs "
            "ELSE conversations.event_refs || ',' || excluded.event_refs END"
        ),
    )


def _upsert_contacts(group: Group, people: Mapping[str, tuple[datetime, datetime]]) -> None:
    codec = group.codec
    workspace = codec.id(group.terms.workspace_id)
    insert_rows(
        group.session.connection(),
        codec,
        "contacts",
        ("workspace_id", "id", "first_seen_at", "last_seen_at"),
        [(workspace, contact_id, codec.time(a), codec.time(b)) for contact_id, (a, b) in people.items()],
        tail=(
            "ON CONFLICT (workspace_id, id) DO UPDATE SET "
            f"first_seen_at = {codec.least}(contacts.first_seen_at, excluded.first_seen_at), "
            f"last_seen_at = {codec.greatest}(contacts.last_seen_at, excluded.last_seen_at)"
        ),
    )


def match(group: Group) -> Group:
    """The goals each new event achieves: the goal it names, or the active goals whose conditions hold
    (as its batch's preparation found them, while still true)."""
    matches = []
    for event in group.stored:
        item = event.item
        if item.goal_code is not None:
            goal = group.explicit[(event.batch, item.index)]
            if not goal.multi_step:  # the steps a multi-step goal's item names are `telemetry.cycles`'
                matches.append(Match(event, goal))
        else:
            batch = group.batches[event.batch]
            matches.extend(Match(event, goal) for goal in batch.prepared.goals_for(item, group.goals))
    return replace(group, matches=tuple(matches))


def value(group: Group) -> Group:
    """What each match is worth, in its currency and the base currency (converted with the rate of
    the outcome's local date where it has to be)."""
    base, rates = group.terms.base_currency, group.terms.rates
    valuations = tuple(
        valuate(m.goal.value_rule, m.event.item.properties, base, rates, m.event.item.timestamp)
        for m in group.matches
    )
    return replace(group, valuations=valuations)


def attribute(group: Group) -> Group:
    """The chat each match credits: the event's own conversation, or one of its contact's within the
    goal's window, read once an event for the widest window its goals need (`window_pick`), unless
    `advance` read them already."""
    credits: list[Attribution] = []
    reads = {ref: dict(found) for ref, found in group.looked_up.items()}
    widest: dict[ItemRef, int] | None = None  # made for the first match credited by window
    for m in group.matches:
        if m.credit is not None:  # a completion, credited to its cycle's conversation
            credits.append(m.credit)
            continue
        item, hours = m.event.item, m.goal.attribution_window_hours
        own = group.chats.standing.get(item.conversation_id) if item.conversation_id is not None else None
        chosen = None
        if own is None and item.contact_id is not None:
            if widest is None:
                widest = widest_windows(group)
            ref = (m.event.batch, item.index)
            read = reads.setdefault(ref, {})
            chosen = window_pick(group, item.contact_id, item.timestamp, hours, widest.get(ref, hours), read)
        credits.append(
            attribution.attribute(
                conversation=own,
                contact_candidates=() if chosen is None else (chosen,),
                at=item.timestamp,
                window_hours=hours,
            )
        )
    return replace(group, credits=tuple(credits))


def widest_windows(group: Group) -> dict[ItemRef, int]:
    """By item without a conversation but with a contact: the widest window (hours) of the goals it
    matched, which `attribute` credits by window."""
    widest: dict[ItemRef, int] = {}
    for m in group.matches:
        item = m.event.item
        if m.credit is None and item.conversation_id is None and item.contact_id is not None:
            ref, hours = (m.event.batch, item.index), m.goal.attribution_window_hours
            if hours > widest.get(ref, 0):
                widest[ref] = hours
    return widest


def window_pick(
    group: Group, contact: str, at: datetime, hours: int, widest: int, reads: dict[int, Sequence[Candidate]]
) -> Candidate | None:
    """The conversation of `contact` that §3's window rule picks for an outcome at `at` with a window of
    `hours`. `reads` holds the contact's conversations read for this outcome's event, by window; the
    first read is for the widest window the event needs (`widest`), and serves the narrower ones too.

    A read is the `CANDIDATES_PER_CONTACT` newest conversations of its window (by start, then id), and
    the pick is the newest of a narrower window, which lies within the wider one. So when a conversation
    of the read qualifies, the newest that does is the pick, and when none does and the read was not
    cut, there is none. A read cut at the limit leaves it open when none qualifies, or when the one that
    does started with the read's last (the database breaks ties by its collation, `choose` by Python's
    order, so a tie may run on past the cut): then the narrower window is read on its own."""
    window = min((read for read in reads if read >= hours), default=None)
    if window is None:
        window = max(widest, hours)
        reads[window] = contact_candidates(group.session, group.terms.workspace_id, contact, at, window)
    read = reads[window]
    chosen = attribution.choose(read, at, hours)
    if (
        window != hours
        and len(read) >= CANDIDATES_PER_CONTACT
        and (chosen is None or chosen.started_at <= read[-1].started_at)
    ):
        reads[hours] = contact_candidates(group.session, group.terms.workspace_id, contact, at, hours)
        chosen = attribution.choose(reads[hours], at, hours)
    return chosen


def contact_candidates(
    session: Session, workspace_id: uuid.UUID, contact_id: str, at: datetime, window_hours: int
) -> list[Candidate]:
    """The contact's conversations that may take the credit for an outcome at `at` (indexed look-up)."""
    rows = session.connection().execute(
        _CANDIDATES,
        {
            "workspace": workspace_id,
            "contact": contact_id,
            "at": at,
            "window_start": attribution.window_start(at, timedelta(hours=window_hours)),
        },
    )
    return [Candidate(row.id, row.flow_id, row.started_at, row.last_activity_at) for row in rows]


def record(group: Group) -> Group:
    """Each match, valued and credited, as the outcome it records."""
    workspace_id, codec = group.terms.workspace_id, group.codec
    outcomes = []
    for m, worth, credit in zip(group.matches, group.valuations, group.credits, strict=True):
        item, goal = m.event.item, m.goal
        outcomes.append(
            OutcomeRecord(
                workspace_id=workspace_id,
                id=m.outcome_id or new_id(),
                goal_id=goal.id,
                goal_code=goal.code,
                kind=goal.kind,
                event_ref=codec.id_back(m.event.row_id),
                occurred_at=item.timestamp,
                recorded_at=group.batches[m.event.batch].received_at,
                value=worth.value,
                currency=worth.currency,
                base_value=worth.base_value,
                base_currency=worth.base_currency,
                base_value_source=worth.base_value_source,
                fx_rate=worth.fx_rate,
                fx_date=worth.fx_date,
                value_error=worth.value_error,
                attribution=credit.kind,
                conversation_id=credit.conversation_id,
                flow_id=credit.flow_id,
                contact_id=item.contact_id,
                source=item.source,
            )
        )
    return replace(group, outcomes=tuple(outcomes))


def persist(group: Group) -> Group:
    """Store the outcomes."""
    if group.outcomes:
        rows = records.rows(group.outcomes, group.codec)
        insert_rows(group.session.connection(), group.codec, "outcomes", records.COLUMNS, rows)
    return group


def read_conversations(group: Group, ids: Iterable[str]) -> dict[str, Candidate]:
    """Conversations of the group's workspace by id, as the stages see them."""
    rows = group.session.connection().execute(
        _CONVERSATIONS, {"workspace": group.terms.workspace_id, "ids": list(ids)}
    )
    return {row.id: Candidate(row.id, row.flow_id, row.started_at, row.last_activity_at) for row in rows}
