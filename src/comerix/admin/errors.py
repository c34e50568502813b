"""Errors of the admin pages."""

from __future__ import annotations

from comerix.errors import Forbidden, TooManyRequests, Unauthenticated


class SignInRequired(Unauthenticated):
    """No valid session: the page redirects to the sign-in form, then back to `next_path`."""

    code = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("please sign in")
        self.next_path = next_path


class CsrfRejected(Forbidden):
    code = "csrf_rejected"

    def __init__(self) -> None:
        super().__init__(
            "the form's security token is missing or out of date; reload the page and send it again"
        )


class TooManySignInAttempts(TooManyRequests):
    code = "too_many_sign_in_attempts"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"too many failed sign-in attempts; try again in {minutes} minute{'s' if minutes > 1 else ''}",
            retry_after=retry_after,
        )
