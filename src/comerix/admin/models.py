"""The `sign_in_attempts` table: what the sign-in throttle (`admin.throttle`) counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base
from comerix.db.types import UTCDateTime, new_id, text_enum


class AttemptKey(StrEnum):
    """What an attempt is counted against: the email it tried, or the address it came from."""

    EMAIL = "email"
    ADDRESS = "address"


class SignInAttempt(Base):
    """One sign-in attempt counted against one key (an attempt is two rows: its email's and its
    address's), until it succeeds or ages out of the throttle's window. `key` is the SHA-256 of the
    email (trimmed, lower case) or the address. Not scoped to a workspace: an attempt comes before
    anyone knows whose it is."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index(None, "kind", "key", "attempted_at"),  # counting a key's attempts in the window
        Index(None, "attempted_at"),  # pruning those older than the window
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[AttemptKey] = mapped_column(text_enum(AttemptKey, "sign_in_attempt_key"))
    key: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
