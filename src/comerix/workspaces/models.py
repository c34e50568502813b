"""The `workspaces` table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base
from comerix.db.types import UTCDateTime, new_id


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120))
    base_currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped with every change to the workspace's goals, so every process can tell its goal index is stale.
    goals_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
