"""Users, personal access tokens and Engine API keys: creating them, and turning a bearer into a principal.

The admin API accepts only personal access tokens and the Engine API only Engine keys: a credential of
the other kind is refused as if it were unknown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from comerix.auth import credentials
from comerix.auth.credentials import CredentialKind
from comerix.auth.errors import InvalidCredential, PermissionDenied, UserEmailTaken, UserNotFound
from comerix.auth.models import EngineKey, EngineKeyKind, PersonalAccessToken, User
from comerix.auth.passwords import hash_password
from comerix.auth.roles import Permission, Role, permissions_of
from comerix.auth.schemas import EngineKeyCreate, TokenCreate, UserCreate
from comerix.db.constraints import insert


@dataclass(frozen=True)
class Principal:
    """A signed-in user of the admin side: who they are, their workspace, and what they may do."""

    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: Role

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.role)

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(permission)


@dataclass(frozen=True)
class EngineClient:
    """A caller of the Engine API: a workspace, through a public or a secret key."""

    workspace_id: uuid.UUID
    key_id: uuid.UUID
    kind: EngineKeyKind


def principal_of(user: User) -> Principal:
    return Principal(workspace_id=user.workspace_id, user_id=user.id, email=user.email, role=user.role)


def create_user(session: Session, workspace_id: uuid.UUID, data: UserCreate, *, now: datetime) -> User:
    user = User(
        workspace_id=workspace_id,
        email=data.email,
        role=data.role,
        password_hash=hash_password(data.password),
        created_at=now,
    )
    insert(session, user, {"uq_users_workspace_id_email": lambda: UserEmailTaken(data.email)})
    return user


def get_user_by_email(session: Session, workspace_id: uuid.UUID, email: str) -> User:
    user = session.scalar(
        select(User).where(User.workspace_id == workspace_id, User.email == email.strip().lower())
    )
    if user is None:
        raise UserNotFound(email)
    return user


def create_token(session: Session, user: User, data: TokenCreate, *, now: datetime) -> str:
    """A new personal access token for `user`; the returned token is never shown again."""
    token, token_hash = credentials.issue(CredentialKind.PERSONAL_ACCESS_TOKEN, user.workspace_id)
    session.add(
        PersonalAccessToken(
            workspace_id=user.workspace_id,
            user_id=user.id,
            name=data.name,
            token_hash=token_hash,
            hint=credentials.hint(token),
            created_at=now,
        )
    )
    session.flush()
    return token


def create_engine_key(
    session: Session, workspace_id: uuid.UUID, data: EngineKeyCreate, *, now: datetime
) -> str:
    """A new Engine API key; the returned key is never shown again."""
    kind = CredentialKind.PUBLIC_KEY if data.kind is EngineKeyKind.PUBLIC else CredentialKind.SECRET_KEY
    key, key_hash = credentials.issue(kind, workspace_id)
    session.add(
        EngineKey(
            workspace_id=workspace_id,
            kind=data.kind,
            name=data.name,
            key_hash=key_hash,
            hint=credentials.hint(key),
            created_at=now,
        )
    )
    session.flush()
    return key


def authenticate_token(session: Session, bearer: str) -> Principal:
    """The principal behind a personal access token, or `InvalidCredential`."""
    parsed = credentials.parse(bearer)
    if parsed is None or parsed.kind is not CredentialKind.PERSONAL_ACCESS_TOKEN:
        raise InvalidCredential("the token is not a valid personal access token")
    user = session.scalar(
        select(User)
        .join(
            PersonalAccessToken,
            (PersonalAccessToken.workspace_id == User.workspace_id)
            & (PersonalAccessToken.user_id == User.id),
        )
        .where(
            PersonalAccessToken.workspace_id == parsed.workspace_id,
            PersonalAccessToken.token_hash == parsed.digest,
            PersonalAccessToken.revoked_at.is_(None),
        )
    )
    if user is None:
        raise InvalidCredential("the token is not a valid personal access token")
    return principal_of(user)


def authenticate_engine_key(session: Session, bearer: str) -> EngineClient:
    """The client behind an Engine API key, or `InvalidCredential`."""
    parsed = credentials.parse(bearer)
    if parsed is None or parsed.kind not in (CredentialKind.PUBLIC_KEY, CredentialKind.SECRET_KEY):
        raise InvalidCredential("the key is not a valid Engine API key")
    key = session.scalar(
        select(EngineKey).where(
            EngineKey.workspace_id == parsed.workspace_id,
            EngineKey.key_hash == parsed.digest,
            EngineKey.revoked_at.is_(None),
        )
    )
    if key is None:
        raise InvalidCredential("the key is not a valid Engine API key")
    return EngineClient(workspace_id=key.workspace_id, key_id=key.id, kind=key.kind)
