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


ROLE_SUMMARIES = {
    Role.ADMIN: "Everything, including these settings: users and roles, keys and tokens, analytics settings.",
    Role.DESIGNER: "Designs goals and checks them against real events; reads the Analytics Hub.",
    Role.ANALYST: "Explores the raw events and reads the Analytics Hub; cannot change goals.",
    Role.VIEWER: "Reads the Analytics Hub, its OData feed and exports.",
}
PERMISSION_SUMMARIES = {
    Permission.GOALS_MANAGE: "view, create, edit and pause goals",
    Permission.TELEMETRY: "use the Event Explorer",
    Permission.ANALYTICS_VIEW: "view the Analytics Hub, the OData feed and exports",
    Permission.CONTACTS_MANAGE: "view and erase contact profiles",
    Permission.SETTINGS_MANAGE: "change workspace settings, users and keys",
}
"""What each permission lets a user do, in words: the pages say this, and the code beside it."""


def roles_with(permission: Permission) -> list[Role]:
    """The roles that grant `permission`, the narrowest first (so a 403 names the least it takes)."""
    granting = [role for role in Role if permission in PERMISSIONS_BY_ROLE[role]]
    return sorted(granting, key=lambda role: len(PERMISSIONS_BY_ROLE[role]))
