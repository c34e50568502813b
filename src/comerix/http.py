"""HTTP glue shared by every router: the per-request transaction, the clock, and the error handlers.

The request owns the transaction: `db_session` commits after the endpoint returns and before the
response is sent (FastAPI's `scope="function"`), so a 2xx always means the change is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from comerix.db import Database
from comerix.errors import DomainError, FieldProblem, error_body, problems_from_pydantic, status_for

log = logging.getLogger(__name__)


def _db_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with database.sessions() as session, session.begin():
        yield session


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


DbSession = Annotated[Session, Depends(_db_session, scope="function")]
Now = Annotated[datetime, Depends(_now)]


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if status_for(exc) == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_for(exc), headers=headers)


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


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal_error", "the server failed; the request was not applied"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves in the one shape `{"error": {"code", "message", "details"}}`."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
