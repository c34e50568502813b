"""Ingestion: batches of validated items through the named steps of SPEC §4, in the caller's
transaction.

    validate → dedupe → conversation → match → value → attribute → persist

The group-commit writer hands over every batch of one transaction at once (`ingest_group`): each step
then runs once per workspace for all of them (one look-up, one INSERT per table, rollup deltas summed
over the group) instead of once per batch, while each batch keeps its own answer, and a batch refused
by `validate` stores nothing and leaves the others alone. Batches of one group are taken in the order
they arrived: an event id sent twice is stored for the earlier batch and a duplicate in the later one.

- validate: the pure checks ran in the request (`telemetry.schemas`); here, explicit goal codes are
  checked against the workspace's goals (an unknown code refuses the whole batch, before any write),
  and items for a paused or archived goal are `ignored`, storing nothing.
- dedupe: the events are inserted with ON CONFLICT DO NOTHING on (workspace_id, event_id): the unique
  constraint alone decides, so concurrent retries can never both win. When fewer rows are written than
  sent (a retry, or another writer stored an id first), one indexed query for the rows' own ids tells
  which are ours; the other items are duplicates. New events, the usual case, cost no read at all.
- conversation: conversations and contacts named by the new events are created or updated. One read
  of the stored ones tells how each now stands (`Chats`), which the later steps take instead of
  reading them again.
- match: the active goals listening to each event's name whose conditions hold (pure).
- value: value, currency, base value and base currency of each outcome (pure).
- attribute: `conversation`, `window` or `none`, per goal and its own window (pure choice, indexed
  look-up of the contact's candidate conversations).
- persist: outcomes, and the event-name catalogue.

What needs no database can be done before the transaction: `prepare` matches a batch's items against
its workspace's goals as stored, lists their property paths and writes their rows of `events` (the
serving process does it while the writer process runs the previous group). `match` takes the goals
found so only if the transaction reads the same revision of the goals, and matches again otherwise.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from comerix.analytics import rollups
from comerix.analytics.credits import ANY
from comerix.conversions import attribution
from comerix.conversions.attribution import Attribution, Candidate
from comerix.conversions.valuation import Valuation, valuate
from comerix.db.bulk import Codec, insert_rows
from comerix.db.types import new_id
from comerix.errors import DomainError, FieldProblem, Invalid
from comerix.goals.index import GoalIndex, GoalSpec, WorkspaceGoals
from comerix.telemetry.models import Conversation, Event
from comerix.telemetry.schemas import IngestResult, Item, ItemResult, OutcomeRead
from comerix.vocabulary import GoalKind, GoalStatus, Source
from comerix.workspaces.models import Workspace

# The pipeline's reads, built once: Core statements on the tables, executed on the session's connection
# (the ORM would only add work per call; the rows are plain tuples either way).
_events, _conversations_table = Event.__table__, Conversation.__table__
_WORKSPACE = select(Workspace.base_currency, Workspace.timezone, Workspace.goals_revision).where(
    Workspace.id == bindparam("workspace")
)
_STORED_ROW_IDS = select(_events.c.id).where(
    _events.c.workspace_id == bindparam("workspace"), _events.c.id.in_(bindparam("ids", expanding=True))
)
_CANDIDATE_COLUMNS = (
    _conversations_table.c.id,
    _conversations_table.c.flow_id,
    _conversations_table.c.started_at,
    _conversations_table.c.last_activity_at,
)
_CONVERSATIONS = select(*_CANDIDATE_COLUMNS).where(
    _conversations_table.c.workspace_id == bindparam("workspace"),
    _conversations_table.c.id.in_(bindparam("ids", expanding=True)),
)
_CANDIDATES = (
    select(*_CANDIDATE_COLUMNS)
    .where(
        _conversations_table.c.workspace_id == bindparam("workspace"),
        _conversations_table.c.contact_id == bindparam("contact"),
        _conversations_table.c.started_at <= bindparam("at"),
        _conversations_table.c.last_activity_at >= bindparam("window_start"),
    )
    .order_by(_conversations_table.c.started_at.desc(), _conversations_table.c.id.desc())
    .limit(50)
)

CONVERSATION_STARTED = "conversation_started"
CONVERSATION_ENDED = "conversation_ended"
MAX_CATALOGUE_PATHS = 100  # per event: a huge properties object must not flood the catalogue
MAX_PATH = 255


@dataclass(frozen=True)
class Prepared:
    """What of a batch's steps needs no database, worked out before its transaction (`prepare`): the
    serving process does it while the writer process runs the previous group.

    `achieved` holds, by item index, the codes of the goals each item's name and properties achieve
    (items that achieve none are left out), as of the workspace's goals at `revision`; the writer takes
    them only if its transaction reads the same revision, and matches again otherwise. `names` holds,
    for the event-name catalogue, each event name of the batch with how many items bear it and the
    property paths seen on them (the writer takes it when every item of the batch is stored, and
    works it out from the stored items otherwise); and `events` each item's row of `events`
    (in the order of `EVENT_COLUMNS`, with a new row id), in the terms of `dialect`'s codec."""

    revision: int
    achieved: dict[int, tuple[str, ...]]
    names: dict[str, tuple[int, frozenset[str]]]
    dialect: str
    events: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Batch:
    """The items of one request, for one workspace."""

    workspace_id: uuid.UUID
    items: list[Item]
    received_at: datetime
    prepared: Prepared | None = None


