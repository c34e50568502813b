"""The Conversation Explorer's JSON API (SPEC §10): the conversation list and a conversation's timeline,
for designers and analysts (`comerix.insights.telemetry`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from comerix.analytics import conversations
from comerix.analytics.schemas import ConversationDetail, ConversationsPage
from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession
from comerix.workspaces import service as workspaces

router = APIRouter(
    prefix="/api/v1/conversations", tags=["conversations"], responses=errors(400, 401, 403, 422)
)
Designer = Annotated[Principal, Depends(require(Permission.TELEMETRY))]
Param = Annotated[str | None, Query()]


@router.get("", response_model=ConversationsPage)
def list_conversations(
    session: DbSession,
    principal: Designer,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, inclusive")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    flow: Param = None,
    contact: Param = None,
    contains_step: Annotated[str | None, Query(description="a step id the conversation executed")] = None,
    goal: Annotated[str | None, Query(description="a goal code credited to the conversation")] = None,
    converting: Annotated[str | None, Query(description="true: credited with a conversion")] = None,
    cursor: Annotated[str | None, Query(description="the `next` of the page before")] = None,
) -> ConversationsPage:
    """The conversations started in a range of local days, newest first, 50 a page."""
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    params = {
        "from": from_,
        "to": to,
        "flow": flow,
        "contact": contact,
        "contains_step": contains_step,
        "goal": goal,
        "converting": converting,
        "cursor": cursor,
    }
    query = conversations.parse_query(session, workspace, params)
    return conversations.conversations(session, workspace, query)


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=errors(404))
def get_conversation(session: DbSession, principal: Designer, conversation_id: str) -> ConversationDetail:
    """A conversation and its timeline: events, executed steps, outcomes and goal cycles, in time order."""
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    return conversations.timeline(session, workspace, conversation_id)
