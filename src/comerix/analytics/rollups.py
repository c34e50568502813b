"""Keeping the rollups (see `analytics.models`) up to date: from ingestion, and all over again for a new
time zone (`rebuild`); and the marks of erased conversations (`forget_conversations`).

Ingestion's two stages of analytics (`count_conversation_changes`, `count_outcome_records`) take what
the group changed, as telemetry's stages typed it (the conversations it creates or moves, the outcomes
it recorded), and add it to the rollups inside the ingestion transaction, with values in the driver's
terms (`db.bulk.Codec`). Counts and money (in millionths, as two limbs: see `analytics.models`) are
added with SQL arithmetic, so concurrent writers never lose an update.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, ScalarSelect, bindparam, delete, select, update
from sqlalchemy.orm import Session

from comerix.analytics import cycle_rollups, step_rollups
from comerix.analytics.credits import ANY, credits, is_chat_driven, merged
from comerix.analytics.models import (
    ConversationGoalRollup,
    ConversationMark,
    ConversationRollup,
    OutcomeDaySeries,
    OutcomeFallbackRollup,
    OutcomeMonthRollup,
    OutcomeRollup,
)
from comerix.analytics.sums import local_day, sums_upsert
from comerix.conversions import records
from comerix.conversions.models import Outcome
from comerix.conversions.records import OutcomeRecord
from comerix.db.bulk import Codec, codec_for, insert_rows
from comerix.money import LIMB, to_micros
from comerix.telemetry.models import Conversation
from comerix.telemetry.pipeline import ConversationChange, Group, Place
from comerix.telemetry.stages import read_conversations
from comerix.vocabulary import BaseValueSource, GoalKind


@dataclass(frozen=True)
class ConversationKey:
    """Where a conversation is counted: the local day it started, and its flow ('' for none)."""

    day: date
    flow: str


@dataclass(frozen=True)
class ConversationMove:
    """A conversation that is new (`before` is None) or whose start day or flow changed."""

    conversation_id: str
    before: ConversationKey | None
    after: ConversationKey


def count_conversation_changes(group: Group) -> Group:
    """Ingestion's stage: the conversations the group creates or moves, into the conversation rollups
    (and what they count for, with them)."""
    terms = group.terms
    moved = moves(group.chats.changes, terms.timezone)
    count_conversations(group.session.connection(), group.codec, terms.workspace_id, moved)
    return group


def count_outcome_records(group: Group) -> Group:
    """Ingestion's stage: the outcomes the group recorded, into the outcome rollups, and the
    conversations they credit, into the conversation marks."""
    if group.outcomes:
        terms = group.terms
        keys = _credited_keys(group)
        connection, created = group.session.connection(), group.chats.created
        count_outcomes(
            connection, group.codec, terms.workspace_id, terms.timezone, group.outcomes, keys, created
        )
    return group


def moves(changes: Iterable[ConversationChange], timezone: str) -> list[ConversationMove]:
    """The changes that count a conversation under another row: new ones, and those whose local start
    day or flow changed."""
    found = []
    for change in changes:
        before = None if change.before is None else _key(change.before, timezone)
        after = _key(change.after, timezone)
        if before != after:
            found.append(ConversationMove(change.conversation_id, before, after))
    return found


def _key(place: Place, timezone: str) -> ConversationKey:
    return ConversationKey(local_day(place.started_at, timezone), place.flow_id or ANY)


def _credited_keys(group: Group) -> dict[str, ConversationKey]:
    """Where each conversation the group's outcomes credit is counted: those its events name as they
    now stand, others (a contact's earlier chat, by its window) as stored."""
    credited = {o.conversation_id for o in group.outcomes if o.conversation_id is not None}
    standing = group.chats.standing
    found = [standing[chat] for chat in credited if chat in standing]
    if others := credited - standing.keys():
        found += read_conversations(group, others).values()
    return conversation_keys(
        ((c.conversation_id, c.started_at, c.flow_id) for c in found), group.terms.timezone
    )


def count_conversations(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, moves: list[ConversationMove]
) -> None:
    deltas: Counter[ConversationKey] = Counter()
    moved: dict[str, ConversationMove] = {}
    for move in moves:
        deltas[move.after] += 1
        if move.before is not None:
            deltas[move.before] -= 1
            moved[move.conversation_id] = move
    _add_counts(
        connection,
        codec,
        "conversation_rollups",
        ("day", "flow_id"),
        "conversations",
        workspace_id,
        {(codec.day(key.day), key.flow): n for key, n in deltas.items() if n},
    )
    if moved:
        _move_marks(connection, codec, workspace_id, moved)


def _move_marks(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, moved: dict[str, ConversationMove]
) -> None:
    """A conversation counted under another day or flow now: what it counts for follows it."""
    deltas: Counter[tuple[Any, ...]] = Counter()
    for conversation_id, marks in _stored_marks(connection, workspace_id, moved.keys()).items():
        move = moved[conversation_id]
        assert move.before is not None
        for goal, attribution in credits(marks):
            deltas[(codec.day(move.after.day), move.after.flow, goal, attribution)] += 1
            deltas[(codec.day(move.before.day), move.before.flow, goal, attribution)] -= 1
    _add_credited(connection, codec, workspace_id, deltas)


def count_outcomes(
    connection: Connection,
    codec: Codec,
    workspace_id: uuid.UUID,
    timezone: str,
    outcomes: Sequence[OutcomeRecord],
    conversation_keys: dict[str, ConversationKey],
    created: frozenset[str] = frozenset(),
) -> None:
    """Add `outcomes` to the outcome rollups and the conversation marks.
    `created`: conversations made in this transaction, before these outcomes: no mark is stored for
    them yet (marks go with their conversation, `contacts.service.erase`), so none is looked for."""
    sums: dict[OutcomeKey, list[int]] = {}
    fallback: dict[OutcomeKey, list[int]] = {}  # those whose base value is their display value
    _tally(outcomes, timezone, 1, sums, fallback)
    _add_money(connection, codec, workspace_id, sums)
    _add_fallbacks(connection, codec, workspace_id, fallback)
    _mark(connection, codec, workspace_id, outcomes, conversation_keys, created)


def adjust_outcomes(
    connection: Connection,
    codec: Codec,
    workspace_id: uuid.UUID,
    timezone: str,
    before: Sequence[OutcomeRecord],
    after: Sequence[OutcomeRecord],
) -> None:
    """Move the outcome rollups from `before` to `after`, the same outcomes with other base values or
    sources (`comerix rates apply`): each row gets the difference, in the outcome and the fallback
    rollups alike. A negative difference is written as limbs like any sum (`divmod` floors, so the low
    limb stays in [0, LIMB) and the carry settles the high one). The marks do not change: the outcomes
    credit the same conversations."""
    sums: dict[OutcomeKey, list[int]] = {}
    fallback: dict[OutcomeKey, list[int]] = {}
    _tally(before, timezone, -1, sums, fallback)
    _tally(after, timezone, 1, sums, fallback)
    _add_money(connection, codec, workspace_id, {key: sum_ for key, sum_ in sums.items() if any(sum_)})
    _add_fallbacks(
        connection, codec, workspace_id, {key: sum_ for key, sum_ in fallback.items() if any(sum_)}
    )


def _tally(
    outcomes: Sequence[OutcomeRecord],
    timezone: str,
    sign: int,
    sums: dict[OutcomeKey, list[int]],
    fallback: dict[OutcomeKey, list[int]],
) -> None:
    """Add `sign` times each outcome (its count, value and base value in millionths) to its row of
    `sums`, and of `fallback` too when its base value is its display value for want of a rate."""
    for o in outcomes:
        key = _outcome_key(o, timezone)
        value = sign * to_micros(o.value) if o.value is not None else 0
        base = sign * to_micros(o.base_value) if o.base_value is not None else 0
        tallies = (sums, fallback) if o.base_value_source is BaseValueSource.DISPLAY_FALLBACK else (sums,)
        for tally in tallies:
            entry = tally.setdefault(key, [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + sign, entry[1] + value, entry[2] + base


def _add_fallbacks(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, fallback: dict[OutcomeKey, list[int]]
) -> None:
    if fallback:
        dimensions = ("day", *OUTCOME_DIMENSIONS[1:])
        _add_sums(connection, codec, "outcome_fallback_rollups", dimensions, workspace_id, fallback)


def _outcome_key(o: OutcomeRecord, timezone: str) -> OutcomeKey:
    return OutcomeKey(
        local_day(o.occurred_at, timezone),
        o.goal_id.hex,
        o.kind.value,
        o.flow_id or ANY,
        o.attribution.value,
        o.currency or ANY,
        o.base_currency or ANY,
    )


def _mark(
    connection: Connection,
    codec: Codec,
    workspace_id: uuid.UUID,
    outcomes: Sequence[OutcomeRecord],
    conversation_keys: dict[str, ConversationKey],
    created: frozenset[str],
) -> None:
    """Mark the conversations the outcomes credit, and count each in the rows it enters (`credits` of
    its marks after, less those before)."""
    wanted: dict[str, dict[tuple[str, str], bool]] = {}
    for o in outcomes:
        chat, attribution = o.conversation_id, o.attribution.value
        if chat is None or not is_chat_driven(attribution) or chat not in conversation_keys:
            continue
        marks = wanted.setdefault(chat, {})
        key = (o.goal_id.hex, attribution)
        marks[key] = marks.get(key, False) or o.kind is GoalKind.CONVERSION
    if not wanted:
        return
    stored = _marks_before(connection, codec, workspace_id, wanted.keys() - created)
    workspace = codec.id(workspace_id)
    new: list[tuple[Any, ...]] = []
    now_conversions: list[dict[str, Any]] = []
    deltas: Counter[tuple[Any, ...]] = Counter()
    for chat, marks in wanted.items():
        before = stored.get(chat, {})
        after = merged(before, marks)
        for key, conversion in marks.items():
            if key not in before:
                new.append((workspace, chat, *key, after[key]))
            elif conversion and not before[key]:
                now_conversions.append({"mark_chat": chat, "mark_goal": key[0], "mark_attribution": key[1]})
        day, flow = conversation_keys[chat].day, conversation_keys[chat].flow
        for goal, attribution in credits(after) - credits(before):
            deltas[(codec.day(day), flow, goal, attribution)] += 1
    insert_rows(connection, codec, "conversation_marks", MARK_COLUMNS, sorted(new))
    if now_conversions:  # a goal whose kind was changed to conversion: rare
        connection.execute(
            _NOW_A_CONVERSION.where(ConversationMark.workspace_id == workspace_id), now_conversions
        )
    _add_credited(connection, codec, workspace_id, deltas)


MARK_COLUMNS = ("workspace_id", "conversation_id", "goal_id", "attribution", "conversion")
_NOW_A_CONVERSION = (
    update(ConversationMark)
    .where(
        ConversationMark.conversation_id == bindparam("mark_chat"),
        ConversationMark.goal_id == bindparam("mark_goal"),
        ConversationMark.attribution == bindparam("mark_attribution"),
    )
    .values(conversion=True)
)


def _marks_before(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, chats: Collection[str]
) -> dict[str, dict[tuple[str, str], bool]]:
    """The stored marks of `chats`, which the caller's transaction is about to add to.

    SQLite: the transaction holds the only write lock, so what it reads stays true until it commits.
    PostgreSQL: another service's writer may be marking the same conversations; their rows are
    locked first (in the order of their ids, as every writer takes them), so that one transaction
    reads and adds at a time, and each reads what the one before it committed. The conversations the
    caller's transaction created are not among `chats`: it holds them (it inserted them), and none
    can have marks yet, since marks go with their conversation (`contacts.service.erase`) and
    `rebuild` starts from none."""
    if not chats:
        return {}
    if not codec.sqlite:
        connection.execute(
            select(Conversation.id)
            .where(Conversation.workspace_id == workspace_id, Conversation.id.in_(sorted(chats)))
            .order_by(Conversation.id)
            .with_for_update()
        )
    return _stored_marks(connection, workspace_id, chats)


def _stored_marks(
    connection: Connection, workspace_id: uuid.UUID, chats: Collection[str]
) -> dict[str, dict[tuple[str, str], bool]]:
    found: dict[str, dict[tuple[str, str], bool]] = {}
    rows = connection.execute(
        select(
            ConversationMark.conversation_id,
            ConversationMark.goal_id,
            ConversationMark.attribution,
            ConversationMark.conversion,
        ).where(ConversationMark.workspace_id == workspace_id, ConversationMark.conversation_id.in_(chats))
    )
    for chat, goal, attribution, conversion in rows:
        found.setdefault(chat, {})[(goal, attribution)] = bool(conversion)
    return found


def _add_credited(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, deltas: Counter[tuple[Any, ...]]
) -> None:
    """Add to the credited conversations by (day, flow, goal, attribution)."""
    _add_counts(
        connection,
        codec,
        "conversation_goal_rollups",
        ("day", "flow_id", "goal_id", "attribution"),
        "conversations",
        workspace_id,
        {key: n for key, n in deltas.items() if n},
    )


def _add_counts(
    connection: Connection,
    codec: Codec,
    table: str,
    dimensions: tuple[str, ...],
    measure: str,
    workspace_id: uuid.UUID,
    deltas: dict[tuple[Any, ...], int] | Counter[tuple[Any, ...]],
) -> None:
    if not deltas:
        return
    workspace = codec.id(workspace_id)
    insert_rows(
        connection,
        codec,
        table,
        ("workspace_id", *dimensions, measure),
        [(workspace, *key, n) for key, n in deltas.items()],
        tail=f"ON CONFLICT (workspace_id, {', '.join(dimensions)}) DO UPDATE SET "
        f"{measure} = {table}.{measure} + excluded.{measure}",
    )


class OutcomeKey(NamedTuple):
    """The dimensions of a row of `outcome_rollups` (of the monthly one, with the first day a month)."""

    day: date
    goal_id: str
    kind: str
    flow_id: str
    attribution: str
    currency: str
    base_currency: str


OUTCOME_DIMENSIONS: tuple[str, ...] = OutcomeKey._fields


def _add_money(
    connection: Connection, codec: Codec, workspace_id: uuid.UUID, sums: dict[OutcomeKey, list[int]]
) -> None:
    """Add outcome sums (count, value, base value) to the daily and monthly rollups and the series."""
    if not sums:
        return
    months: dict[tuple[Any, ...], list[int]] = {}
    series: dict[tuple[Any, ...], list[int]] = {}
    for key, (n, value, base) in sums.items():
        month = months.setdefault(key._replace(day=key.day.replace(day=1)), [0, 0, 0])
        month[0], month[1], month[2] = month[0] + n, month[1] + value, month[2] + base
        point = series.setdefault((key.day, key.kind, key.base_currency), [0, 0])
        point[0], point[1] = point[0] + n, point[1] + base
    _add_sums(connection, codec, "outcome_rollups", ("day", *OUTCOME_DIMENSIONS[1:]), workspace_id, sums)
    _add_sums(
        connection, codec, "outcome_month_rollups", ("month", *OUTCOME_DIMENSIONS[1:]), workspace_id, months
    )
    _add_sums(connection, codec, "outcome_day_series", ("day", "kind", "base_currency"), workspace_id, series)


def _add_sums(
    connection: Connection,
    codec: Codec,
    table: str,
    dimensions: tuple[str, ...],
    workspace_id: uuid.UUID,
    sums: Mapping[OutcomeKey, list[int]] | Mapping[tuple[Any, ...], list[int]],
) -> None:
    """Upsert sums keyed by `dimensions` (a date first): the count, then the millionths of each money
    measure of the table, written as limbs (`money.LIMB`)."""
    workspace = codec.id(workspace_id)
    if len(_MONEY[table]) == 2:
        rows = [
            (workspace, codec.day(key[0]), *key[1:], n, *divmod(value, LIMB), *divmod(base, LIMB))
            for key, (n, value, base) in sums.items()
        ]
    else:
        rows = [
            (workspace, codec.day(key[0]), *key[1:], n, *divmod(base, LIMB))
            for key, (n, base) in sums.items()
        ]
    columns, upsert = _money_statement(table, dimensions)
    insert_rows(connection, codec, table, columns, rows, tail=upsert)


_MONEY = {
    "outcome_rollups": ("value", "base_value"),
    "outcome_fallback_rollups": ("value", "base_value"),
    "outcome_month_rollups": ("value", "base_value"),
    "outcome_day_series": ("base_value",),
}


@cache
def _money_statement(table: str, dimensions: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The columns of an upsert of an outcome rollup's sums, and its ON CONFLICT … DO UPDATE."""
    return sums_upsert(table, dimensions, ("outcomes",), _MONEY[table])


def conversation_keys(
    rows: Iterable[tuple[str, datetime, str | None]], timezone: str
) -> dict[str, ConversationKey]:
    """Where each conversation (id, started_at, flow_id) is counted."""
    return {chat: ConversationKey(local_day(started, timezone), flow or ANY) for chat, started, flow in rows}


def rebuild(session: Session, workspace_id: uuid.UUID, timezone: str) -> None:
    """Recompute every rollup of the workspace from its stored outcomes, conversations, goal cycles and
    paths of steps, for a new reporting time zone. Those erased with their contact are no longer there
    to count."""
    codec = codec_for(session.get_bind().dialect.name)
    connection = session.connection()
    for model in (
        OutcomeRollup,
        OutcomeMonthRollup,
        OutcomeDaySeries,
        OutcomeFallbackRollup,
        ConversationRollup,
        ConversationMark,
        ConversationGoalRollup,
    ):
        session.execute(delete(model).where(model.workspace_id == workspace_id))
    chats = session.execute(
        select(Conversation.id, Conversation.started_at, Conversation.flow_id).where(
            Conversation.workspace_id == workspace_id
        )
    ).all()
    keys = conversation_keys(chats, timezone)
    count_conversations(
        connection, codec, workspace_id, [ConversationMove(chat, None, key) for chat, key in keys.items()]
    )
    columns = [Outcome.__table__.columns[name] for name in records.COLUMNS]
    batch: list[OutcomeRecord] = []
    for row in session.execute(select(*columns).where(Outcome.workspace_id == workspace_id)).mappings():
        batch.append(OutcomeRecord.of_row(row))
        if len(batch) == REBUILD_CHUNK:
            count_outcomes(connection, codec, workspace_id, timezone, batch, keys)
            batch = []
    if batch:
        count_outcomes(connection, codec, workspace_id, timezone, batch, keys)
    cycle_rollups.rebuild(session, workspace_id, timezone)
    step_rollups.rebuild(session, workspace_id, timezone)


REBUILD_CHUNK = 5000


def forget_conversations(session: Session, workspace_id: uuid.UUID, chats: ScalarSelect[str]) -> None:
    """Erasure: the marks of `chats` (conversations about to be deleted) go with them, since which goals
    credited a chat is about that chat; the counts they added to the rollups stay, as reports must not
    change when a person is erased."""
    session.execute(
        delete(ConversationMark).where(
            ConversationMark.workspace_id == workspace_id, ConversationMark.conversation_id.in_(chats)
        )
    )
