"""Credentials: personal access tokens (admin API, OData), Engine API keys (public, secret) and the
session cookies of the admin pages.

A credential reads `cx_<kind>_<workspace id, 32 hex>_<secret>`. The workspace part lets the server find
the row by `(workspace_id, hash)`, like every other look-up; the kind part keeps the admin API and the
Engine API apart. Only the SHA-256 of the whole credential is stored: the secret carries 256 random bits,
so a fast hash is safe, and the credential itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum


class CredentialKind(StrEnum):
    PERSONAL_ACCESS_TOKEN = "pat"  # noqa: S105 - names of kinds, not secrets
    PUBLIC_KEY = "pub"
    SECRET_KEY = "sec"  # noqa: S105
    SESSION = "ses"  # the cookie of a signed-in browser (admin pages)


@dataclass(frozen=True)
class ParsedCredential:
    kind: CredentialKind
    workspace_id: uuid.UUID
    digest: str


def issue(kind: CredentialKind, workspace_id: uuid.UUID) -> tuple[str, str]:
    """A new credential and the digest to store for it."""
    credential = f"cx_{kind.value}_{workspace_id.hex}_{secrets.token_urlsafe(32)}"
    return credential, digest(credential)


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def hint(credential: str) -> str:
    """What may be shown of a credential after creation: its kind and the last characters."""
    kind = credential.split("_", 2)[1]
    return f"cx_{kind}_…{credential[-4:]}"


def parse(credential: str) -> ParsedCredential | None:
    """The kind, workspace and digest of a well-formed credential; None for anything else."""
    parts = credential.split("_", 3)
    if len(parts) != 4 or parts[0] != "cx" or len(parts[2]) != 32 or not parts[3]:
        return None
    try:
        kind = CredentialKind(parts[1])
        workspace_id = uuid.UUID(hex=parts[2])
    except ValueError:
        return None
    return ParsedCredential(kind=kind, workspace_id=workspace_id, digest=digest(credential))
