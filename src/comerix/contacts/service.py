"""A contact's profile, and erasing a contact (SPEC §7). Every query is scoped to one workspace.

Erasure deletes what identifies the person (their events, their conversations, their profile row, the
cycles of multi-step goals in their chats with the steps each reached) but keeps their outcomes, stripped
of the contact and the conversation, so report counts and revenue stay correct; the cycles' counts and
metrics stay in the cycle rollups, which hold no contact. Nothing here commits: the request that calls
it owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, CursorResult, Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Delete, Update

from comerix.analytics import rollups
from comerix.contacts.errors import ContactNotFound
from comerix.contacts.schemas import (
    PROFILE_CYCLES,
    PROFILE_OUTCOMES,
    Amount,
    ContactConversation,
    ContactCycle,
    ContactGoal,
    ContactOutcome,
    ContactProfile,
    ErasureResult,
)
from comerix.conversions.models import GoalCycle, Outcome
from comerix.goals.models import Goal, GoalStep
from comerix.telemetry import explorer
from comerix.telemetry.explorer import EventRead
from comerix.telemetry.models import Contact, Conversation, ConversationPath, Event, ExecutedStepRun
from comerix.text import json_text


@dataclass(frozen=True)
class ContactSeen:
    """A contact in a list: who, and when first and last seen."""

    contact_id: str
    first_seen_at: datetime
    last_seen_at: datetime


# Sums stay exact far beyond the 28 digits of Python's default decimal context.
_SUM_PRECISION = 100


def get_profile(session: Session, workspace_id: uuid.UUID, contact_id: str) -> ContactProfile:
    """The contact's profile. A contact is known by its profile row or, failing that, by its outcomes."""
    contact = session.get(Contact, (workspace_id, contact_id))
    outcomes = _outcomes_of(session, workspace_id, contact_id)
    if contact is None and not outcomes:
        raise ContactNotFound(contact_id)
    first_seen_at, last_seen_at = _seen(contact, outcomes)
    return ContactProfile(
        contact_id=contact_id,
        first_seen_at=first_seen_at,
        last_seen_at=last_seen_at,
        conversations=_conversations_of(session, workspace_id, contact_id),
        goals=_goals_of(session, workspace_id, outcomes),
        outcomes=_newest_outcomes(session, workspace_id, outcomes),
        cycles=_cycles_of(session, workspace_id, _ErasureScope(workspace_id, contact_id)),
    )


def exists(session: Session, workspace_id: uuid.UUID, contact_id: str) -> bool:
    """Whether `get_profile` knows the contact: by its profile row or, failing that, by an outcome."""
    if session.get(Contact, (workspace_id, contact_id)) is not None:
        return True
    query = select(Outcome.id).where(Outcome.workspace_id == workspace_id, Outcome.contact_id == contact_id)
    return session.scalar(query.limit(1)) is not None


def erase(session: Session, workspace_id: uuid.UUID, contact_id: str) -> ErasureResult:
    """Delete the contact's events, conversations, goal cycles and profile; keep their outcomes, anonymised.

    A contact of whom nothing at all is found (never seen, or already erased) is `ContactNotFound`.
    """
    scope = _ErasureScope(workspace_id, contact_id)
    # Ingestion locks a chat before its cycles and outcomes; taking the contact's chats first here too
    # keeps an erasure and a writer on the same chat from waiting on each other in a circle.
    session.execute(
        select(Conversation.id).where(*scope.conversations).order_by(Conversation.id).with_for_update()
    ).all()
    # Then the contact, as ingestion's upsert does after the chats: a new chat being written for them
    # is either committed before this goes on, and erased whole, or written after it, and kept whole.
    # Without it, one committed between the statements below could keep its steps and lose its path.
    session.execute(select(Contact.id).where(*scope.profile).with_for_update()).all()
    outcomes = _affected(
        session, update(Outcome).where(*scope.outcomes).values(contact_id=None, conversation_id=None)
    )
    # The executed steps before the events, through which those in chats not theirs are found.
    _forget_steps(session, scope)
    _affected(session, delete(ConversationPath).where(*scope.paths))
    events = _affected(session, delete(Event).where(*scope.events))
    # The cycles (with the steps they reached) before the chats they are found through.
    cycles = _affected(session, delete(GoalCycle).where(*scope.cycles))
    rollups.forget_conversations(session, workspace_id, scope.chats)
    conversations = _affected(session, delete(Conversation).where(*scope.conversations))
    profile = _affected(session, delete(Contact).where(*scope.profile))
    if not (outcomes or events or cycles or conversations or profile):
        raise ContactNotFound(contact_id)
    return ErasureResult(
        contact_id=contact_id,
        events_deleted=events,
        conversations_deleted=conversations,
        outcomes_anonymised=outcomes,
    )


