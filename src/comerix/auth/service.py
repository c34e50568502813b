"""Users, personal access tokens and Engine API keys: creating, listing, changing and revoking them, and
turning a bearer into a principal.

The admin API accepts only personal access tokens and the Engine API only Engine keys: a credential of
the other kind is refused as if it were unknown. Every look-up by id is scoped to the caller's
workspace: another workspace's user, token or key is "not found", never touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, true
from sqlalchemy.orm import Session

from comerix.auth import credentials, usage
from comerix.auth.credentials import CredentialKind
from comerix.auth.errors import (
    EngineKeyNotFound,
    InvalidCredential,
    OwnAccountProtected,
    PermissionDenied,
    TokenNotFound,
    UserEmailTaken,
    UserIdNotFound,
    UserNotFound,
)
from comerix.auth.models import (
    AdminSession,
    CredentialUse,
    EngineKey,
    EngineKeyKind,
    PersonalAccessToken,
    User,
)
from comerix.auth.passwords import hash_password, verify_password
from comerix.auth.roles import Permission, Role, permissions_of
from comerix.auth.schemas import (
    EngineKeyCreate,
    EngineKeyRead,
    PasswordChange,
    TokenCreate,
    TokenRead,
    UserCreate,
    UserRead,
)
from comerix.db.constraints import insert
from comerix.errors import FieldProblem, Invalid


@dataclass(frozen=True)
class Principal:
    """A signed-in user of the admin side: who they are, their workspace, and what they may do."""

    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: Role
    token_id: uuid.UUID | None = None  # signed in with a personal access token: which

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
    found = session.execute(
        select(User, PersonalAccessToken.id)
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
    ).first()
    if found is None:
        raise InvalidCredential("the token is not a valid personal access token")
    user, token_id = found
    return replace(principal_of(user), token_id=token_id)


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


def list_users(session: Session, workspace_id: uuid.UUID) -> list[UserRead]:
    """The workspace's users, oldest first."""
    users = session.scalars(
        select(User).where(User.workspace_id == workspace_id).order_by(User.created_at, User.email)
    )
    return [UserRead.model_validate(user) for user in users]