def prepare(batch: Batch, goals: WorkspaceGoals, dialect: str) -> Batch:
    """`batch` with its pure steps done (`Prepared`) against `goals`, the workspace's goals as stored,
    for a database of `dialect` ("sqlite" or "postgresql")."""
    achieved: dict[int, tuple[str, ...]] = {}
    for item in batch.items:
        if item.goal_code is None and (found := goals.achieved_by(item.name, item.properties)):
            achieved[item.index] = tuple(goal.code for goal in found)
    codec = Codec(dialect)
    workspace, received = codec.id(batch.workspace_id), codec.time(batch.received_at)
    events = tuple(_event_row(codec, workspace, received, item) for item in batch.items)
    names = _names(batch.items)
    return replace(batch, prepared=Prepared(goals.revision, achieved, names, dialect, events))


def _names(items: list[Item]) -> dict[str, tuple[int, frozenset[str]]]:
    """Each event name of `items`, with how many bear it and the property paths seen on them."""
    counts: dict[str, int] = {}
    paths: dict[str, set[str]] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
        found = property_paths(item.properties)
        if found:
            paths.setdefault(item.name, set()).update(found)
    return {name: (count, frozenset(paths.get(name, ()))) for name, count in counts.items()}


@dataclass(frozen=True)
class Chats:
    """The conversations a group's new events name, as they stand once the group is stored (`standing`,
    by id), and which of them the group created (`created`): no outcome has credited those yet."""

    standing: dict[str, Candidate]
    created: frozenset[str]


NO_CHATS = Chats({}, frozenset())


@dataclass
class _Work:
    """One batch on its way through the steps, and what its answer will say."""

    batch: Batch
    explicit: dict[int, GoalSpec]
    ignored: dict[int, str]
    duplicates: set[int] = field(default_factory=set)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Stored:
    item: Item
    row: tuple[Any, ...]  # of `events`, in the codec's terms
    work: _Work
    goals: list[GoalSpec] = field(default_factory=list)

    @property
    def row_id(self) -> Any:
        """The event's row id, in the codec's terms."""
        return self.row[1]


def ingest(session: Session, batch: Batch, index: GoalIndex) -> IngestResult:
    """Run one batch through every step. Raises `Invalid` (nothing written) for an unknown goal code."""
    (answer,) = ingest_group(session, [batch], index)
    if isinstance(answer, DomainError):
        raise answer
    return answer


def ingest_group(
    session: Session, batches: list[Batch], index: GoalIndex
) -> list[IngestResult | DomainError]:
    """Run `batches` through every step together; for each, its answer or why it was refused whole."""
    recorded = record_group(session, batches, index)
    return [
        answer(batch, done) if isinstance(done, Recorded) else done
        for batch, done in zip(batches, recorded, strict=True)
    ]


