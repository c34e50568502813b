"""The Conversation Explorer (SPEC §10): the conversations of a range of local days, newest first, with
their events, steps, the goals credited to them and their path of steps; and one conversation's
timeline of events, executed steps, outcomes and goal cycles.

- The list reads `conversations` by their start (an index, newest first) joined to their path of steps
  (`conversation_paths`); "contains step" looks into the path's distinct steps, as
  `analytics.contains_step` says how on each backend; "goal" and "converting" into the conversation's
  marks (`conversation_marks`, written when an outcome credits it). A page is 50 conversations; its
  cursor is the last one's start and id, so pages never skip or repeat one while new conversations
  arrive.
- The timeline reads a conversation's events by the row ids it keeps (its first thousand or so: see
  `Conversation.event_refs`), its executed steps and cycles by conversation, and its outcomes: those of
  its events, and those credited to it by the window rule (a sale reported later with the contact).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    exists,
    literal,
    or_,
    outerjoin,
    select,
)
from sqlalchemy.orm import Session

from comerix.analytics.contains_step import (
    Plan,
    holding_paths,
    lookup_settings,
    plan_for,
    step_weight,
    text_condition,
)
from comerix.analytics.models import ConversationMark
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


def conversations(session: Session, workspace: Workspace, query: ConversationQuery) -> ConversationsPage:
    """A page of the conversations the query selects, newest first."""
    chats, paths, lookup = _chats, _paths.__table__, False
    source: FromClause = _JOINED
    if (step := query.contains_step) is not None:
        on_postgresql = session.get_bind().dialect.name == "postgresql"
        weight = step_weight(
            session, workspace.id, step, query.start, query.end, started=on_postgresql, flow=query.flow
        )
        plan = plan_for(weight, PAGE)
        if plan is Plan.NONE:
            return ConversationsPage(conversations=[], next=None)
        if on_postgresql:  # else the paths' text is searched (`_conditions`)
            paths, source = holding_paths(workspace.id, step, plan)
            lookup = plan is Plan.LOOKUP
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
    with lookup_settings(session) if lookup else nullcontext():
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
        found.append(text_condition(query.contains_step))
    marked = and_(marks.workspace_id == workspace_id, marks.conversation_id == chats.id)
    if query.goal is not None:
        found.append(exists().where(marked, marks.goal_id == query.goal.hex))
    if query.converting:
        found.append(exists().where(marked, marks.conversion.is_(True)))
    return found


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
