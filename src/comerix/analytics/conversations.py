"""The Conversation Explorer (SPEC §10): the conversations of a range of local days, newest first, with
their events, steps, the goals credited to them and their path of steps; and one conversation's
timeline of events, executed steps, outcomes and goal cycles.

- The list reads `conversations` by their start (an index, newest first) joined to their path of steps
  (`conversation_paths`); "contains step" looks into the path's distinct steps, "goal" and "converting"
  into the conversation's marks (`conversation_marks`, written when an outcome credits it); a step the
  catalogue saw no execution of since the range began gives an empty list at once. On PostgreSQL the
  catalogue's count also chooses how a step is found: a rare one through the paths' GIN index, a common
  one by walking the chats until a page is full (`_holding_paths`). A page is
  50 conversations; its cursor is the last one's start and id, so pages never skip or repeat one while
  new conversations arrive.
- The timeline reads a conversation's events by the row ids it keeps (its first thousand or so: see
  `Conversation.event_refs`), its executed steps and cycles by conversation, and its outcomes: those of
  its events, and those credited to it by the window rule (a sale reported later with the contact).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    cast,
    exists,
    func,
    join,
    literal,
    or_,
    outerjoin,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from comerix.analytics.models import ConversationMark, ConversationRollup, FlowStepDay
from comerix.analytics.report_query import date_range
from comerix.analytics.schemas import (
    ConversationDetail,
    ConversationRow,
    ConversationsPage,
    CycleEntry,
    EventEntry,
    OutcomeEntry,
    StepEntry,
)
from comerix.analytics.step_reports import StepLabels
from comerix.analytics.sums import zone
from comerix.conversions.models import GoalCycle, Outcome
from comerix.errors import FieldProblem, Invalid, NotFound
from comerix.goals.models import Goal
from comerix.telemetry.models import Conversation, ConversationPath, Event, ExecutedStep
from comerix.text import json_text
from comerix.workspaces.models import Workspace

PAGE = 50


class ConversationNotFound(NotFound):
    code = "conversation_not_found"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no conversation {conversation_id!r} in this workspace (it may have been erased)")


@dataclass(frozen=True)
class ConversationQuery:
    start: datetime  # UTC: the first local day's start
    end: datetime  # UTC: the day after the last local day's start
    flow: str | None
    contact: str | None
    contains_step: str | None
    goal: uuid.UUID | None
    converting: bool
    after: tuple[datetime, str] | None  # the cursor: the last row's start and id


def parse_query(session: Session, workspace: Workspace, params: dict[str, str | None]) -> ConversationQuery:
    """The query of `params`, or `Invalid` naming each parameter that is wrong."""
    problems: list[FieldProblem] = []
    first, last = date_range(params, problems)
    goal = None
    if code := params.get("goal"):
        goal = session.scalar(select(Goal.id).where(Goal.workspace_id == workspace.id, Goal.code == code))
        if goal is None:
            problems.append(FieldProblem("goal", f"no goal {code!r} in this workspace"))
    converting = params.get("converting") or "false"
    if converting not in ("true", "false"):
        problems.append(FieldProblem("converting", "must be true or false"))
    after = _cursor(params.get("cursor"), problems)
    if problems:
        raise Invalid.of(problems)
    assert first is not None
    assert last is not None
    tz = zone(workspace.timezone)
    return ConversationQuery(
        start=datetime.combine(first, time(), tz),
        end=datetime.combine(last + timedelta(days=1), time(), tz),
        flow=params.get("flow") or None,
        contact=params.get("contact") or None,
        contains_step=params.get("contains_step") or None,
        goal=goal,
        converting=converting == "true",
        after=after,
    )


def _cursor(raw: str | None, problems: list[FieldProblem]) -> tuple[datetime, str] | None:
    if not raw:
        return None
    try:
        moment, _, chat = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
        return datetime.fromisoformat(moment), chat
    except (binascii.Error, UnicodeDecodeError, ValueError):
        problems.append(FieldProblem("cursor", "is not a cursor this list gave"))
        return None


def cursor_of(row: ConversationRow) -> str:
    return base64.urlsafe_b64encode(f"{row.started_at.isoformat()}|{row.id}".encode()).decode().rstrip("=")


_chats, _paths = Conversation, ConversationPath
_JOINED = outerjoin(
    _chats,
    _paths,
    and_(_paths.workspace_id == _chats.workspace_id, _paths.conversation_id == _chats.id),
)
_PATH_COLUMNS = ("steps", "path", "flow_id")

LOOKUP_COST = 3
"""What a chat found through the paths' GIN index costs the list on PostgreSQL (its path read, its
chat looked up, sorted), in chats walked past newest first (docs/benchmarks.md, 2026-12-07)."""


def conversations(session: Session, workspace: Workspace, query: ConversationQuery) -> ConversationsPage:
    """A page of the conversations the query selects, newest first."""
    chats, paths, lookup = _chats, _paths.__table__, False
    source: FromClause = _JOINED
    if query.contains_step is not None:
        holding = _holding(session, workspace.id, query)
        if holding == 0:
            return ConversationsPage(conversations=[], next=None)
        if session.get_bind().dialect.name == "postgresql":
            lookup = holding * holding * LOOKUP_COST < PAGE * _started(session, workspace.id, query)
            paths, source = _holding_paths(workspace.id, query.contains_step, lookup)
    read = (
        select(
            chats.id,
            chats.started_at,
            chats.last_activity_at,
            chats.contact_id,
            chats.flow_id,
            chats.events,
            paths.c.steps,
            paths.c.path,
            paths.c.flow_id.label("path_flow"),
        )
        .select_from(source)
        .where(
            chats.workspace_id == workspace.id, chats.started_at >= query.start, chats.started_at < query.end
        )
        .order_by(chats.started_at.desc(), chats.id.desc())
        .limit(PAGE + 1)
    )
    for condition in _conditions(session, workspace.id, query):
        read = read.where(condition)
    if lookup:
        # The paths holding the step come from the GIN index, whatever the planner guesses of how many
        # hold it (it keeps no statistics of a JSON array's elements).
        session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(read).all()
    if lookup:
        session.execute(text("RESET enable_seqscan"))
    more, rows = len(rows) > PAGE, rows[:PAGE]
    credited = _credited(session, workspace.id, [row.id for row in rows])
    labels = StepLabels(session, workspace.id, {step for row in rows for step in (row.path or ())})
    found = [
        ConversationRow(
            id=row.id,
            started_at=row.started_at,
            last_activity_at=row.last_activity_at,
            contact_id=row.contact_id,
            flow_id=row.flow_id,
            events=row.events,
            steps=row.steps or 0,
            outcomes=credited.get(row.id, []),
            step_path=[labels.of(step, row.path_flow or "") for step in (row.path or ())],
        )
        for row in rows
    ]
    return ConversationsPage(conversations=found, next=cursor_of(found[-1]) if more else None)


def _holding_paths(workspace_id: uuid.UUID, step: str, lookup: bool) -> tuple[FromClause, FromClause]:
    """On PostgreSQL, the paths holding `step` joined to their chats, in one of two plans spelt out so
    that the planner cannot take a third: either the paths found through their GIN index first, their
    chats looked up and sorted (`lookup`: a rare step), or the chats walked newest first, each one's
    path looked up by its key until a page is full (a step common enough that a page comes soon).
    (`OFFSET 0` keeps each subquery planned on its own.)"""
    held = _paths.seen.op("@>")(cast(literal(json_text([step])), JSONB))
    columns = (_paths.conversation_id, *(_paths.__table__.c[name] for name in _PATH_COLUMNS))
    if lookup:
        found = select(*columns).where(_paths.workspace_id == workspace_id, held).offset(0).subquery()
        return found, join(_chats, found, found.c.conversation_id == _chats.id)
    walked = (
        select(*columns)
        .where(_paths.workspace_id == _chats.workspace_id, _paths.conversation_id == _chats.id, held)
        .offset(0)
        .lateral()
    )
    return walked, join(_chats, walked, true())


def _conditions(
    session: Session, workspace_id: uuid.UUID, query: ConversationQuery
) -> list[ColumnElement[bool]]:
    chats, marks = _chats, ConversationMark
    found: list[ColumnElement[bool]] = []
    if query.after is not None:
        moment, chat = query.after
        found.append(or_(chats.started_at < moment, and_(chats.started_at == moment, chats.id < chat)))
    if query.flow is not None:
        found.append(chats.flow_id == query.flow)
    if query.contact is not None:
        found.append(chats.contact_id == query.contact)
    if query.contains_step is not None and session.get_bind().dialect.name == "sqlite":
        found.append(_contains_text(query.contains_step))
    marked = and_(marks.workspace_id == workspace_id, marks.conversation_id == chats.id)
    if query.goal is not None:
        found.append(exists().where(marked, marks.goal_id == query.goal.hex))
    if query.converting:
        found.append(exists().where(marked, marks.conversion.is_(True)))
    return found


def _holding(session: Session, workspace_id: uuid.UUID, query: ConversationQuery) -> int:
    """How many chats of the range may hold the query's step, from the catalogue: those that executed it
    for the first time on the range's first day or later (a chat that started in the range executed its
    steps after that, perhaps after the range; one begun before the range makes it more). With none, no
    chat of the range holds it, and the list need not look into every path of the range to find none."""
    days = FlowStepDay
    held = select(func.coalesce(func.sum(days.conversations), 0)).where(
        days.workspace_id == workspace_id,
        days.step_id == query.contains_step,
        days.day >= query.start.astimezone(UTC).date(),
    )
    return int(session.scalar(held) or 0)


def _started(session: Session, workspace_id: uuid.UUID, query: ConversationQuery) -> int:
    """How many chats started on the range's local days, from the conversation rollups."""
    counted = ConversationRollup
    started = select(func.coalesce(func.sum(counted.conversations), 0)).where(
        counted.workspace_id == workspace_id,
        counted.day >= query.start.date(),
        counted.day < query.end.date(),
    )
    return int(session.scalar(started) or 0)


