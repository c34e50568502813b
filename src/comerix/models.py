"""Every table of the service, gathered so Alembic and the tests see the whole schema."""

from comerix.auth.models import EngineKey, PersonalAccessToken, User
from comerix.db.base import Base
from comerix.goals.models import Goal, GoalRevision
from comerix.workspaces.models import Workspace

metadata = Base.metadata

__all__ = ["EngineKey", "Goal", "GoalRevision", "PersonalAccessToken", "User", "Workspace", "metadata"]
