"""Errors of the auth domain."""

from __future__ import annotations

from comerix.auth.roles import Permission
from comerix.errors import Conflict, Forbidden, NotFound, Unauthenticated


class InvalidCredential(Unauthenticated):
    code = "unauthenticated"

    def __init__(self, reason: str = "a valid bearer token is required (Authorization: Bearer …)") -> None:
        super().__init__(reason)


class PermissionDenied(Forbidden):
    code = "permission_denied"

    def __init__(self, permission: Permission) -> None:
        super().__init__(f"this needs the permission {permission.value}", [{"permission": permission.value}])
        self.permission = permission


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, email: str) -> None:
        super().__init__(f"no user {email!r} in this workspace")
        self.email = email


class UserEmailTaken(Conflict):
    code = "user_email_taken"

    def __init__(self, email: str) -> None:
        super().__init__(
            f"a user {email!r} already exists in this workspace",
            [{"field": "email", "message": "is already taken in this workspace"}],
        )
        self.email = email