def _contains_text(step: str) -> ColumnElement[bool]:
    """On SQLite, whether the conversation's path holds `step` among its distinct steps.

    A search of the stored text for the step's JSON string comes first: `seen` is only ever written
    with `json_text` (see `ConversationPath.seen`), so a path holding the step holds that text, and most
    paths, which do not, are passed over without `json_each` parsing them (a rare step costs the list
    the paths it walks past). The text can also turn up inside a longer id holding escaped quotes, so
    `json_each` still decides."""
    members = func.json_each(_paths.seen).table_valued("value")
    held = exists().select_from(members).where(members.c.value == step)
    return and_(func.instr(_paths.seen, json_text(step)) > 0, held)


def _credited(session: Session, workspace_id: uuid.UUID, chats: list[str]) -> dict[str, list[str]]:
    """The codes of the goals credited to each conversation, by any attribution."""
    if not chats:
        return {}
    codes = {
        goal_id.hex: code
        for goal_id, code in session.execute(
            select(Goal.id, Goal.code).where(Goal.workspace_id == workspace_id)
        )
    }
    rows = session.execute(
        select(ConversationMark.conversation_id, ConversationMark.goal_id)
        .where(ConversationMark.workspace_id == workspace_id, ConversationMark.conversation_id.in_(chats))
        .distinct()
    )
    found: dict[str, set[str]] = {}
    for chat, goal in rows:
        if goal in codes:
            found.setdefault(chat, set()).add(codes[goal])
    return {chat: sorted(goal_codes) for chat, goal_codes in found.items()}


