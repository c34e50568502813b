"""The rates stored (SPEC §11): the ECB's quotes imported since the shipped history, each workspace's
own rates and their audit trail, and the revision that tells a process its rate book is stale."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base
from comerix.db.types import ExactDecimal, UTCDateTime, new_id


class ReferenceRate(Base):
    """An ECB quote imported with `comerix rates import`: units of `currency` per euro on `day`. It wins
    over the shipped history's quote of that day."""

    __tablename__ = "reference_rates"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    per_euro: Mapped[Decimal] = mapped_column(ExactDecimal())
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkspaceRate(Base):
    """A rate an admin set for the workspace: units of `currency` one unit of its base currency buys
    on `day`. It wins over the reference rates."""

    __tablename__ = "workspace_rates"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    per_base: Mapped[Decimal] = mapped_column(ExactDecimal())
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RateRevision(Base):
    """Moved on with every change to the rates a workspace converts with (its own, or reference rates
    imported), so every process can tell its rate book is stale. No row: revision 0."""

    __tablename__ = "rate_revisions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class RateChange(Base):
    """The audit trail of a workspace's own rates: one row per rate added, changed or removed, with who
    did it and when (`before` null for an addition, `after` null for a removal)."""

    __tablename__ = "rate_changes"
    __table_args__ = (Index(None, "workspace_id", "at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    currency: Mapped[str] = mapped_column(String(3))
    day: Mapped[date] = mapped_column(Date)
    before: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    after: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    actor_email: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
