"""Errors of the auth domain."""

from __future__ import annotations

import uuid

from comerix.auth.roles import Permission
from comerix.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated


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


class UserIdNotFound(NotFound):
    """No user with this id in the workspace (another workspace's user is as unknown as a made-up id)."""

    code = "user_not_found"

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"no user {user_id} in this workspace")
        self.user_id = user_id


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: uuid.UUID) -> None:
        super().__init__(f"no personal access token {token_id} here")
        self.token_id = token_id


class EngineKeyNotFound(NotFound):
    code = "engine_key_not_found"

    def __init__(self, key_id: uuid.UUID) -> None:
        super().__init__(f"no Engine API key {key_id} in this workspace")
        self.key_id = key_id


class OwnAccountProtected(Invalid):
    """An admin may not change their own role or remove themselves: another admin does it, so a
    workspace never loses its last admin by a slip. `field` is `role` or `user`."""

    code = "own_account_protected"

    def __init__(self, field: str) -> None:
        what = "change your own role" if field == "role" else "remove yourself"
        message = f"you cannot {what}: another admin must do it, so the workspace always keeps an admin"
        super().__init__(message, [{"field": field, "message": message}])
        self.field = field