class Recorded(NamedTuple):
    """What the steps stored of one batch, in plain values: the group-commit writer process sends it
    back over its pipe, and the serving process writes the answer from it and the batch (`answer`).

    `outcomes` holds each outcome as (item index, then `OutcomeRead`'s fields in order, its kind,
    attribution and source by their values)."""

    duplicates: frozenset[int]
    ignored: dict[int, str]
    outcomes: tuple[tuple[Any, ...], ...]


def record_group(session: Session, batches: list[Batch], index: GoalIndex) -> list[Recorded | DomainError]:
    """`ingest_group` short of the answers: for each batch, what was recorded, or why it was refused."""
    answers: list[Recorded | DomainError | None] = [None] * len(batches)
    workspaces: dict[uuid.UUID, list[int]] = defaultdict(list)
    for position, batch in enumerate(batches):
        workspaces[batch.workspace_id].append(position)
    for workspace_id, positions in workspaces.items():
        done = _ingest_workspace(session, workspace_id, [batches[p] for p in positions], index)
        for position, answer in zip(positions, done, strict=True):
            answers[position] = answer
    return [answer for answer in answers if answer is not None]


def _ingest_workspace(
    session: Session, workspace_id: uuid.UUID, batches: list[Batch], index: GoalIndex
) -> list[Recorded | DomainError]:
    codec = Codec(session.get_bind().dialect.name)  # this call's own: it remembers the times it wrote
    base_currency, timezone, revision = (
        session.connection().execute(_WORKSPACE, {"workspace": workspace_id}).one()
    )
    goals = index.for_workspace(session, workspace_id, revision)

    works_or_refusals: list[_Work | DomainError] = []
    for batch in batches:
        try:
            works_or_refusals.append(_Work(batch, *validate(batch.items, goals)))
        except Invalid as exc:
            works_or_refusals.append(exc)
    works = [work for work in works_or_refusals if isinstance(work, _Work)]
    fresh = dedupe(session, codec, workspace_id, works)
    chats = conversation(session, codec, workspace_id, timezone, fresh)
    for stored in fresh:
        stored.goals = match(stored.item, goals, stored.work.explicit, stored.work.batch.prepared)
    outcomes = []
    for stored, goal, credit in attribute(session, workspace_id, fresh, chats.standing):
        outcome = _outcome(
            stored, goal, valuate(goal.value_rule, stored.item.properties, base_currency), credit
        )
        stored.work.outcomes.append(outcome)
        outcomes.append(outcome)
    persist(session, codec, workspace_id, timezone, fresh, outcomes, chats)
    return [_recorded(work) if isinstance(work, _Work) else work for work in works_or_refusals]


def validate(items: list[Item], goals: WorkspaceGoals) -> tuple[dict[int, GoalSpec], dict[int, str]]:
    """Explicit goals by item index, and the items to ignore with why. Unknown codes: `Invalid`."""
    explicit: dict[int, GoalSpec] = {}
    ignored: dict[int, str] = {}
    problems = []
    for item in items:
        if item.goal_code is None:
            continue
        goal = goals.by_code.get(item.goal_code)
        if goal is None:
            problems.append(FieldProblem("goal", f"no goal {item.goal_code!r} in this workspace", item.index))
        elif goal.status is not GoalStatus.ACTIVE:
            ignored[item.index] = f"goal {goal.code!r} is {goal.status.value}; it records nothing"
        else:
            explicit[item.index] = goal
    if problems:
        raise Invalid.of(problems)
    return explicit, ignored