def timeline(session: Session, workspace: Workspace, conversation_id: str) -> ConversationDetail:
    """The conversation and what happened in it, in time order."""
    chat = session.get(Conversation, (workspace.id, conversation_id))
    if chat is None:
        raise ConversationNotFound(conversation_id)
    ws = workspace.id
    path = session.get(ConversationPath, (ws, conversation_id))
    refs = [uuid.UUID(hex=ref) for ref in chat.event_refs.split(",") if ref]
    entries: list[EventEntry | StepEntry | OutcomeEntry | CycleEntry] = []
    if refs:
        events = session.scalars(select(Event).where(Event.workspace_id == ws, Event.id.in_(refs)))
        entries += [
            EventEntry(at=e.timestamp, name=e.name, event_id=e.event_id, properties=e.properties)
            for e in events
        ]
    executed = session.scalars(
        select(ExecutedStep).where(
            ExecutedStep.workspace_id == ws, ExecutedStep.conversation_id == conversation_id
        )
    ).all()
    labels = StepLabels(session, ws, {step.step_id for step in executed})
    entries += [
        StepEntry(
            at=step.executed_at,
            step_id=step.step_id,
            label=labels.of(step.step_id, step.flow_id),
            position=step.position,
            parent=step.parent_step_id,
        )
        for step in executed
    ]
    own = Outcome.event_ref.in_(refs) if refs else literal(False)
    credited = and_(Outcome.contact_id == chat.contact_id, Outcome.conversation_id == conversation_id)
    outcomes = session.scalars(
        select(Outcome).where(Outcome.workspace_id == ws, or_(own, credited) if chat.contact_id else own)
    )
    entries += [
        OutcomeEntry(
            at=o.occurred_at,
            goal=o.goal_code,
            kind=o.kind.value,
            value=o.value,
            currency=o.currency,
            base_value=o.base_value,
            base_currency=o.base_currency,
            base_value_source=o.base_value_source,
            fx_rate=o.fx_rate,
            fx_date=o.fx_date,
            attribution=o.attribution.value,
            credited=o.conversation_id == conversation_id,
        )
        for o in outcomes
    ]
    codes = dict(session.execute(select(Goal.id, Goal.code).where(Goal.workspace_id == ws)).all())
    cycles = session.scalars(
        select(GoalCycle).where(GoalCycle.workspace_id == ws, GoalCycle.conversation_id == conversation_id)
    )
    entries += [
        CycleEntry(
            at=c.started_at,
            goal=codes.get(c.goal_id, ""),
            state=c.state.value,
            steps_reached=c.steps_reached,
            ended_at=c.ended_at,
        )
        for c in cycles
    ]
    order = {"event": 0, "step": 1, "outcome": 2, "cycle": 3}
    entries.sort(key=lambda entry: (entry.at, order[entry.type]))
    return ConversationDetail(
        id=chat.id,
        started_at=chat.started_at,
        last_activity_at=chat.last_activity_at,
        ended_at=chat.ended_at,
        contact_id=chat.contact_id,
        flow_id=chat.flow_id,
        events=chat.events,
        steps=path.steps if path is not None else 0,
        timeline=entries,
    )
