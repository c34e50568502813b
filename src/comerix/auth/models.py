"""The `users`, `personal_access_tokens`, `engine_keys` and `admin_sessions` tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from comerix.auth.roles import Role
from comerix.db.base import Base, WorkspaceScoped
from comerix.db.types import JSONDocument, UTCDateTime, text_enum


class EngineKeyKind(StrEnum):
    """A public key may be embedded in the chat widget and only sends events; a secret key also
    sends server-side conversions and stays on the shop's backend."""

    PUBLIC = "public"
    SECRET = "secret"  # noqa: S105 - a kind of key, not a password


class User(WorkspaceScoped, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        Index(None, "email"),  # sign-in looks a user up by email alone
    )

    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonalAccessToken(WorkspaceScoped, Base):
    __tablename__ = "personal_access_tokens"
    __table_args__ = (
        UniqueConstraint("workspace_id", "token_hash"),
        ForeignKeyConstraint(["workspace_id", "user_id"], ["users.workspace_id", "users.id"]),
    )

    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EngineKey(WorkspaceScoped, Base):
    __tablename__ = "engine_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "key_hash"),)

    kind: Mapped[EngineKeyKind] = mapped_column(text_enum(EngineKeyKind, "engine_key_kind"))
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AdminSession(WorkspaceScoped, Base):
    """A signed-in browser. The cookie holds the credential; only its SHA-256 is stored, like a token's.
    `flash` is the one-time message the next page shows (post-redirect-get)."""

    __tablename__ = "admin_sessions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "token_hash"),
        ForeignKeyConstraint(["workspace_id", "user_id"], ["users.workspace_id", "users.id"]),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    flash: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class CredentialUse(WorkspaceScoped, Base):
    """When an Engine API key or a personal access token (`id`: its id) was last used. Kept apart from
    the credentials' own rows, which are read on every request: this one is written, at most once a
    minute per serving process (`auth.usage`)."""

    __tablename__ = "credential_uses"

    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