def get_user_or_raise(session: Session, workspace_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = session.scalar(select(User).where(User.workspace_id == workspace_id, User.id == user_id))
    if user is None:
        raise UserIdNotFound(user_id)
    return user


def change_password(
    session: Session, user: User, data: PasswordChange, *, keep_session: uuid.UUID | None = None
) -> int:
    """Give `user` the new password of `data` once its current one is right, and end the user's other
    browser sessions (someone who knew the old password may be signed in); the one that asked stays.
    Personal access tokens are not passwords: they stay until revoked. `Invalid` naming the field;
    the number of sessions ended."""
    if not verify_password(user.password_hash, data.current_password):
        raise Invalid.of([FieldProblem("current_password", "is not your current password")])
    if data.confirm_password != data.new_password:
        raise Invalid.of([FieldProblem("confirm_password", "does not match the new password")])
    user.password_hash = hash_password(data.new_password)
    others = delete(AdminSession).where(
        AdminSession.workspace_id == user.workspace_id,
        AdminSession.user_id == user.id,
        AdminSession.id != keep_session if keep_session is not None else true(),
    )
    return cast("CursorResult[Any]", session.execute(others)).rowcount


def set_role(session: Session, actor: Principal, user_id: uuid.UUID, role: Role) -> User:
    """Give a user of the actor's workspace another role. It applies from the user's next request, on
    every open session and token alike, because both read the role per request: their sessions are left
    open on purpose (ending them would only sign the person out). An admin cannot change their own role."""
    user = get_user_or_raise(session, actor.workspace_id, user_id)
    if user.id == actor.user_id and role is not user.role:
        raise OwnAccountProtected("role")
    user.role = role
    session.flush()
    return user


def remove_user(session: Session, actor: Principal, user_id: uuid.UUID) -> UserRead:
    """Remove a user of the actor's workspace: their sessions end and their tokens are deleted with
    them, so neither opens anything from this request on. The goals' audit trail keeps the email of what
    they did and lets go of the id as the user is deleted (`goals.models._forget_removed_actors`). An
    admin cannot remove themselves. Returns who was removed."""
    user = get_user_or_raise(session, actor.workspace_id, user_id)
    if user.id == actor.user_id:
        raise OwnAccountProtected("user")
    removed = UserRead.model_validate(user)
    mine = {"workspace_id": user.workspace_id, "user_id": user.id}
    session.execute(delete(AdminSession).filter_by(**mine))
    tokens = select(PersonalAccessToken.id).filter_by(**mine)
    session.execute(
        delete(CredentialUse).where(
            CredentialUse.workspace_id == user.workspace_id, CredentialUse.id.in_(tokens)
        )
    )
    session.execute(delete(PersonalAccessToken).filter_by(**mine))
    session.delete(user)
    session.flush()
    return removed


def list_tokens(
    session: Session, workspace_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> list[TokenRead]:
    """The workspace's personal access tokens (or one user's), newest first, revoked ones included."""
    query = (
        select(PersonalAccessToken, User.email)
        .join(
            User,
            (User.workspace_id == PersonalAccessToken.workspace_id)
            & (User.id == PersonalAccessToken.user_id),
        )
        .where(PersonalAccessToken.workspace_id == workspace_id)
        .order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id)
    )
    if user_id is not None:
        query = query.where(PersonalAccessToken.user_id == user_id)
    found = session.execute(query).all()
    used = usage.last_used(session, workspace_id, (token.id for token, _ in found))
    return [
        TokenRead(
            id=token.id,
            user_id=token.user_id,
            user_email=email,
            name=token.name,
            hint=token.hint,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
            last_used_at=used.get(token.id),
        )
        for token, email in found
    ]


def get_token_or_raise(
    session: Session, workspace_id: uuid.UUID, token_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> PersonalAccessToken:
    """A token of the workspace (and, given `user_id`, of that user only), or `TokenNotFound`."""
    query = select(PersonalAccessToken).where(
        PersonalAccessToken.workspace_id == workspace_id, PersonalAccessToken.id == token_id
    )
    if user_id is not None:
        query = query.where(PersonalAccessToken.user_id == user_id)
    token = session.scalar(query)
    if token is None:
        raise TokenNotFound(token_id)
    return token


def revoke_token(
    session: Session,
    workspace_id: uuid.UUID,
    token_id: uuid.UUID,
    *,
    now: datetime,
    user_id: uuid.UUID | None = None,
) -> PersonalAccessToken:
    """Revoke a token of the workspace (given `user_id`, of that user only): it opens nothing from this
    request on (tokens are checked against the database on every request). Revoking twice changes nothing."""
    token = get_token_or_raise(session, workspace_id, token_id, user_id=user_id)
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
    return token


def list_engine_keys(session: Session, workspace_id: uuid.UUID) -> list[EngineKeyRead]:
    """The workspace's Engine API keys, newest first, revoked ones included."""
    keys = session.scalars(
        select(EngineKey)
        .where(EngineKey.workspace_id == workspace_id)
        .order_by(EngineKey.created_at.desc(), EngineKey.id)
    ).all()
    used = usage.last_used(session, workspace_id, (key.id for key in keys))
    return [
        EngineKeyRead.model_validate(key).model_copy(update={"last_used_at": used.get(key.id)})
        for key in keys
    ]


def get_engine_key_or_raise(session: Session, workspace_id: uuid.UUID, key_id: uuid.UUID) -> EngineKey:
    key = session.scalar(
        select(EngineKey).where(EngineKey.workspace_id == workspace_id, EngineKey.id == key_id)
    )
    if key is None:
        raise EngineKeyNotFound(key_id)
    return key


def revoke_engine_key(
    session: Session, workspace_id: uuid.UUID, key_id: uuid.UUID, *, now: datetime
) -> EngineKey:
    """Revoke an Engine API key of the workspace in the database. A process that remembers keys must
    also forget it (`telemetry.engine_auth.EngineKeyCache.forget_after_commit`). Revoking twice changes
    nothing."""
    key = get_engine_key_or_raise(session, workspace_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
    return key