def erasure_preview(session: Session, workspace_id: uuid.UUID, contact_id: str) -> ErasureResult:
    """What `erase` would delete and anonymise now, counted with the same conditions, changing nothing.

    Like `erase`, a contact of whom nothing is found is `ContactNotFound`.
    """
    scope = _ErasureScope(workspace_id, contact_id)
    outcomes = _count(session, Outcome, scope.outcomes)
    events = _count(session, Event, scope.events)
    conversations = _count(session, Conversation, scope.conversations)
    known = outcomes or events or conversations or _count(session, Contact, scope.profile)
    if not (known or _count(session, GoalCycle, scope.cycles)):
        raise ContactNotFound(contact_id)
    return ErasureResult(
        contact_id=contact_id,
        events_deleted=events,
        conversations_deleted=conversations,
        outcomes_anonymised=outcomes,
    )


class _ErasureScope:
    """The rows erasing a contact touches. Their chats go too, with every event and outcome that points
    into them: widget events sent before the person was identified carry the conversation but no contact.
    Likewise the goal cycles, with the steps they reached: those in their chats, and any naming them;
    and the analytics steps executed in their chats or by their events, with their chats' paths (the
    path rollups and the step catalogue keep their counts)."""

    def __init__(self, workspace_id: uuid.UUID, contact_id: str) -> None:
        self.chats = chats = (
            select(Conversation.id)
            .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
            .scalar_subquery()
        )
        self.outcomes: tuple[ColumnElement[bool], ...] = (
            Outcome.workspace_id == workspace_id,
            or_(Outcome.contact_id == contact_id, Outcome.conversation_id.in_(chats)),
        )
        self.events: tuple[ColumnElement[bool], ...] = (
            Event.workspace_id == workspace_id,
            or_(Event.contact_id == contact_id, Event.conversation_id.in_(chats)),
        )
        # A cycle's contact is its conversation's, or none yet (`GoalCycle`): their chats find all
        # their cycles, by the index on a chat's cycles, which is what the profile lists. Erasure also
        # takes any cycle that names them elsewhere, which ingestion never writes, at the cost of
        # reading the workspace's cycles (`contact_id` has no index: docs/decisions.md).
        self.chats_cycles: tuple[ColumnElement[bool], ...] = (
            GoalCycle.workspace_id == workspace_id,
            GoalCycle.conversation_id.in_(chats),
        )
        self.cycles: tuple[ColumnElement[bool], ...] = (
            GoalCycle.workspace_id == workspace_id,
            or_(GoalCycle.contact_id == contact_id, GoalCycle.conversation_id.in_(chats)),
        )
        theirs = select(Event.id).where(Event.workspace_id == workspace_id, Event.contact_id == contact_id)
        their_chats = select(Event.conversation_id).where(
            Event.workspace_id == workspace_id, Event.contact_id == contact_id
        )
        self.their_events = theirs
        self.step_runs: tuple[ColumnElement[bool], ...] = (
            ExecutedStepRun.workspace_id == workspace_id,
            ExecutedStepRun.conversation_id.in_(chats),
        )
        # with those above gone, the runs that may hold steps of their events in chats not theirs
        self.other_step_runs: tuple[ColumnElement[bool], ...] = (
            ExecutedStepRun.workspace_id == workspace_id,
            ExecutedStepRun.conversation_id.in_(their_chats),
        )
        self.paths: tuple[ColumnElement[bool], ...] = (
            ConversationPath.workspace_id == workspace_id,
            ConversationPath.conversation_id.in_(chats),
        )
        self.conversations: tuple[ColumnElement[bool], ...] = (
            Conversation.workspace_id == workspace_id,
            Conversation.contact_id == contact_id,
        )
        self.profile: tuple[ColumnElement[bool], ...] = (
            Contact.workspace_id == workspace_id,
            Contact.id == contact_id,
        )


def _forget_steps(session: Session, scope: _ErasureScope) -> None:
    """Delete the executed steps in their chats, and those of their events in chats not theirs: each
    such entry of a run becomes null, so the steps around it keep their positions and parents, as a
    row of each would (`ExecutedStepRun`); a run left with none goes."""
    session.execute(delete(ExecutedStepRun).where(*scope.step_runs))
    theirs = set(session.scalars(scope.their_events))
    if not theirs:
        return
    # Locked, newest versions read: two erasures rewriting one run would otherwise undo each other.
    others = (
        select(ExecutedStepRun)
        .where(*scope.other_step_runs)
        .order_by(ExecutedStepRun.conversation_id, ExecutedStepRun.position)
        .with_for_update()
    )
    for run in session.scalars(others):
        steps = orjson.loads(run.steps)
        kept = [None if step is not None and uuid.UUID(step[4]) in theirs else step for step in steps]
        if kept == steps:
            continue
        if any(step is not None for step in kept):
            run.steps = json_text(kept)
        else:
            session.delete(run)
    session.flush()


