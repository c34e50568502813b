"""The declarative base, with a naming convention so every constraint has a predictable name.

Every table but `workspaces` is `WorkspaceScoped`: its primary key is `(workspace_id, id)`, so every
unique key, foreign key and query carries the workspace and the data can be sharded by it later.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from comerix.db.types import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkspaceScoped:
    """Mixin: a row that belongs to one workspace, keyed by `(workspace_id, id)`; `id` is time-ordered."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
