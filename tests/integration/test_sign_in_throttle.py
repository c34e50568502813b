"""The sign-in throttle, kept in the database, on each backend: attempts are counted before the
password is checked, per email and address, by every process alike, and kept across restarts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from comerix.admin import throttle as throttle_module
from comerix.admin.errors import TooManySignInAttempts
from comerix.admin.models import AttemptKey, SignInAttempt
from comerix.admin.throttle import LoginThrottle
from comerix.db import Database, new_id

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_attempts_in_flight_count_before_their_passwords_are_checked(db: Database) -> None:
    throttle = LoginThrottle(db, per_email=5, per_address=20)
    for _ in range(5):  # five guesses started together, none answered yet
        throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts) as refused:
        throttle.attempt("A@shop.example ", "10.0.0.2", NOW)
    assert refused.value.retry_after == 15 * 60


def test_the_address_limit_holds_across_emails(db: Database) -> None:
    throttle = LoginThrottle(db, per_email=5, per_address=3)
    for number in range(3):
        throttle.attempt(f"user{number}@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts):
        throttle.attempt("someone@shop.example", "10.0.0.1", NOW)
    throttle.attempt("someone@shop.example", "10.0.0.9", NOW)  # another address is not held back


def test_a_success_gives_the_attempt_back_and_clears_the_email(db: Database) -> None:
    throttle = LoginThrottle(db, per_email=2, per_address=2)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    second = throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(seconds=1))
    throttle.succeeded(second)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(seconds=2))
    with pytest.raises(TooManySignInAttempts):
        throttle.attempt("b@shop.example", "10.0.0.1", NOW + timedelta(seconds=3))


def test_failures_older_than_the_window_are_forgotten_and_pruned(db: Database) -> None:
    throttle = LoginThrottle(db, per_email=1, per_address=10)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts) as refused:
        throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(minutes=14))
    assert refused.value.retry_after == 60
    throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(minutes=15))
    with db.transaction() as session:
        stored = session.execute(select(func.min(SignInAttempt.attempted_at), func.count())).one()
    assert stored == (NOW + timedelta(minutes=15), 2)  # the first attempt's rows went


def test_a_new_throttle_on_the_same_database_remembers_the_attempts(db: Database) -> None:
    """As a restarted process, or a second node, would see them."""
    for _ in range(5):
        LoginThrottle(db).attempt("a@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts):
        LoginThrottle(db).attempt("a@shop.example", "10.0.0.2", NOW)


def test_parallel_attempts_never_pass_the_limit(db: Database) -> None:
    """Twelve guesses at once on one email, each counted in a transaction of its own: exactly five pass."""
    throttle = LoginThrottle(db, per_email=5, per_address=100)
    start = threading.Barrier(12)
    outcomes: list[bool] = []

    def guess(number: int) -> None:
        start.wait()
        try:
            throttle.attempt("a@shop.example", f"10.0.0.{number}", NOW)
        except TooManySignInAttempts:
            outcomes.append(False)
        else:
            outcomes.append(True)

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == [False] * 7 + [True] * 5


def store_old_attempts(db: Database, count: int) -> None:
    """`count` attempts of other clients, older than the window."""
    old = NOW - timedelta(hours=1)
    rows = [
        {"id": new_id(), "kind": AttemptKey.EMAIL, "key": f"{n:064x}", "attempted_at": old}
        for n in range(count)
    ]
    with db.transaction() as session:
        session.execute(insert(SignInAttempt), rows)


def old_rows(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(SignInAttempt.attempted_at <= NOW - timedelta(minutes=15))
            )
            or 0
        )


def test_an_attempt_prunes_its_own_keys_and_a_bounded_few_of_the_others(db: Database) -> None:
    """Each attempt deletes its keys' rows that aged out, and at most `PRUNE_BATCH` of the others':
    never a statement over every old row, which parallel attempts would all contend for."""
    throttle = LoginThrottle(db)
    for minutes in (60, 50, 40):
        throttle.attempt("a@shop.example", "10.0.0.1", NOW - timedelta(minutes=minutes))
    others = throttle_module.PRUNE_BATCH + 50
    store_old_attempts(db, others)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    assert old_rows(db) == others - throttle_module.PRUNE_BATCH  # its own six went, and a batch
    throttle.attempt("b@shop.example", "10.0.0.2", NOW)
    assert old_rows(db) == 0


def test_an_attempt_never_waits_for_old_rows_another_transaction_holds(db: Database) -> None:
    """The prune of others' rows skips those another transaction has locked (a concurrent attempt's
    prune): it neither waits for them nor deadlocks with it."""
    if db.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing to skip")
    store_old_attempts(db, 10)
    ended: list[bool] = []
    with db.engine.connect() as other, other.begin():
        other.execute(select(SignInAttempt.id).with_for_update())  # every old row, locked
        attempt = threading.Thread(
            target=lambda: (
                LoginThrottle(db).attempt("a@shop.example", "10.0.0.1", NOW),
                ended.append(True),
            )
        )
        attempt.start()
        attempt.join(timeout=5)
        ended_while_locked = bool(ended)  # an attempt that waited for the rows ends after the lock
    attempt.join(timeout=30)
    assert ended_while_locked, "the attempt waited for the locked rows"
    assert old_rows(db) == 10  # locked, so left for a later attempt
