"""Ingestion's stage of analytics steps (SPEC §10): each new event that marks a step in a conversation
becomes an executed step, the step before it in that conversation its parent.

`record_steps`, after `store_conversations` (which locks, on PostgreSQL, the conversations the events
name, so the writers of one conversation take turns at its path):

1. The paths (`conversation_paths`) of the conversations those events name, and the flows of those
   whose events name none, as stored now (another writer may have set it since the group first read
   them). On SQLite the group holds the only write lock from its first INSERT, so the conversations
   stand as the group found them, and those it created have no path yet: neither is read.
2. Each event's step, in arrival order within its conversation: its position (0, 1, 2, ...), its
   parent (the conversation's last step), and what it adds to the conversation's path: its count, the
   first `PATH_LENGTH` steps (the path the Step Explorer counts), the distinct steps, its last step.
3. One INSERT of the runs of executed steps (a row per conversation: `ExecutedStepRun`), one upsert of
   the paths; for the rollup stage after it, each path that grew (`Group.path_changes`) and each
   step's counts by UTC day (`Group.step_counts`).

A step's flow is the event's `flow_id`, else its conversation's, else none (''); a step is known by
its flow and id, its label is the latest the events sent (by their time). An event with a step but no
conversation executes nothing: there is no path for it to be on (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, select

from comerix.db.bulk import insert_rows
from comerix.telemetry.models import Conversation, ConversationPath
from comerix.telemetry.pipeline import Group, PathChange, StepCount

PATH_LENGTH = 30
"""The steps of a conversation the Step Explorer counts: its first 30, enough for a tree 10 levels deep
from a step first executed as the twentieth."""

_paths, _chats = ConversationPath.__table__, Conversation.__table__
# By key, one statement each: a join of the two let PostgreSQL hash all of a workspace's paths.
_PATHS = select(
    _paths.c.conversation_id,
    _paths.c.first_step_at,
    _paths.c.flow_id,
    _paths.c.steps,
    _paths.c.path,
    _paths.c.seen,
    _paths.c.last_step_id,
).where(
    _paths.c.workspace_id == bindparam("workspace"),
    _paths.c.conversation_id.in_(bindparam("chats", expanding=True)),
)
_FLOWS = select(_chats.c.id, _chats.c.flow_id).where(
    _chats.c.workspace_id == bindparam("workspace"), _chats.c.id.in_(bindparam("chats", expanding=True))
)
RUN_COLUMNS = ("workspace_id", "conversation_id", "position", "steps")
PATH_COLUMNS = (
    "workspace_id",
    "conversation_id",
    "first_step_at",
    "flow_id",
    "steps",
    "path",
    "seen",
    "last_step_id",
)
_PATH_JSON = frozenset({"path", "seen"})
_MOVED_ON = "ON CONFLICT (workspace_id, conversation_id) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in ("steps", "path", "seen", "last_step_id")
)


@dataclass(slots=True)
class _Path:
    """A conversation's path as it stands while the group's steps are added to it, and the run of
    steps the group executes in it (`ExecutedStepRun`): `stored` steps before it."""

    first_step_at: datetime
    flow_id: str
    stored: int  # its steps before the group's: the run's first position
    path: list[str]
    seen: set[str]
    last_step_id: str | None
    before: tuple[str, ...] | None  # the path as stored, None for a new one
    order: list[str] = field(default_factory=list)  # `seen` in the order first executed, as stored
    run: list[tuple[Any, ...]] = field(default_factory=list)  # the group's steps, as the run keeps them

    @property
    def steps(self) -> int:
        return self.stored + len(self.run)


def record_steps(group: Group) -> Group:
    """The executed steps of the group's new events, their conversations' paths, and what the rollups
    and the catalogue count of them."""
    marked = [
        (event, step, chat)
        for event in group.stored
        if (step := event.item.step) is not None and (chat := event.item.conversation_id) is not None
    ]
    if not marked:
        return group
    codec, workspace = group.codec, group.codec.id(group.terms.workspace_id)
    flowless = {chat for event, _, chat in marked if event.item.flow_id is None}
    flows, paths = _stored(group, {chat for _, _, chat in marked}, flowless)
    counts: dict[tuple[date, str, str], StepCount] = {}
    # SQLite's times as it keeps them (remembered from the events' rows), PostgreSQL's as orjson
    # writes them (RFC 3339); the row ids are already SQLite's hex, and orjson writes PostgreSQL's UUIDs
    sqlite, time = codec.sqlite, codec.time_text
    # Every event with a step passes here: the path's and the count's updates are spelt out in line.
    for event, step, chat in marked:
        item = event.item
        at, flow, step_id = item.timestamp, item.flow_id or flows.get(chat) or "", step.id
        path = paths.get(chat)
        if path is None:
            path = paths[chat] = _Path(at, flow, 0, [], set(), None, None)
        path.run.append((step_id, flow, path.last_step_id, time(at) if sqlite else at, event.row_id))
        path.last_step_id = step_id
        if len(path.path) < PATH_LENGTH:
            path.path.append(step_id)
        first = step_id not in path.seen
        if first:
            path.seen.add(step_id)
            path.order.append(step_id)
        key = (at.date() if at.tzinfo is UTC else at.astimezone(UTC).date(), flow, step_id)
        count = counts.get(key)
        if count is None:
            counts[key] = StepCount(1, int(first), step.label, step.type, at, at, at)
            continue
        count.executions += 1
        count.conversations += first
        if at >= count.labelled_at:
            count.label, count.type, count.labelled_at = step.label, step.type, at
        if at < count.first_seen_at:
            count.first_seen_at = at
        elif at > count.last_seen_at:
            count.last_seen_at = at
    connection, ordered = group.session.connection(), sorted(paths.items())
    executed = [(workspace, chat, path.stored, codec.json(path.run)) for chat, path in ordered]
    insert_rows(connection, codec, "executed_step_runs", RUN_COLUMNS, executed)
    changed = [(chat, path) for chat, path in paths.items() if path.before != tuple(path.path)]
    stored = [
        (
            workspace,
            chat,
            codec.time(path.first_step_at),
            path.flow_id,
            path.steps,
            codec.json(path.path),
            codec.json(path.order),
            path.last_step_id,
        )
        for chat, path in ordered
    ]
    insert_rows(
        connection, codec, "conversation_paths", PATH_COLUMNS, stored, tail=_MOVED_ON, json_columns=_PATH_JSON
    )
    return replace(
        group,
        path_changes=tuple(
            PathChange(path.first_step_at, path.flow_id, path.before, tuple(path.path)) for _, path in changed
        ),
        step_counts=counts,
    )


def _stored(
    group: Group, chats: Iterable[str], flowless: Iterable[str]
) -> tuple[dict[str, str | None], dict[str, _Path]]:
    """The stored flows of the conversations in `flowless`, and the paths of those in `chats` that
    have one."""
    connection, workspace = group.session.connection(), group.terms.workspace_id
    if group.codec.sqlite:  # as the group found them (see the module's docstring)
        standing, created = group.chats.standing, group.chats.created
        flows = {chat: standing[chat].flow_id for chat in flowless}
        chats = [chat for chat in chats if chat not in created]
    else:
        wanted = sorted(flowless)
        read = connection.execute(_FLOWS, {"workspace": workspace, "chats": wanted}) if wanted else None
        flows = {} if read is None else {row.id: row.flow_id for row in read}
    found = {}
    if chats:
        for row in connection.execute(_PATHS, {"workspace": workspace, "chats": sorted(chats)}):
            path = list(row.path)
            found[row.conversation_id] = _Path(
                row.first_step_at,
                row.flow_id,
                row.steps,
                path,
                set(row.seen),
                row.last_step_id,
                tuple(path),
                list(row.seen),
            )
    return flows, found
