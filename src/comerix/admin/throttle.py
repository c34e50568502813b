"""Sign-in rate limiting: after too many failures for one email or from one address, wait.

Failures are counted in memory, per process, over a sliding window: enough against password guessing
through the form of a single-process service (`comerix serve`), with nothing to set up. Each attempt is
counted before its password is checked and given back when it succeeds; a success also clears the
email's count.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

from comerix.admin.errors import TooManySignInAttempts

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20


class LoginThrottle:
    def __init__(
        self,
        *,
        window: timedelta = WINDOW,
        per_email: int = MAX_FAILURES_PER_EMAIL,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
    ) -> None:
        self._window = window
        self._limits = {"email": per_email, "address": per_address}
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def attempt(self, email: str, address: str, now: datetime) -> None:
        """Count a sign-in attempt as a failure before the password is checked, or raise
        `TooManySignInAttempts` when either key has used up its failures. Counting first, under the
        lock, means parallel guesses cannot all pass the check while the slow verification runs."""
        keys = (("email", email.strip().lower()), ("address", address))
        with self._lock:
            wait = max(self._wait(key, now) for key in keys)
            if wait > 0:
                raise TooManySignInAttempts(retry_after=wait)
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, email: str, address: str, attempted_at: datetime) -> None:
        """The attempt counted at `attempted_at` succeeded: the email starts afresh, and the address
        gets that attempt back."""
        with self._lock:
            self._failures.pop(("email", email.strip().lower()), None)
            failures = self._failures.get(("address", address))
            if failures is not None and attempted_at in failures:
                failures.remove(attempted_at)

    def _wait(self, key: tuple[str, str], now: datetime) -> int:
        """Seconds until `key` may try again (0: now). Drops failures older than the window."""
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0
        if len(failures) < self._limits[key[0]]:
            return 0
        return max(1, int((failures[0] + self._window - now).total_seconds()))
