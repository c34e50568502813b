"""Ingestion's stage for analytics steps (SPEC §10), after `telemetry.steps.record_steps`: what the Step
Explorer and the step catalogue read.

- `step_path_rollups`: each conversation whose path of first steps grew leaves the row of its old path
  (a count of -1) and enters the row of its new one, under the local day of its first step and that
  step's flow. A row whose count falls to 0 stays, and readers skip it.
- `step_path_days`: the revision of each local day's path rollups, moved on with them, for the Step
  Explorer's memory of closed days (`analytics.path_counts`).
- `flow_steps`: each step's latest label and type (the latest by the time of the event that sent it,
  whichever writer stores it last), and when first and last executed.
- `flow_step_days`: executions, and conversations executing the step for the first time, by UTC day.

These rows are shared by every writer of a workspace, so the stage runs late, as the event-name
catalogue does, and writes each table once, its rows in key order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session

from comerix.analytics.models import StepPathDay, StepPathRollup
from comerix.analytics.sums import local_day, sums_upsert
from comerix.db.bulk import Codec, codec_for, insert_rows
from comerix.telemetry.models import ConversationPath
from comerix.telemetry.pipeline import Group, PathChange, StepCount
from comerix.text import json_text

_PATH_COLUMNS, _PATH_UPSERT = sums_upsert(
    "step_path_rollups", ("day", "flow_id", "path_key"), ("conversations",), ()
)
_REVISION_COLUMNS, _REVISION_UPSERT = sums_upsert("step_path_days", ("day",), ("revision",), ())
_DAY_COLUMNS, _DAY_UPSERT = sums_upsert(
    "flow_step_days", ("day", "flow_id", "step_id"), ("executions", "conversations"), ()
)
_STEP_COLUMNS = (
    "workspace_id",
    "flow_id",
    "id",
    "label",
    "type",
    "labelled_at",
    "first_seen_at",
    "last_seen_at",
)
_NEWER = "excluded.labelled_at >= flow_steps.labelled_at"
_STEP_UPSERT = (
    "ON CONFLICT (workspace_id, flow_id, id) DO UPDATE SET "
    f"label = CASE WHEN {_NEWER} THEN excluded.label ELSE flow_steps.label END, "
    f"type = CASE WHEN {_NEWER} THEN excluded.type ELSE flow_steps.type END, "
    f"labelled_at = CASE WHEN {_NEWER} THEN excluded.labelled_at ELSE flow_steps.labelled_at END, "
    "first_seen_at = {least}(flow_steps.first_seen_at, excluded.first_seen_at), "
    "last_seen_at = {greatest}(flow_steps.last_seen_at, excluded.last_seen_at)"
)


def path_key(path: tuple[str, ...]) -> str:
    """The key of a path in `step_path_rollups`: a digest of its JSON text (a path of 30 long ids would
    be too long for an index)."""
    return _keyed(path)[0]


def _keyed(path: tuple[str, ...]) -> tuple[str, str]:
    """A path's key, and its JSON text, which its row keeps."""
    text = json_text(list(path))
    return hashlib.sha256(text.encode()).hexdigest()[:32], text


def count_steps(group: Group) -> Group:
    """Ingestion's stage: the paths that grew into the path rollups, the steps into the catalogue."""
    if not group.path_changes and not group.step_counts:
        return group
    connection, codec = group.session.connection(), group.codec
    add_path_changes(connection, codec, group.terms.workspace_id, group.path_changes, group.terms.timezone)
    _count_catalogue(group, codec, codec.id(group.terms.workspace_id))
    return group


def add_path_changes(
    connection: Connection,
    codec: Codec,
    workspace_id: uuid.UUID,
    changes: Sequence[PathChange],
    timezone: str,
) -> None:
    """Move each changed path in `step_path_rollups`: -1 where it was, +1 where it is; and the revision
    of each day whose rows change."""
    workspace = codec.id(workspace_id)
    paths: dict[str, str] = {}  # by key: each path's JSON text, each path keyed once
    rows = [
        (workspace, codec.day(day), flow, key, count, paths[key])
        for (day, flow, key), count in sorted(path_moves(changes, timezone, paths).items())
        if count
    ]
    if not rows:
        return
    # The path travels with its row (kept as first inserted): a column of the row, not of its key.
    insert_rows(
        connection,
        codec,
        "step_path_rollups",
        (*_PATH_COLUMNS, "path"),
        rows,
        tail=_PATH_UPSERT,
        json_columns=frozenset({"path"}),
    )
    days = sorted({row[1] for row in rows})
    revisions = [(workspace, day, 1) for day in days]
    insert_rows(connection, codec, "step_path_days", _REVISION_COLUMNS, revisions, tail=_REVISION_UPSERT)