def _count(session: Session, model: type[Any], where: Sequence[ColumnElement[bool]]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def list_recently_active(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    limit: int = 50,
    prefix: str = "",
    after: tuple[datetime, str] | None = None,
) -> list[ContactSeen]:
    """The workspace's contacts seen most recently first (ties by id), at most `limit`: those whose id
    starts with `prefix`, and that come after `after` (last seen, id) in that order (the next page)."""
    return [
        ContactSeen(contact_id=row.id, first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at)
        for row in session.scalars(recently_active(workspace_id, limit, prefix=prefix, after=after))
    ]


def recently_active(
    workspace_id: uuid.UUID, limit: int, *, prefix: str = "", after: tuple[datetime, str] | None = None
) -> Select[Contact]:
    """The query of `list_recently_active`: it reads the index on (workspace_id, last_seen_at)."""
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    if prefix:
        query = query.where(Contact.id.startswith(prefix, autoescape=True))
    if after is not None:
        seen, contact_id = after
        query = query.where(
            or_(Contact.last_seen_at < seen, and_(Contact.last_seen_at == seen, Contact.id > contact_id))
        )
    return query.order_by(Contact.last_seen_at.desc(), Contact.id).limit(limit)


@dataclass(frozen=True)
class ContactFigures:
    """What a contacts list shows of each: their conversations, the outcomes credited to them (goals
    reached) and their lifetime base value per base currency."""

    conversations: int = 0
    outcomes: int = 0
    base_value: list[Amount] = field(default_factory=list)


def figures_of(
    session: Session, workspace_id: uuid.UUID, contact_ids: Sequence[str]
) -> dict[str, ContactFigures]:
    """`ContactFigures` of each of `contact_ids` (a page of a list), in two grouped reads."""
    if not contact_ids:
        return {}
    chats = dict(
        session.execute(
            select(Conversation.contact_id, func.count())
            .where(Conversation.workspace_id == workspace_id, Conversation.contact_id.in_(contact_ids))
            .group_by(Conversation.contact_id)
        ).all()
    )
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    query = select(Outcome).where(Outcome.workspace_id == workspace_id, Outcome.contact_id.in_(contact_ids))
    for outcome in session.scalars(query):
        assert outcome.contact_id is not None
        outcomes[outcome.contact_id].append(outcome)
    return {
        contact_id: ContactFigures(
            conversations=int(chats.get(contact_id, 0)),
            outcomes=len(outcomes[contact_id]),
            base_value=_base_totals(outcomes[contact_id]),
        )
        for contact_id in contact_ids
    }


def recent_events(
    session: Session, workspace_id: uuid.UUID, contact_id: str, *, limit: int = 20
) -> list[EventRead]:
    """The newest events that name the contact, newest first, at most `limit`."""
    query = (
        select(Event)
        .where(Event.workspace_id == workspace_id, Event.contact_id == contact_id)
        .order_by(Event.timestamp.desc(), Event.id.desc())
        .limit(limit)
    )
    return [explorer.read(row) for row in session.scalars(query)]


def _affected(session: Session, statement: Update | Delete) -> int:
    """How many rows a bulk UPDATE or DELETE touched. The ORM answers these with a CursorResult, which
    its type hints do not say."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount


def _outcomes_of(session: Session, workspace_id: uuid.UUID, contact_id: str) -> list[Outcome]:
    query = select(Outcome).where(Outcome.workspace_id == workspace_id, Outcome.contact_id == contact_id)
    return list(session.scalars(query))


def _seen(contact: Contact | None, outcomes: Sequence[Outcome]) -> tuple[datetime, datetime]:
    """First and last seen: the profile row's, widened by any outcome outside it (or only the outcomes)."""
    times = [outcome.occurred_at for outcome in outcomes]
    if contact is not None:
        times += [contact.first_seen_at, contact.last_seen_at]
    return min(times), max(times)


def _conversations_of(
    session: Session, workspace_id: uuid.UUID, contact_id: str
) -> list[ContactConversation]:
    query = (
        select(Conversation)
        .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
    )
    return [
        ContactConversation(
            id=row.id,
            started_at=row.started_at,
            last_activity_at=row.last_activity_at,
            ended_at=row.ended_at,
            flow_id=row.flow_id,
        )
        for row in session.scalars(query)
    ]


def _cycles_of(session: Session, workspace_id: uuid.UUID, scope: _ErasureScope) -> list[ContactCycle]:
    """The newest cycles of multi-step goals in the contact's chats, newest first."""
    query = (
        select(GoalCycle, Goal.code, Goal.name)
        .join(Goal, and_(Goal.workspace_id == GoalCycle.workspace_id, Goal.id == GoalCycle.goal_id))
        .where(*scope.chats_cycles)
        .order_by(GoalCycle.started_at.desc(), GoalCycle.id.desc())
        .limit(PROFILE_CYCLES)
    )
    rows = session.execute(query).all()
    steps = _steps_of(session, workspace_id, {cycle.goal_id for cycle, _, _ in rows})
    return [_cycle_row(cycle, code, name, steps.get(cycle.goal_id, [])) for cycle, code, name in rows]


def _steps_of(
    session: Session, workspace_id: uuid.UUID, goal_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, int]]]:
    """Each goal's steps as (key, slot), in the goal's current order, retired ones included."""
    if not goal_ids:
        return {}
    query = (
        select(GoalStep.goal_id, GoalStep.key, GoalStep.slot)
        .where(GoalStep.workspace_id == workspace_id, GoalStep.goal_id.in_(goal_ids))
        .order_by(GoalStep.position, GoalStep.slot)
    )
    steps: dict[uuid.UUID, list[tuple[str, int]]] = defaultdict(list)
    for goal_id, key, slot in session.execute(query):
        steps[goal_id].append((key, slot))
    return steps


