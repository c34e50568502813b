"""Domain errors and the one registry that turns them into HTTP answers.

A domain raises a subclass of one of the categories below (`NotFound`, `Conflict`, `Invalid`, ...),
carrying its data; it never speaks HTTP. `status_for` maps a category to its status code, and every
error leaves the service in one shape: `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one input field. `index` is the item's position in a batch, if any."""

    field: str
    message: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        problem: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.index is not None:
            problem = {"index": self.index, **problem}
        return problem


class DomainError(Exception):
    """Base of every error a client may cause. `code` is stable; `message` is for people."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Invalid(DomainError):
    """Input that is well-formed but breaks a rule; `details` lists every problem found."""

    code = "validation_failed"

    @classmethod
    def of(cls, problems: list[FieldProblem], message: str | None = None) -> Invalid:
        if message is None:
            first = problems[0]
            message = f"{first.field}: {first.message}"
            if len(problems) > 1:
                message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        return cls(message, [problem.as_dict() for problem in problems])


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class Malformed(DomainError):
    """A request that cannot even be read, such as a body that is not JSON."""

    code = "malformed_request"


class TooLarge(DomainError):
    code = "payload_too_large"


class TooManyRequests(DomainError):
    """Too many attempts in a short time; `retry_after` says, in seconds, when to try again."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, [{"retry_after": retry_after}])
        self.retry_after = retry_after


class Unavailable(DomainError):
    """The service cannot do this now, through no fault of the request, and did not apply it;
    `retry_after` says, in seconds, when to try again."""

    code = "unavailable"
    retry_after: int = 5

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details or [{"retry_after": self.retry_after}])


_STATUS_BY_CATEGORY: dict[type[DomainError], int] = {
    Malformed: 400,
    TooLarge: 413,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyRequests: 429,
    Unavailable: 503,
}


def status_for(error: DomainError) -> int:
    """The HTTP status of an error: that of the nearest category it derives from."""
    for klass in type(error).__mro__:
        if klass in _STATUS_BY_CATEGORY:
            return _STATUS_BY_CATEGORY[klass]
    return 400


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one error shape of the HTTP API."""
    return {"error": {"code": code, "message": message, "details": details or []}}


_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field here",
}


def problems_from_pydantic(errors: Sequence[Any]) -> list[FieldProblem]:
    """Pydantic's (or FastAPI's) errors as field problems: dotted field names with list indices in
    brackets (`steps[2].key`), plain messages."""
    problems = []
    for error in errors:
        loc = [part for part in error["loc"] if part != "[key]"]
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        # A list index is an int; an object's key is always a string, even when it spells a number.
        field_name = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" if index else str(part)
            for index, part in enumerate(loc)
        )
        field_name = field_name or "body"
        message = _MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        problems.append(FieldProblem(field_name, message[:1].lower() + message[1:]))
    return problems


ModelT = TypeVar("ModelT", bound=BaseModel)


def validated(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """`model` built from `data`, or `Invalid` listing every problem by field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid.of(problems_from_pydantic(exc.errors())) from None
