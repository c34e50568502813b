"""The sign-in throttle: attempts are counted before the password is checked, per email and address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from comerix.admin.errors import TooManySignInAttempts
from comerix.admin.throttle import LoginThrottle

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_attempts_in_flight_count_before_their_passwords_are_checked() -> None:
    throttle = LoginThrottle(per_email=5, per_address=20)
    for _ in range(5):  # five guesses started together, none answered yet
        throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts) as refused:
        throttle.attempt("A@shop.example ", "10.0.0.2", NOW)
    assert refused.value.retry_after == 15 * 60


def test_the_address_limit_holds_across_emails() -> None:
    throttle = LoginThrottle(per_email=5, per_address=3)
    for number in range(3):
        throttle.attempt(f"user{number}@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts):
        throttle.attempt("someone@shop.example", "10.0.0.1", NOW)
    throttle.attempt("someone@shop.example", "10.0.0.9", NOW)  # another address is not held back


def test_a_success_gives_the_attempt_back_and_clears_the_email() -> None:
    throttle = LoginThrottle(per_email=2, per_address=2)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(seconds=1))
    throttle.succeeded("a@shop.example", "10.0.0.1", NOW + timedelta(seconds=1))
    throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(seconds=2))
    with pytest.raises(TooManySignInAttempts):
        throttle.attempt("b@shop.example", "10.0.0.1", NOW + timedelta(seconds=3))


def test_failures_older_than_the_window_are_forgotten() -> None:
    throttle = LoginThrottle(per_email=1, per_address=10)
    throttle.attempt("a@shop.example", "10.0.0.1", NOW)
    with pytest.raises(TooManySignInAttempts) as refused:
        throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(minutes=14))
    assert refused.value.retry_after == 60
    throttle.attempt("a@shop.example", "10.0.0.1", NOW + timedelta(minutes=15))
