"""How the Conversation Explorer finds the chats that executed a step (SPEC §10, "contains step").

- SQLite searches each path's stored text for the step (`text_condition`) while the list walks the
  chats newest first.
- PostgreSQL chooses between two plans by what the step catalogue counts (`plan_for`): walking the
  chats newest first, each one's path read by its key, or looking the step's paths up in their GIN
  index (`comerix_path_steps`, migration 0018: one key per workspace and step) and reading their
  chats by key. The planner keeps no statistics of a JSON array's elements, so it is not asked; each
  plan is written so that it can only be that plan (`holding_paths`, `lookup_settings`).
- A step the catalogue saw no chat execute since the range began gives an empty list without a read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    case,
    cast,
    exists,
    func,
    join,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from comerix.analytics.models import ConversationRollup, FlowStepDay
from comerix.telemetry.models import Conversation, ConversationPath
from comerix.text import json_text

LOOKUP_COST = 3
"""What a chat found through the paths' GIN index costs the list on PostgreSQL (its path read and
checked, its chat looked up by key, sorted), in chats walked past newest first (docs/benchmarks.md,
2026-12-07)."""


@dataclass(frozen=True)
class StepWeight:
    """What the catalogue counts of a step in a workspace (each chat once, on the UTC day it first
    executed the step; erased chats still counted): all the chats that executed it, those whose first
    execution came on the range's first UTC day or later, and those whose came by the range's last UTC
    day (of one flow, when the list asks for one); and the chats the range started."""

    ever: int
    since_start: int
    within: int
    started: int


class Plan(StrEnum):
    NONE = "none"  # no chat of the range holds the step: nothing to read
    LOOKUP = "lookup"  # the step's paths through their index, their chats by key, sorted
    WALK = "walk"  # the chats newest first, each one's path by key, until a page is full


def plan_for(weight: StepWeight, page: int) -> Plan:
    """How PostgreSQL finds a page of the chats holding a step, by what each plan reads. A walk reads
    about a page's worth of the chats holding the step, spread among those the range started (all of
    them when none of the range holds it); a lookup reads every path of the workspace holding the step
    (the index cannot tell the range), each costing `LOOKUP_COST` chats walked.

    A chat that started in the range executed its steps after the range began, so with none since
    then no chat of the range holds the step."""
    if weight.since_start == 0:
        return Plan.NONE
    walked = weight.started if weight.within == 0 else page * weight.started / weight.within
    return Plan.LOOKUP if LOOKUP_COST * weight.ever < walked else Plan.WALK


def step_weight(
    session: Session,
    workspace_id: uuid.UUID,
    step: str,
    start: datetime,
    end: datetime,
    started: bool,
    flow: str | None = None,
) -> StepWeight:
    """The catalogue's counts of `step` for the local days from `start` to `end` (their first moment,
    and the next day's), in one read of the step's rows; and, when `started`, the chats those days
    started, from the conversation rollups (0 otherwise). With a `flow`, the chats within the range
    are those of that flow, as a walk filtered by it finds them among the chats of every flow; the
    others stay whole (a lookup reads the step's paths of every flow, and whether a chat of the range
    holds the step at all is not told by its flow: a step's flow may be its event's, not its chat's)."""
    days = FlowStepDay
    # The UTC days the range touches: its last one holds the range's end, or the day before it.
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    in_range: ColumnElement[bool] = days.day.between(first, last)
    if flow is not None:
        in_range = and_(in_range, days.flow_id == flow)
    counts = session.execute(
        select(
            func.coalesce(func.sum(days.conversations), 0).label("ever"),
            func.coalesce(func.sum(case((days.day >= first, days.conversations), else_=0)), 0).label(
                "since_start"
            ),
            func.coalesce(func.sum(case((in_range, days.conversations), else_=0)), 0).label("within"),
        ).where(days.workspace_id == workspace_id, days.step_id == step)
    ).one()
    chats = 0
    if started:
        counted = ConversationRollup
        chats = (
            session.scalar(
                select(func.coalesce(func.sum(counted.conversations), 0)).where(
                    counted.workspace_id == workspace_id,
                    counted.day >= start.date(),
                    counted.day < end.date(),
                )
            )
            or 0
        )
    return StepWeight(int(counts.ever), int(counts.since_start), int(counts.within), int(chats))


_chats, _paths = Conversation, ConversationPath
PATH_COLUMNS = ("steps", "path", "flow_id")


def holding_paths(workspace_id: uuid.UUID, step: str, plan: Plan) -> tuple[FromClause, FromClause]:
    """On PostgreSQL, the paths holding `step` (with `PATH_COLUMNS`) and those joined to their chats,
    as `plan` reads them. A lookup finds them through the GIN index of each path's steps keyed by its
    workspace, so a step common in another workspace costs this one nothing; a walk reads each chat's
    path by its key. `OFFSET 0` keeps each subquery planned on its own; a lookup runs under
    `lookup_settings`."""
    columns = (_paths.conversation_id, *(_paths.__table__.c[name] for name in PATH_COLUMNS))
    if plan is Plan.LOOKUP:
        keyed = func.comerix_path_steps(_paths.workspace_id, _paths.seen, type_=JSONB)
        held = keyed.op("@>")(cast(literal(json_text({str(workspace_id): [step]})), JSONB))
        # The key holds the workspace: its id again would let the planner read all its paths instead.
        found = select(*columns).where(held).offset(0).subquery()
        return found, join(
            _chats,
            found,
            and_(_chats.workspace_id == workspace_id, _chats.id == found.c.conversation_id),
        )
    held = _paths.seen.op("@>")(cast(literal(json_text([step])), JSONB))
    walked = (
        select(*columns)
        .where(_paths.workspace_id == _chats.workspace_id, _paths.conversation_id == _chats.id, held)
        .offset(0)
        .lateral()
    )
    return walked, join(_chats, walked, true())


_LOOKUP_SETTINGS = ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")
_READ_SETTINGS = text("SELECT " + ", ".join(f"current_setting('{name}')" for name in _LOOKUP_SETTINGS))
_SET_SETTINGS = text(
    "SELECT " + ", ".join(f"set_config('{name}', :{name}, true)" for name in _LOOKUP_SETTINGS)
)


@contextmanager
def lookup_settings(session: Session) -> Iterator[None]:
    """A lookup's statement plans with the index and key look-ups alone (no sequential scans, no hash
    or merge joins): the settings are turned off for the transaction, and put back as they were once
    the statement is done. A statement that fails aborts the transaction, and the settings go with it."""
    saved = session.execute(_READ_SETTINGS).one()
    session.execute(_SET_SETTINGS, dict.fromkeys(_LOOKUP_SETTINGS, "off"))
    yield
    session.execute(_SET_SETTINGS, dict(zip(_LOOKUP_SETTINGS, saved, strict=True)))


def text_condition(step: str) -> ColumnElement[bool]:
    """On SQLite, whether the conversation's path holds `step` among its distinct steps.

    A search of the stored text for the step's JSON string comes first: `seen` is only ever written
    with `json_text` (see `ConversationPath.seen`), so a path holding the step holds that text, and most
    paths, which do not, are passed over without `json_each` parsing them (a rare step costs the list
    the paths it walks past). The text can also turn up inside a longer id holding escaped quotes, so
    `json_each` still decides."""
    members = func.json_each(_paths.seen).table_valued("value")
    held = exists().select_from(members).where(members.c.value == step)
    return and_(func.instr(_paths.seen, json_text(step)) > 0, held)
