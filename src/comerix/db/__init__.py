"""Storage: the declarative base, shared column types, the engine and session factory, migrations.

Nothing here imports a domain; domains import from here.
"""

from comerix.db.base import Base, WorkspaceScoped
from comerix.db.engine import Database
from comerix.db.types import new_id

__all__ = ["Base", "Database", "WorkspaceScoped", "new_id"]
