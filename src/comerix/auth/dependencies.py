"""FastAPI dependencies that authenticate the caller and check permissions, server-side, per route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from comerix.auth import service
from comerix.auth.errors import InvalidCredential
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.http import DbSession


def bearer_credential(request: Request) -> str:
    """The credential of `Authorization: Bearer …`, or `InvalidCredential`."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise InvalidCredential()
    return credential.strip()


def current_principal(
    request: Request, session: DbSession, credential: Annotated[str, Depends(bearer_credential)]
) -> Principal:
    principal = service.authenticate_token(session, credential)
    noted_use(request, principal)
    return principal


def noted_use(request: Request, principal: Principal) -> None:
    """Note the use of the token `principal` signed in with, for its "last used" (`auth.usage`)."""
    if principal.token_id is not None:
        uses = request.app.state.credential_uses
        uses.used(principal.workspace_id, principal.token_id, request.app.state.clock.now())


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency that lets the request through only with `permission`."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(permission)
        return principal

    return dependency
