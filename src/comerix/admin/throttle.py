"""Sign-in rate limiting: after too many attempts for one email or from one address, wait.

Attempts are kept in the database (`sign_in_attempts`, one row per attempt and key), so every process
of the service, on every node, counts the same attempts, and a restart forgets none. Each attempt is
counted before its password is checked, in a short transaction of its own committed at once, so that
parallel guesses see each other while the slow verification runs; it is given back when it succeeds,
and a success also clears the email's count. Rows older than the window go as new attempts come:
an attempt deletes its own keys' old rows, and at most `PRUNE_BATCH` of the others'.
A key is stored as its SHA-256, so that every key has one length and no NUL character (which
PostgreSQL refuses in text) reaches the database. It is not a privacy measure: the hash is unsalted,
and an email is easy to guess and check against it.

Race safety: an attempt's rows are written before its keys are counted, in one transaction, and the
attempt is refused (rolled back) when a count exceeds its limit. SQLite has one writer at a time, so
those counts see every attempt written before; PostgreSQL first takes a transaction-scoped advisory
lock on each key, so that two attempts on one key count one after the other. Every statement on a
key's rows runs under its lock (a success's too), so attempts on different keys touch no common rows,
except through the prune of others' old rows, which skips rows another transaction has locked
(`FOR UPDATE SKIP LOCKED`) and comes last: it never waits, so it cannot deadlock.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from comerix.admin.errors import TooManySignInAttempts
from comerix.admin.models import AttemptKey, SignInAttempt
from comerix.db import Database, new_id

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
# How many old rows of other keys an attempt deletes at most: more than the two it adds, so the table
# never holds much beyond the window's attempts, and few enough to cost an attempt little.
PRUNE_BATCH = 100


@dataclass(frozen=True)
class Attempt:
    """An attempt counted by `LoginThrottle.attempt`, to give back with `succeeded`."""

    email: str
    address: str
    address_row: uuid.UUID


class LoginThrottle:
    def __init__(
        self,
        database: Database,
        *,
        window: timedelta = WINDOW,
        per_email: int = MAX_FAILURES_PER_EMAIL,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self._database = database
        self._window = window
        self._limits = {AttemptKey.EMAIL: per_email, AttemptKey.ADDRESS: per_address}

    def attempt(self, email: str, address: str, now: datetime) -> Attempt:
        """Count a sign-in attempt as a failure before the password is checked, or raise
        `TooManySignInAttempts` (counting nothing) when either key has used up its failures."""
        keys = {AttemptKey.EMAIL: _digest(email.strip().lower()), AttemptKey.ADDRESS: _digest(address)}
        ids = {kind: new_id() for kind in keys}
        cutoff = now - self._window
        with self._database.transaction() as session:
            self._lock(session, keys)
            rows = [
                {"id": ids[kind], "kind": kind, "key": key, "attempted_at": now} for kind, key in keys.items()
            ]
            session.execute(insert(SignInAttempt), rows)
            wait = max(self._wait(session, kind, key, now) for kind, key in keys.items())
            if wait > 0:
                raise TooManySignInAttempts(retry_after=wait)  # rolls the rows back
            for kind, key in keys.items():
                session.execute(
                    delete(SignInAttempt).where(
                        SignInAttempt.kind == kind,
                        SignInAttempt.key == key,
                        SignInAttempt.attempted_at <= cutoff,
                    )
                )
            # Others' old rows, a few at a time, skipping any another attempt holds (PostgreSQL;
            # SQLite has no row locks, and one writer at a time): this waits for no one.
            stale = (
                select(SignInAttempt.id)
                .where(SignInAttempt.attempted_at <= cutoff)
                .limit(PRUNE_BATCH)
                .with_for_update(skip_locked=True)
            )
            session.execute(delete(SignInAttempt).where(SignInAttempt.id.in_(stale)))
        return Attempt(keys[AttemptKey.EMAIL], keys[AttemptKey.ADDRESS], ids[AttemptKey.ADDRESS])

    def succeeded(self, attempt: Attempt) -> None:
        """`attempt` succeeded: its email starts afresh, and its address gets it back."""
        with self._database.transaction() as session:
            self._lock(session, {AttemptKey.EMAIL: attempt.email, AttemptKey.ADDRESS: attempt.address})
            session.execute(
                delete(SignInAttempt).where(
                    SignInAttempt.kind == AttemptKey.EMAIL, SignInAttempt.key == attempt.email
                )
            )
            session.execute(delete(SignInAttempt).where(SignInAttempt.id == attempt.address_row))

    def _lock(self, session: Session, keys: dict[AttemptKey, str]) -> None:
        """PostgreSQL: take each key's advisory lock for the transaction, always in one order (no
        deadlock), so that statements on one key's rows run one transaction after another."""
        if self._database.backend == "postgresql":
            for kind, key in sorted(keys.items()):
                session.execute(select(func.pg_advisory_xact_lock(_lock_id(kind, key))))

    def _wait(self, session: Session, kind: AttemptKey, key: str, now: datetime) -> int:
        """Seconds until `key` may try again (0: now), its attempt just written included."""
        count, oldest = session.execute(
            select(func.count(), func.min(SignInAttempt.attempted_at)).where(
                SignInAttempt.kind == kind,
                SignInAttempt.key == key,
                SignInAttempt.attempted_at > now - self._window,
            )
        ).one()
        if count <= self._limits[kind] or oldest is None:
            return 0
        return max(1, int((oldest + self._window - now).total_seconds()))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _lock_id(kind: AttemptKey, key: str) -> int:
    """A key as a PostgreSQL advisory lock's 64-bit id (two keys sharing one only wait for each other)."""
    digest = hashlib.blake2b(f"{kind}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
