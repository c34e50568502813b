"""Creating workspaces, finding them, and reading and changing their analytics settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.workspaces.errors import WorkspaceAmbiguous, WorkspaceNotFound
from comerix.workspaces.models import Workspace
from comerix.workspaces.schemas import AnalyticsSettings, WorkspaceCreate

RebuildRollups = Callable[[Session, uuid.UUID, str], None]
"""Recomputes a workspace's rollups in the days of a time zone: `analytics.rollups.rebuild`, which the
caller passes in because analytics sits above workspaces in the dependency order."""


def create(session: Session, data: WorkspaceCreate, *, now: datetime) -> Workspace:
    workspace = Workspace(
        name=data.name, base_currency=data.base_currency, timezone=data.timezone, created_at=now
    )
    session.add(workspace)
    session.flush()
    return workspace


def get_or_raise(session: Session, workspace_id: uuid.UUID) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise WorkspaceNotFound(str(workspace_id))
    return workspace


def find(session: Session, reference: str) -> Workspace:
    """The workspace whose id is `reference`, or else the one workspace with that exact name."""
    try:
        workspace = session.get(Workspace, uuid.UUID(reference))
    except ValueError:
        workspace = None
    if workspace is not None:
        return workspace
    named = session.scalars(select(Workspace).where(Workspace.name == reference).limit(2)).all()
    if not named:
        raise WorkspaceNotFound(reference)
    if len(named) > 1:
        raise WorkspaceAmbiguous(reference)
    return named[0]


def any_exists(session: Session) -> bool:
    return session.scalar(select(Workspace.id).limit(1)) is not None


def get_analytics_settings(workspace: Workspace) -> AnalyticsSettings:
    return AnalyticsSettings(base_currency=workspace.base_currency, timezone=workspace.timezone)


def update_analytics_settings(
    session: Session, workspace: Workspace, data: AnalyticsSettings, *, rebuild_rollups: RebuildRollups
) -> AnalyticsSettings:
    """Change the base currency (for outcomes recorded from now on) and the reporting time zone (the
    rollups are recomputed in the new zone's days by `rebuild_rollups`, in this transaction)."""
    zone_changed = workspace.timezone != data.timezone
    workspace.base_currency = data.base_currency
    workspace.timezone = data.timezone
    if zone_changed:
        session.flush()
        rebuild_rollups(session, workspace.id, data.timezone)
    return get_analytics_settings(workspace)
