"""HTTP glue shared by every router: the per-request transaction, the clock, and the error handlers.

The request owns the transaction: `db_session` commits after the endpoint returns and before the
response is sent (FastAPI's `scope="function"`), so a 2xx always means the change is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from comerix.db import Database
from comerix.db.availability import DATABASE_ERRORS, unavailable
from comerix.errors import DomainError, FieldProblem, error_body, problems_from_pydantic, status_for

log = logging.getLogger(__name__)


def _db_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with database.sessions() as session, session.begin():
        yield session


async def _now(request: Request) -> datetime:
    # async: FastAPI runs a plain function dependency on a worker thread, a hand-off (and a wait for the
    # interpreter lock) on every request for what is one call
    now: datetime = request.app.state.clock.now()
    return now


class RejectNulCharacters:
    """ASGI middleware: a NUL character in the path or the query string is a 400 before any route runs.
    No identifier, name or filter of this service may hold one, and PostgreSQL refuses them in text,
    so they would otherwise surface deep in a query as a server error.

    Paths under an `answers_itself` prefix are left alone: the OData feed refuses NUL characters in
    its own error shape (a bad query, or no such entity), which its clients expect."""

    def __init__(self, app: ASGIApp, answers_itself: tuple[str, ...] = ()) -> None:
        self.app = app
        self.answers_itself = answers_itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (
                "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]
            )
            and not scope["path"].startswith(self.answers_itself)
        ):
            body = error_body("malformed_request", "the address holds a NUL character (%00)")
            await JSONResponse(body, 400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


PageRenderer = Callable[[Request, Exception, int], Response | None]
"""Renders an error as a web page when the request came from one (the admin pages); None otherwise."""

DbSession = Annotated[Session, Depends(_db_session, scope="function")]
Now = Annotated[datetime, Depends(_now)]


def unavailable_headers(retry_after: int) -> dict[str, str]:
    """The headers of a 503: when to try again, and that this connection ends here. A server error
    that leaves a keep-alive connection open is followed by uvicorn closing it without a word, and the
    client's next request on it fails with a reset: it could not tell what became of that one."""
    return {"Retry-After": str(retry_after), "Connection": "close"}


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if getattr(exc, "retry_after", None) is not None:
        headers = {"Retry-After": str(exc.retry_after)}  # type: ignore[attr-defined]
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return JSONResponse(error_body("malformed_json", "the request body is not valid JSON"), 400)
    problems = problems_from_pydantic(errors)
    return _invalid(problems)


def _invalid(problems: list[FieldProblem]) -> JSONResponse:
    message = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
    details = [problem.as_dict() for problem in problems]
    return JSONResponse(error_body("validation_failed", message, details), 422)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), exc.status_code, headers=_http_headers(request, exc)
    )


def _http_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """The headers of an HTTP error; a 405's `Allow` names every method of the resource (RFC 9110).
    Starlette names only those of the first route that matched: `GET /api/v1/goals`, hiding its POST.
    The resource is the path template that matched first, as in routing: `/api/v1/goals/preview`
    (POST), not `/api/v1/goals/{goal_id}` (GET, PATCH), which its address also fits."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        path = request.url.path  # the routes' own paths: the service is not mounted under a root path
        template: str | None = None
        methods: set[str] = set()
        for route in iter_route_contexts(request.app.router.routes):
            regex = getattr(route, "path_regex", None)
            refuses = getattr(route.endpoint, "refuses_methods", False)
            if not route.methods or regex is None or refuses or not regex.match(path):
                continue
            template = template or route.path
            if route.path == template:
                methods |= route.methods
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    return headers


EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


def refuses_methods(endpoint: EndpointT) -> EndpointT:
    """Marks an endpoint that only answers 405 for its methods (the read-only OData feed, in its own
    error shape): a router's 405 on the same path must not name those methods in `Allow`."""
    endpoint.refuses_methods = True  # type: ignore[attr-defined]
    return endpoint


def _unexpected_error(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("internal_error", "the server failed; the request was not applied"), 500)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A storage failure (`db.availability`) is a 503 to try again; any other database error a 500."""
    storage = unavailable(exc)
    return _domain_error(request, storage) if storage is not None else _unexpected_error(request, exc)


def _client_gone(_request: Request, _exc: Exception) -> Response:
    """The client hung up, or was cut off (`server`), before its body was in: nobody hears an answer."""
    return Response(status_code=400)


def install_error_handlers(app: FastAPI, pages: PageRenderer | None = None) -> None:
    """Every error of the API leaves in the one shape `{"error": {"code", "message", "details"}}`;
    an error met by a web page is shown as a page instead, when `pages` renders it."""

    def handler(
        json_handler: Callable[[Request, Exception], JSONResponse],
        status: Callable[[Exception], int],
        *,
        unexpected: bool = False,
    ) -> Callable[[Request, Exception], Response]:
        def handle(request: Request, exc: Exception) -> Response:
            if isinstance(exc, DATABASE_ERRORS):
                exc = unavailable(exc) or exc
            code = status(exc)
            if unexpected or code == 500:
                log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
            page = pages(request, exc, code) if pages is not None else None
            if page is not None and isinstance(exc, StarletteHTTPException):
                page.headers.update(_http_headers(request, exc))  # a page's 405 says `Allow` too
            response = page if page is not None else json_handler(request, exc)
            if code >= 500:  # see `unavailable_headers`
                response.headers["Connection"] = "close"
            return response

        return handle

    def domain_status(exc: Exception) -> int:
        return status_for(exc) if isinstance(exc, DomainError) else 500

    def http_status(exc: Exception) -> int:
        return exc.status_code if isinstance(exc, StarletteHTTPException) else 500

    app.add_exception_handler(DomainError, handler(_domain_error, domain_status))
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, handler(_database_error, domain_status))
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(RequestValidationError, handler(_validation_error, lambda _exc: 422))
    app.add_exception_handler(StarletteHTTPException, handler(_http_error, http_status))
    app.add_exception_handler(Exception, handler(_unexpected_error, lambda _exc: 500, unexpected=True))