def _cycle_row(cycle: GoalCycle, code: str, name: str, steps: Sequence[tuple[str, int]]) -> ContactCycle:
    return ContactCycle(
        id=str(cycle.id),
        goal=code,
        name=name,
        conversation_id=cycle.conversation_id,
        flow_id=cycle.flow_id,
        state=cycle.state,
        started_at=cycle.started_at,
        ended_at=cycle.ended_at,
        steps=[key for key, slot in steps if (cycle.reached >> slot) & 1],
        steps_reached=cycle.steps_reached,
        time_saved_seconds=cycle.time_saved_seconds,
        cost_savings=cycle.cost_savings,
        revenue_earned=cycle.revenue_earned,
    )


def _goals_of(session: Session, workspace_id: uuid.UUID, outcomes: Sequence[Outcome]) -> list[ContactGoal]:
    """One row per goal reached, primary goals first, then by name (as the goals list orders them)."""
    by_goal: dict[uuid.UUID, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_goal[outcome.goal_id].append(outcome)
    if not by_goal:
        return []
    query = (
        select(Goal)
        .where(Goal.workspace_id == workspace_id, Goal.id.in_(by_goal))
        .order_by(Goal.is_primary.desc(), Goal.name, Goal.code)
    )
    return [_goal_row(goal, by_goal[goal.id]) for goal in session.scalars(query)]


def _newest_outcomes(
    session: Session, workspace_id: uuid.UUID, outcomes: Sequence[Outcome]
) -> list[ContactOutcome]:
    """The newest `PROFILE_OUTCOMES` outcomes, each with its goal's name."""
    newest = sorted(outcomes, key=lambda o: (o.occurred_at, o.id), reverse=True)[:PROFILE_OUTCOMES]
    goal_ids = {outcome.goal_id for outcome in newest}
    query = select(Goal.id, Goal.name).where(Goal.workspace_id == workspace_id, Goal.id.in_(goal_ids))
    names = dict(session.execute(query).all()) if goal_ids else {}
    return [
        ContactOutcome(
            id=str(o.id),
            goal=o.goal_code,
            name=names.get(o.goal_id, o.goal_code),
            kind=o.kind,
            occurred_at=o.occurred_at,
            value=o.value,
            currency=o.currency,
            base_value=o.base_value,
            base_currency=o.base_currency,
            base_value_source=o.base_value_source,
            fx_rate=o.fx_rate,
            fx_date=o.fx_date,
            value_error=o.value_error,
            attribution=o.attribution,
            conversation_id=o.conversation_id,
            source=o.source,
        )
        for o in newest
    ]


def _goal_row(goal: Goal, outcomes: Sequence[Outcome]) -> ContactGoal:
    times = [outcome.occurred_at for outcome in outcomes]
    return ContactGoal(
        goal=goal.code,
        name=goal.name,
        kind=goal.kind,
        count=len(outcomes),
        first_completed_at=min(times),
        last_completed_at=max(times),
        base_value=_base_totals(outcomes),
    )


def _base_totals(outcomes: Sequence[Outcome]) -> list[Amount]:
    """The outcomes' base values summed per base currency, exactly; outcomes without a value are skipped.

    Summed here, not in SQL: SQLite stores exact decimals as text, and SUM would go through floats.
    """
    totals: dict[str, Decimal] = {}
    with localcontext(prec=_SUM_PRECISION):
        for outcome in outcomes:
            if outcome.base_value is not None and outcome.base_currency is not None:
                totals[outcome.base_currency] = (
                    totals.get(outcome.base_currency, Decimal(0)) + outcome.base_value
                )
    return [Amount(currency=currency, value=value) for currency, value in sorted(totals.items())]
