"""Input shapes of users, tokens and keys."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from comerix.auth.models import EngineKeyKind
from comerix.auth.passwords import MIN_PASSWORD_LENGTH
from comerix.auth.roles import Role
from comerix.text import no_nul

# Deliberately loose: one @, something on each side, a dot in the domain. Mail delivery is the real test.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(check_email)]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(no_nul)
]


Password = Annotated[
    str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=1024), AfterValidator(no_nul)
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: Role
    password: Password


class PasswordChange(BaseModel):
    """A user's own new password, given with the current one; typed twice, as forms ask."""

    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Password
    confirm_password: Annotated[str, StringConstraints(max_length=1024)] = ""


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Label = "personal access token"


class EngineKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: EngineKeyKind
    name: Label = "engine key"


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime


class TokenRead(BaseModel):
    """A personal access token as it may be shown after creation: its hint, never the token."""

    id: uuid.UUID
    user_id: uuid.UUID
    user_email: str
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        default=None, description="when it was last used, up to a minute late; null: never"
    )


class EngineKeyRead(BaseModel):
    """An Engine API key as it may be shown after creation: its hint, never the key."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: EngineKeyKind
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        default=None, description="when it was last used, up to a minute late; null: never"
    )