def dedupe(session: Session, codec: Codec, workspace_id: uuid.UUID, works: list[_Work]) -> list[_Stored]:
    """Store the events not seen before; note the rest as their batch's duplicates."""
    workspace = codec.id(workspace_id)
    candidates: list[_Stored] = []
    seen: set[str] = set()
    for work in works:
        batch = work.batch
        prepared = batch.prepared
        rows = prepared.events if prepared is not None and prepared.dialect == codec.dialect else None
        received = codec.time(batch.received_at) if rows is None else None
        for item in batch.items:
            if item.index in work.ignored:
                continue
            if item.event_id is not None:
                if item.event_id in seen:
                    work.duplicates.add(item.index)
                    continue
                seen.add(item.event_id)
            row = rows[item.index] if rows is not None else _event_row(codec, workspace, received, item)
            candidates.append(_Stored(item, row, work))
    if not candidates:
        return []
    written = insert_rows(
        session.connection(),
        codec,
        "events",
        EVENT_COLUMNS,
        [s.row for s in candidates],
        json_columns=frozenset({"properties"}),
        tail="ON CONFLICT (workspace_id, event_id) DO NOTHING",
    )
    if written == len(candidates):
        return candidates
    # The unique constraint kept some out: ids stored before (a retry), or by another writer meanwhile.
    # Which rows are ours tells which items are duplicates.
    ours = _stored_row_ids(session, codec, workspace_id, [s.row_id for s in candidates])
    fresh: list[_Stored] = []
    for stored in candidates:
        if stored.row_id in ours:
            fresh.append(stored)
        else:
            stored.work.duplicates.add(stored.item.index)
    return fresh


def _event_row(codec: Codec, workspace: Any, received: Any, item: Item) -> tuple[Any, ...]:
    """The item's row of `events` (`EVENT_COLUMNS`) with a new row id, in `codec`'s terms; `workspace`
    and `received` (the batch's arrival) are in those terms already."""
    return (
        workspace,
        codec.new_id(),
        item.event_id,
        item.name,
        codec.time(item.timestamp),
        received,
        item.conversation_id,
        item.contact_id,
        item.flow_id,
        item.source.value,
        item.properties_json if item.properties_json is not None else codec.json(item.properties),
    )


def _stored_row_ids(session: Session, codec: Codec, workspace_id: uuid.UUID, row_ids: list[Any]) -> set[Any]:
    """Which of `row_ids` (in `codec`'s terms) are stored, in those terms."""
    found = session.connection().execute(
        _STORED_ROW_IDS, {"workspace": workspace_id, "ids": [codec.id_back(row_id) for row_id in row_ids]}
    )
    return {codec.id(row_id) for row_id in found.scalars()}


EVENT_COLUMNS = (
    "workspace_id",
    "id",
    "event_id",
    "name",
    "timestamp",
    "received_at",
    "conversation_id",
    "contact_id",
    "flow_id",
    "source",
    "properties",
)


