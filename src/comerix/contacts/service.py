"""A contact's profile, and erasing a contact (SPEC §7). Every query is scoped to one workspace.

Erasure deletes what identifies the person (their events, their conversations, their profile row) but
keeps their outcomes, stripped of the contact and the conversation, so report counts and revenue stay
correct. Nothing here commits: the request that calls it owns the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Delete, Update

from comerix.analytics.models import ConversationMark
from comerix.contacts.errors import ContactNotFound
from comerix.contacts.schemas import Amount, ContactConversation, ContactGoal, ContactProfile, ErasureResult
from comerix.conversions.models import Outcome
from comerix.goals.models import Goal
from comerix.telemetry.models import Contact, Conversation, Event

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
    )


def erase(session: Session, workspace_id: uuid.UUID, contact_id: str) -> ErasureResult:
    """Delete the contact's events, conversations and profile; keep their outcomes, anonymised.

    A contact of whom nothing at all is found (never seen, or already erased) is `ContactNotFound`.
    """
    # Their chats go too, with every event and outcome that points into them: widget events sent before
    # the person was identified carry the conversation but no contact.
    chats = (
        select(Conversation.id)
        .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
        .scalar_subquery()
    )
    outcomes = _affected(
        session,
        update(Outcome)
        .where(
            Outcome.workspace_id == workspace_id,
            or_(Outcome.contact_id == contact_id, Outcome.conversation_id.in_(chats)),
        )
        .values(contact_id=None, conversation_id=None),
    )
    events = _affected(
        session,
        delete(Event).where(
            Event.workspace_id == workspace_id,
            or_(Event.contact_id == contact_id, Event.conversation_id.in_(chats)),
        ),
    )
    session.execute(  # which goals credited the erased chats: gone with them; the counts stay
        delete(ConversationMark).where(
            ConversationMark.workspace_id == workspace_id, ConversationMark.conversation_id.in_(chats)
        )
    )
    conversations = _affected(
        session,
        delete(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id
        ),
    )
    profile = _affected(
        session, delete(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
    )
    if not (outcomes or events or conversations or profile):
        raise ContactNotFound(contact_id)
    return ErasureResult(
        contact_id=contact_id,
        events_deleted=events,
        conversations_deleted=conversations,
        outcomes_anonymised=outcomes,
    )


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
