"""The HTTP API's own description: `/openapi.json` and the API reference at `/docs`.

- Every error an operation can answer is listed with the one error shape (`errors(...)`, given to
  FastAPI's `responses=`), so a client generated from the document knows all of them. Every
  operation needs storage, which may be unavailable: a 503 (with `Retry-After`) is added to each that
  does not list its own (the OData feed lists it in OData's shape).
- Request bodies that a view reads itself (the Engine API's) are described by schemas it hands over;
  they join the document's components, where their `$ref`s point.
- Who may call what: a personal access token (the admin API, OData) or an Engine key (`/events`,
  `/conversions`), as security schemes, so the reference's "Authorize" button and tools know.
- `/docs` is Swagger UI served from the package (`admin/static/vendor/swagger-ui`): the service loads
  nothing from the internet, and the page's Content-Security-Policy says so to the browser. ReDoc,
  which only a CDN would serve, is off.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

STATIC = "/admin/static"
SWAGGER_UI = f"{STATIC}/vendor/swagger-ui"

_DESCRIPTIONS = {
    400: "The request cannot be read: a body that is not JSON, or a NUL character in the address",
    401: "No valid credential: see `WWW-Authenticate`",
    403: "The credential may not do this",
    404: "No such resource in the caller's workspace",
    409: "Conflicts with what is stored, such as a goal code already taken",
    413: "The body is larger than 1 MiB",
    422: "Well-formed but invalid: `details` names each field (and, in a batch, its `index`)",
    429: "Too many attempts: try again after `Retry-After` seconds",
    503: "Storage is unavailable now: try again after `Retry-After` seconds. A write was not stored, or "
    "(a failure during the commit) is not known to be: send it again with the same ids (`event_id`), "
    "as what was stored is recognised as a duplicate",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {"description": "The scheme to authenticate with", "schema": {"type": "string"}}
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


class ErrorDetail(BaseModel):
    """What went wrong, for programs (`code`, stable) and for people (`message`)."""

    model_config = ConfigDict(title="ErrorDetail")

    code: str = Field(examples=["validation_failed"])
    message: str
    details: list[dict[str, Any]] = Field(
        description="For invalid input, one entry per problem: `field`, `message`, and `index` in a batch"
    )


class ErrorResponse(BaseModel):
    """The one shape of every error the HTTP API answers (the OData feed has OData's own)."""

    model_config = ConfigDict(title="Error")

    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of an operation that can answer `statuses`, each in the one error shape."""
    return {status: response(status, ErrorResponse) for status in statuses}


def response(status: int, model: type[BaseModel] | None, description: str | None = None) -> dict[str, Any]:
    """One entry of `responses=`: the model (if any), a description and the headers the status carries."""
    entry: dict[str, Any] = {"description": description or _DESCRIPTIONS[status]}
    if model is not None:
        entry["model"] = model
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]
    return entry


SECURITY_SCHEMES = {
    "personalAccessToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token (Settings → API keys & tokens): the admin API and OData",
    },
    "engineKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An Engine API key: a public key sends events; a secret key also sends conversions",
    },
}
# Which credential each part of the API takes, by path prefix; the first that matches wins.
_SECURITY_BY_PREFIX = (
    ("/events", "engineKey"),
    ("/conversions", "engineKey"),
    ("/api/", "personalAccessToken"),
    ("/odata/", "personalAccessToken"),
)


def install(app: FastAPI, *, schemas: Mapping[str, dict[str, Any]]) -> None:
    """Complete `app`'s OpenAPI document with `schemas` and the security schemes, and serve `/docs`.
    The app must be created with `docs_url=None, redoc_url=None`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(schemas)
            components["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in document["paths"].items():
                scheme = next((s for prefix, s in _SECURITY_BY_PREFIX if path.startswith(prefix)), None)
                for operation in operations.values():
                    operation["security"] = [{scheme: []}] if scheme else []
                    _drop_fastapi_422(operation["responses"])
                    operation["responses"].setdefault("503", _UNAVAILABLE)
            for name in ("HTTPValidationError", "ValidationError"):
                components["schemas"].pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title}: API reference",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon.svg",
        oauth2_redirect_url=None,
        # No badge that would send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    headers = {"Content-Security-Policy": docs_policy(bytes(page.body).decode()), "Cache-Control": "no-store"}

    @app.get("/docs", include_in_schema=False)
    def docs(_request: Request) -> HTMLResponse:
        return HTMLResponse(page.body, headers=headers | {"X-Content-Type-Options": "nosniff"})


# What `errors(503)` documents, for the operations that do not list it themselves.
_UNAVAILABLE = {
    "description": _DESCRIPTIONS[503],
    "headers": _RETRY_AFTER,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def _drop_fastapi_422(responses: dict[str, Any]) -> None:
    """FastAPI documents a 422 in its own shape (`HTTPValidationError`) where an operation lists none;
    no answer of this service has that shape: the API's 422s are in the one error shape (listed with
    `errors(422)`), and the OData feed answers 400 in OData's."""
    if "HTTPValidationError" in str(responses.get("422", "")):
        del responses["422"]


def docs_policy(html: str) -> str:
    """The API reference's Content-Security-Policy: everything from the service itself, and the one
    inline script that starts Swagger UI, allowed by its hash (no 'unsafe-inline')."""
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in inline
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
