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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import Enum

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
chat looked up by key, sorted), in chats walked past newest first (docs/benchmarks.md, 2026-12-07)."""
# The one statement of a lookup plans only with the index and key look-ups (`_planned`).
_LOOKUP_SETTINGS = ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")


@dataclass(frozen=True)
class StepWeight:
    """What the catalogue counts of a step in a workspace (each chat once, on the UTC day it first
    executed the step; erased chats still counted): all the chats that executed it, those whose first
    execution came on the range's first UTC day or later, and those whose came within the range (a
    day's slack at its end), against the chats the range started."""

    ever: int
    since_start: int
    within: int
    started: int


class Plan(Enum):
    NONE = "none"  # no chat of the range holds the step: nothing to read
    LOOKUP = "lookup"  # the step's paths through their index, their chats by key, sorted
    WALK = "walk"  # the chats newest first, each one's path by key, until a page is full


def plan_for(weight: StepWeight) -> Plan:
    """How PostgreSQL finds the chats holding a step: by what each plan reads. A walk reads about a
    page's worth of chats holding the step, spread among those the range started (all of them when
    none of the range holds it); a lookup reads every path of the workspace holding the step (the
    index cannot tell the range), each costing `LOOKUP_COST` chats walked.

    A chat that started in the range executed its steps after the range began, so with none since
    then no chat of the range holds the step."""
    if weight.since_start == 0:
        return Plan.NONE
    walked = weight.started if weight.within == 0 else PAGE * weight.started / weight.within
    return Plan.LOOKUP if LOOKUP_COST * weight.ever < walked else Plan.WALK


def conversations(session: Session, workspace: Workspace, query: ConversationQuery) -> ConversationsPage:
    """A page of the conversations the query selects, newest first."""
    chats, paths, plan = _chats, _paths.__table__, None
    source: FromClause = _JOINED
    if query.contains_step is not None:
        on_postgresql = session.get_bind().dialect.name == "postgresql"
        plan = plan_for(step_weight(session, workspace.id, query, started=on_postgresql))
        if plan is Plan.NONE:
            return ConversationsPage(conversations=[], next=None)
        if on_postgresql:
            paths, source = _holding_paths(workspace.id, query.contains_step, plan)
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
    for condition in _conditions(query, workspace.id, text_search=source is _JOINED):
        read = read.where(condition)
    with _planned(session, plan is Plan.LOOKUP and source is not _JOINED):
        rows = session.execute(read).all()
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


def _holding_paths(workspace_id: uuid.UUID, step: str, plan: Plan) -> tuple[FromClause, FromClause]:
    """On PostgreSQL, the paths holding `step` joined to their chats, as `plan` reads them. A lookup
    finds them through the GIN index of each path's steps keyed by its workspace
    (`comerix_path_steps`, migration 0018), so a step common in another workspace costs this one
    nothing; a walk reads each chat's path by its key. `OFFSET 0` keeps each subquery planned on its
    own."""
    columns = (_paths.conversation_id, *(_paths.__table__.c[name] for name in _PATH_COLUMNS))
    if plan is Plan.LOOKUP:
        keyed = func.comerix_path_steps(_paths.workspace_id, _paths.seen, type_=JSONB)
        held = keyed.op("@>")(cast(literal(json_text({str(workspace_id): [step]})), JSONB))
        found = select(*columns).where(_paths.workspace_id == workspace_id, held).offset(0).subquery()
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


@contextmanager
def _planned(session: Session, lookup: bool) -> Iterator[None]:
    """For a lookup's one statement, only the plan it is: its settings back as they were after it (an
    error rolls the transaction back, and its settings with it)."""
    if not lookup:
        yield
        return
    for setting in _LOOKUP_SETTINGS:
        session.execute(text(f"SET LOCAL {setting} = off"))
    yield
    for setting in _LOOKUP_SETTINGS:
        session.execute(text(f"SET LOCAL {setting} = DEFAULT"))


def _conditions(
    query: ConversationQuery, workspace_id: uuid.UUID, text_search: bool
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
    if query.contains_step is not None and text_search:
        found.append(_contains_text(query.contains_step))
    marked = and_(marks.workspace_id == workspace_id, marks.conversation_id == chats.id)
    if query.goal is not None:
        found.append(exists().where(marked, marks.goal_id == query.goal.hex))
    if query.converting:
        found.append(exists().where(marked, marks.conversion.is_(True)))
    return found


def step_weight(
    session: Session, workspace_id: uuid.UUID, query: ConversationQuery, started: bool = True
) -> StepWeight:
    """The catalogue's counts of the query's step (`StepWeight`), in one read of the step's rows; and,
    unless `started` is false, the chats the range started, from the conversation rollups."""
    days, first = FlowStepDay, query.start.astimezone(UTC).date()
    last = query.end.astimezone(UTC).date()  # the day after the range's, in UTC: a day's slack
    counts = session.execute(
        select(
            func.coalesce(func.sum(days.conversations), 0),
            func.coalesce(func.sum(case((days.day >= first, days.conversations), else_=0)), 0),
            func.coalesce(func.sum(case((days.day.between(first, last), days.conversations), else_=0)), 0),
        ).where(days.workspace_id == workspace_id, days.step_id == query.contains_step)
    ).one()
    chats: int | None = 0
    if started:
        counted = ConversationRollup
        chats = session.scalar(
            select(func.coalesce(func.sum(counted.conversations), 0)).where(
                counted.workspace_id == workspace_id,
                counted.day >= query.start.date(),
                counted.day < query.end.date(),
            )
        )
    return StepWeight(int(counts[0]), int(counts[1]), int(counts[2]), int(chats or 0))


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
