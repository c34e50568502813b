"""Password hashing with Argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# Verified when no user has the email given at sign-in, so an unknown email costs as much as a wrong password.
_UNUSABLE_HASH = _hasher.hash("comerix: no user has this password")


def spend_verification() -> None:
    verify_password(_UNUSABLE_HASH, "")


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