def conversation(
    session: Session, codec: Codec, workspace_id: uuid.UUID, timezone: str, fresh: list[_Stored]
) -> Chats:
    """Create or update the conversations and contacts that the new events name, and count them; how
    those conversations now stand."""
    chats: dict[str, list[Any]] = {}
    people: dict[str, list[Any]] = {}
    for stored in sorted(fresh, key=lambda s: s.item.timestamp):
        item = stored.item
        if item.conversation_id is not None:
            chat = chats.setdefault(item.conversation_id, [item.timestamp, item.timestamp, None, None, None])
            chat[1] = item.timestamp
            chat[3] = chat[3] or item.contact_id
            chat[4] = chat[4] or item.flow_id
            if item.name == CONVERSATION_ENDED:
                chat[2] = item.timestamp
        if item.contact_id is not None:
            person = people.setdefault(item.contact_id, [item.timestamp, item.timestamp])
            person[1] = item.timestamp
    workspace = codec.id(workspace_id)
    stand = NO_CHATS
    if chats:
        stand, moves = _stand(session, workspace_id, timezone, chats)
        rollups.count_conversations(session.connection(), codec, workspace_id, moves)
        least, greatest = codec.least, codec.greatest
        insert_rows(
            session.connection(),
            codec,
            "conversations",
            ("workspace_id", "id", "started_at", "last_activity_at", "ended_at", "contact_id", "flow_id"),
            [
                (workspace, chat_id, codec.time(a), codec.time(b), codec.time(end), contact, flow)
                for chat_id, (a, b, end, contact, flow) in chats.items()
            ],
            tail=(
                "ON CONFLICT (workspace_id, id) DO UPDATE SET "
                f"started_at = {least}(conversations.started_at, excluded.started_at), "
                f"last_activity_at = {greatest}(conversations.last_activity_at, excluded.last_activity_at), "
                # SQLite's max(a, NULL) is NULL, so the later of two possibly-missing ends is spelt out
                f"ended_at = {greatest}(coalesce(conversations.ended_at, excluded.ended_at), "
                "coalesce(excluded.ended_at, conversations.ended_at)), "
                "contact_id = coalesce(conversations.contact_id, excluded.contact_id), "
                "flow_id = coalesce(conversations.flow_id, excluded.flow_id)"
            ),
        )
    if people:
        insert_rows(
            session.connection(),
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
    return stand


def _stand(
    session: Session, workspace_id: uuid.UUID, timezone: str, chats: dict[str, list[Any]]
) -> tuple[Chats, list[rollups.ConversationMove]]:
    """How the conversations named by the group (`chats`: id → first and last moment, end, contact,
    flow) stand once its upsert has merged them with what is stored, as that upsert merges them; and
    those that are new, or whose start day or flow the group changes."""
    stored = _conversations(session, workspace_id, set(chats))
    standing: dict[str, Candidate] = {}
    moves = []
    for chat_id, (started, last, _end, _contact, flow) in chats.items():
        old = stored.get(chat_id)
        before = None
        if old is not None:
            before = rollups.ConversationKey(rollups.local_day(old.started_at, timezone), old.flow_id or ANY)
            started, last = min(started, old.started_at), max(last, old.last_activity_at)
            flow = old.flow_id or flow
        after = rollups.ConversationKey(rollups.local_day(started, timezone), flow or ANY)
        if before != after:
            moves.append(rollups.ConversationMove(chat_id, before, after))
        standing[chat_id] = Candidate(chat_id, flow, started, last)
    return Chats(standing, frozenset(chats.keys() - stored.keys())), moves


def match(
    item: Item, goals: WorkspaceGoals, explicit: Mapping[int, GoalSpec], prepared: Prepared | None = None
) -> list[GoalSpec]:
    """The goals this item achieves: its explicit goal, or the active goals whose conditions hold (as
    `prepared` found them, when it saw the same revision of the goals)."""
    if item.goal_code is not None:
        return [explicit[item.index]]
    if prepared is not None and prepared.revision == goals.revision:
        return [goals.by_code[code] for code in prepared.achieved.get(item.index, ())]
    return goals.achieved_by(item.name, item.properties)


def attribute(
    session: Session, workspace_id: uuid.UUID, fresh: list[_Stored], chats: Mapping[str, Candidate]
) -> Iterator[tuple[_Stored, GoalSpec, Attribution]]:
    """Each (item, goal) with the chat it is credited to. `chats`: the conversations the items name, as
    they stand (`Chats.standing`)."""
    achieving = [stored for stored in fresh if stored.goals]
    for stored in achieving:
        item = stored.item
        own = chats.get(item.conversation_id) if item.conversation_id is not None else None
        candidates: list[Candidate] = []
        if own is None and item.contact_id is not None:
            widest = max(goal.attribution_window_hours for goal in stored.goals)
            candidates = _candidates(session, workspace_id, item.contact_id, item.timestamp, widest)
        for goal in stored.goals:
            yield (
                stored,
                goal,
                attribution.attribute(
                    conversation=own,
                    contact_candidates=candidates,
                    at=item.timestamp,
                    window_hours=goal.attribution_window_hours,
                ),
            )


def _conversations(session: Session, workspace_id: uuid.UUID, ids: set[str]) -> dict[str, Candidate]:
    if not ids:
        return {}
    rows = session.connection().execute(_CONVERSATIONS, {"workspace": workspace_id, "ids": list(ids)})
    return {row.id: Candidate(row.id, row.flow_id, row.started_at, row.last_activity_at) for row in rows}


def _candidates(
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


def _outcome(stored: _Stored, goal: GoalSpec, valuation: Valuation, credit: Attribution) -> dict[str, Any]:
    item, batch = stored.item, stored.work.batch
    return {
        "workspace_id": batch.workspace_id,
        "id": new_id(),
        "goal_id": goal.id,
        "goal_code": goal.code,
        "kind": goal.kind,
        "event_ref": stored.row_id,
        "occurred_at": item.timestamp,
        "recorded_at": batch.received_at,
        "value": valuation.value,
        "currency": valuation.currency,
        "base_value": valuation.base_value,
        "base_currency": valuation.base_currency,
        "value_error": valuation.value_error,
        "attribution": credit.kind,
        "conversation_id": credit.conversation_id,
        "flow_id": credit.flow_id,
        "contact_id": item.contact_id,
        "source": item.source,
        "_index": item.index,
    }


OUTCOME_COLUMNS = (
    "workspace_id",
    "id",
    "goal_id",
    "goal_code",
    "kind",
    "event_ref",
    "occurred_at",
    "recorded_at",
    "value",
    "currency",
    "base_value",
    "base_currency",
    "value_error",
    "attribution",
    "conversation_id",
    "flow_id",
    "contact_id",
    "source",
)


def persist(
    session: Session,
    codec: Codec,
    workspace_id: uuid.UUID,
    timezone: str,
    fresh: list[_Stored],
    outcomes: list[dict[str, Any]],
    chats: Chats = NO_CHATS,
) -> None:
    """Store the outcomes, count them in the rollups, and bring the event-name catalogue up to date.
    `chats`: the conversations the group's events name, as `conversation` left them; others credited
    (a contact's earlier chat, by its window) are read."""
    if outcomes:
        rows = [
            (
                codec.id(o["workspace_id"]),
                codec.id(o["id"]),
                codec.id(o["goal_id"]),
                o["goal_code"],
                o["kind"].value,
                o["event_ref"],  # the event's row id, in the codec's terms already
                codec.time(o["occurred_at"]),
                codec.time(o["recorded_at"]),
                codec.decimal(o["value"]),
                o["currency"],
                codec.decimal(o["base_value"]),
                o["base_currency"],
                o["value_error"],
                o["attribution"].value,
                o["conversation_id"],
                o["flow_id"],
                o["contact_id"],
                o["source"].value,
            )
            for o in outcomes
        ]
        insert_rows(session.connection(), codec, "outcomes", OUTCOME_COLUMNS, rows)
        credited = {o["conversation_id"] for o in outcomes if o["conversation_id"] is not None}
        known = chats.standing
        others = credited - known.keys()
        found = [known[chat] for chat in credited - others]
        if others:
            found += _conversations(session, workspace_id, others).values()
        keys = rollups.conversation_keys(
            ((c.conversation_id, c.started_at, c.flow_id) for c in found), timezone
        )
        rollups.count_outcomes(
            session.connection(), codec, workspace_id, timezone, outcomes, keys, created=chats.created
        )
    _catalogue(session, codec, workspace_id, fresh)


def _catalogue(session: Session, codec: Codec, workspace_id: uuid.UUID, fresh: list[_Stored]) -> None:
    # The names and paths of each batch, counted by arrival, as the Explorer lists the events: an event
    # sent late counts today. A batch whose items were all stored brings them worked out (`prepare`).
    stored: dict[int, list[_Stored]] = {}
    for one in fresh:
        stored.setdefault(id(one.work), []).append(one)
    days: dict[tuple[str, date], list[Any]] = {}
    paths: dict[tuple[str, str], datetime] = {}
    for batch_stored in stored.values():
        batch = batch_stored[0].work.batch
        arrived = batch.received_at
        day = arrived.astimezone(UTC).date()
        prepared = batch.prepared
        if prepared is not None and len(batch_stored) == len(batch.items):
            names = prepared.names
        else:
            names = _names([s.item for s in batch_stored])
        for name, (count, seen_paths) in names.items():
            entry = days.setdefault((name, day), [0, arrived])
            entry[0] += count
            entry[1] = max(entry[1], arrived)
            for path in seen_paths:
                seen = paths.get((name, path))
                paths[(name, path)] = arrived if seen is None or seen < arrived else seen
    workspace = codec.id(workspace_id)
    if days:
        insert_rows(
            session.connection(),
            codec,
            "event_name_days",
            ("workspace_id", "name", "day", "count", "last_seen_at"),
            [
                (workspace, name, codec.day(day), count, codec.time(last))
                for (name, day), (count, last) in days.items()
            ],
            tail=(
                "ON CONFLICT (workspace_id, name, day) DO UPDATE SET "
                "count = event_name_days.count + excluded.count, "
                f"last_seen_at = {codec.greatest}(event_name_days.last_seen_at, excluded.last_seen_at)"
            ),
        )
    if paths:
        insert_rows(
            session.connection(),
            codec,
            "event_property_keys",
            ("workspace_id", "name", "path", "last_seen_at"),
            [(workspace, name, path, codec.time(last)) for (name, path), last in paths.items()],
            tail=(
                "ON CONFLICT (workspace_id, name, path) DO UPDATE SET "
                f"last_seen_at = {codec.greatest}(event_property_keys.last_seen_at, excluded.last_seen_at)"
            ),
        )


def property_paths(properties: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths to every scalar or list in `properties` (what a match condition can name)."""
    found: list[str] = []
    for key, value in properties.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            found.extend(property_paths(value, f"{path}."))
        elif len(path) <= MAX_PATH:
            found.append(path)
        if len(found) >= MAX_CATALOGUE_PATHS:
            return found[:MAX_CATALOGUE_PATHS]
    return found


def _recorded(work: _Work) -> Recorded:
    outcomes = tuple(
        (
            row["_index"],
            str(row["id"]),
            row["goal_code"],
            row["kind"].value,
            row["occurred_at"],
            row["value"],
            row["currency"],
            row["base_value"],
            row["base_currency"],
            row["value_error"],
            row["attribution"].value,
            row["conversation_id"],
            row["flow_id"],
            row["contact_id"],
            row["source"].value,
        )
        for row in work.outcomes
    )
    return Recorded(frozenset(work.duplicates), work.ignored, outcomes)


def answer(batch: Batch, recorded: Recorded) -> IngestResult:
    """The 202 answer to `batch`: per item in order, what was recorded of it (SPEC §4)."""
    ignored, duplicates = recorded.ignored, recorded.duplicates
    by_item: dict[int, list[OutcomeRead]] = defaultdict(list)
    for (
        index,
        outcome_id,
        goal,
        kind,
        occurred_at,
        value,
        currency,
        base_value,
        base_currency,
        value_error,
        attribution_kind,
        conversation_id,
        flow_id,
        contact_id,
        source,
    ) in recorded.outcomes:
        by_item[index].append(
            OutcomeRead(
                id=outcome_id,
                goal=goal,
                kind=GoalKind(kind),
                occurred_at=occurred_at,
                value=value,
                currency=currency,
                base_value=base_value,
                base_currency=base_currency,
                value_error=value_error,
                attribution=attribution_kind,
                conversation_id=conversation_id,
                flow_id=flow_id,
                contact_id=contact_id,
                source=Source(source),
            )
        )
    results = []
    for item in batch.items:
        if item.index in ignored:
            status, reason = "ignored", ignored[item.index]
        elif item.index in duplicates:
            status, reason = "duplicate", None
        else:
            status, reason = "accepted", None
        results.append(
            ItemResult(
                index=item.index,
                event_id=item.event_id,
                status=status,
                reason=reason,
                outcomes=by_item.get(item.index, []),
            )
        )
    accepted = sum(result.status == "accepted" for result in results)
    return IngestResult(accepted=accepted, duplicates=len(duplicates), results=results)