def path_moves(
    changes: Sequence[PathChange], timezone: str, keyed: dict[str, str]
) -> Counter[tuple[date, str, str]]:
    """What the changes add to each row of the path rollups: -1 where a path was, +1 where it is; and
    into `keyed`, each path's JSON text by its key (a digest: worked out once a path)."""
    moves: Counter[tuple[date, str, str]] = Counter()
    for change in changes:
        day = local_day(change.first_step_at, timezone)
        if change.before is not None:
            before, keyed_text = _keyed(change.before)
            keyed[before] = keyed_text
            moves[(day, change.flow_id, before)] -= 1
        after, keyed_text = _keyed(change.after)
        keyed[after] = keyed_text
        moves[(day, change.flow_id, after)] += 1
    return moves


def _count_catalogue(group: Group, codec: Codec, workspace: object) -> None:
    counts = group.step_counts
    if not counts:
        return
    connection = group.session.connection()
    days = [
        (workspace, codec.day(day), flow, step, count.executions, count.conversations)
        for (day, flow, step), count in sorted(counts.items())
    ]
    insert_rows(connection, codec, "flow_step_days", _DAY_COLUMNS, days, tail=_DAY_UPSERT)
    latest: dict[tuple[str, str], StepCount] = {}  # by flow and step, over the days
    for (_, flow, step), count in counts.items():
        known = latest.get((flow, step))
        latest[(flow, step)] = count if known is None else _merged(known, count)
    steps = [
        (
            workspace,
            flow,
            step,
            count.label,
            count.type.value,
            codec.time(count.labelled_at),
            codec.time(count.first_seen_at),
            codec.time(count.last_seen_at),
        )
        for (flow, step), count in sorted(latest.items())
    ]
    upsert = _STEP_UPSERT.format(least=codec.least, greatest=codec.greatest)
    insert_rows(connection, codec, "flow_steps", _STEP_COLUMNS, steps, tail=upsert)


def _merged(one: StepCount, other: StepCount) -> StepCount:
    newer = other if other.labelled_at >= one.labelled_at else one
    return StepCount(
        one.executions + other.executions,
        one.conversations + other.conversations,
        newer.label,
        newer.type,
        newer.labelled_at,
        min(one.first_seen_at, other.first_seen_at),
        max(one.last_seen_at, other.last_seen_at),
    )


def rebuild(session: Session, workspace_id: uuid.UUID, timezone: str) -> None:
    """Recompute the workspace's path rollups from its conversations' paths, in the days of `timezone`
    (a path keeps the time of its first step, so it moves to its new local day). Paths erased with their
    contact are no longer there to count, as for the other rollups."""
    codec = codec_for(session.get_bind().dialect.name)
    session.execute(delete(StepPathRollup).where(StepPathRollup.workspace_id == workspace_id))
    # Every day moves on, those left without rows too: no process may go on counting what it kept.
    session.execute(
        update(StepPathDay)
        .where(StepPathDay.workspace_id == workspace_id)
        .values(revision=StepPathDay.revision + 1)
        .execution_options(synchronize_session=False)
    )
    paths = select(ConversationPath.first_step_at, ConversationPath.flow_id, ConversationPath.path).where(
        ConversationPath.workspace_id == workspace_id
    )
    changes: list[PathChange] = []
    for first_step_at, flow, path in session.execute(paths.execution_options(yield_per=REBUILD_CHUNK)):
        changes.append(PathChange(first_step_at, flow, None, tuple(path)))
        if len(changes) == REBUILD_CHUNK:
            add_path_changes(session.connection(), codec, workspace_id, changes, timezone)
            changes = []
    if changes:
        add_path_changes(session.connection(), codec, workspace_id, changes, timezone)


REBUILD_CHUNK = 5000
