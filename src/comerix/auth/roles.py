"""Roles and the permissions they grant. The permission names are part of the product's contract."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    GOALS_MANAGE = "comerix.insights.goals.manage"
    TELEMETRY = "comerix.insights.telemetry"
    ANALYTICS_VIEW = "comerix.insights.analytics.view"
    CONTACTS_MANAGE = "comerix.contacts.manage"
    SETTINGS_MANAGE = "comerix.settings.manage"


class Role(StrEnum):
    ADMIN = "admin"
    DESIGNER = "designer"
    ANALYST = "analyst"
    VIEWER = "viewer"


PERMISSIONS_BY_ROLE: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DESIGNER: frozenset({Permission.GOALS_MANAGE, Permission.TELEMETRY, Permission.ANALYTICS_VIEW}),
    Role.ANALYST: frozenset({Permission.TELEMETRY, Permission.ANALYTICS_VIEW}),
    Role.VIEWER: frozenset({Permission.ANALYTICS_VIEW}),
}


def permissions_of(role: Role) -> frozenset[Permission]:
    return PERMISSIONS_BY_ROLE[role]
