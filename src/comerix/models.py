"""Every table of the service, gathered so Alembic and the tests see the whole schema."""

from comerix.admin.models import SignInAttempt
from comerix.analytics.models import (
    ConversationGoalRollup,
    ConversationMark,
    ConversationRollup,
    OutcomeDaySeries,
    OutcomeMonthRollup,
    OutcomeRollup,
)
from comerix.auth.models import AdminSession, EngineKey, PersonalAccessToken, User
from comerix.conversions.models import Outcome
from comerix.db.availability import StorageProbe
from comerix.db.base import Base
from comerix.goals.models import Goal, GoalRevision
from comerix.rates.models import RateChange, RateRevision, ReferenceRate, WorkspaceRate
from comerix.telemetry.models import Contact, Conversation, Event, EventNameDay, EventPropertyKey
from comerix.workspaces.models import Workspace

metadata = Base.metadata

__all__ = [
    "AdminSession",
    "Contact",
    "Conversation",
    "ConversationGoalRollup",
    "ConversationMark",
    "ConversationRollup",
    "EngineKey",
    "Event",
    "EventNameDay",
    "EventPropertyKey",
    "Goal",
    "GoalRevision",
    "Outcome",
    "OutcomeDaySeries",
    "OutcomeMonthRollup",
    "OutcomeRollup",
    "PersonalAccessToken",
    "RateChange",
    "RateRevision",
    "ReferenceRate",
    "SignInAttempt",
    "StorageProbe",
    "User",
    "Workspace",
    "WorkspaceRate",
    "metadata",
]
