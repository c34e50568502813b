"""The OData v4 feed at `/odata/v4` (SPEC §6): service document, `$metadata`, entity sets, `$count`,
entities by key. Read-only; permission `comerix.insights.analytics.view`.

Authentication, for what Excel and Power BI can send: a personal access token as
`Authorization: Bearer <token>`, as the password of `Authorization: Basic` (any user name: Excel's
"Basic" credential), or as `?apikey=<token>` (Power BI's "Web API" credential with
`OData.Feed(url, null, [ApiKeyName="apikey"])`, or a URL pasted as it is). Every answer, `$metadata`
included, needs it. The `@odata.nextLink` of a page keeps the request's query, so an apikey in the URL
stays in every link that follows.

Every answer carries `OData-Version: 4.0`; every error, whatever raised it (authentication, a bad query,
an unknown set or key, unavailable storage: 503 with `Retry-After`), leaves in the OData error shape,
through the routes' own error handling (`ODataRoute`) rather than the service-wide JSON error handler.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from comerix.analytics.odata import metadata, payload, query, service
from comerix.analytics.odata.entities import BY_NAME, EntitySet
from comerix.analytics.odata.errors import EntityNotFound, EntitySetNotFound, ODataQueryError
from comerix.api_docs import response
from comerix.auth.dependencies import noted_use
from comerix.auth.errors import InvalidCredential
from comerix.auth.roles import Permission
from comerix.auth.service import Principal, authenticate_token
from comerix.db.availability import DATABASE_ERRORS, unavailable
from comerix.errors import DomainError, Unavailable, status_for
from comerix.http import DbSession, refuses_methods, unavailable_headers

PREFIX = "/odata/v4"
CHALLENGE = 'Bearer realm="Comerix Insights", Basic realm="Comerix Insights"'
RESOURCE = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>.*)\))?$", re.DOTALL)
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(status: int, code: str, message: str, target: str | None = None) -> Response:
    headers = {"WWW-Authenticate": CHALLENGE} if status == 401 else None
    body = payload.dumps(payload.error(code, message, target))
    return Response(body, status, headers=headers, media_type=payload.media_type(False))


class ODataRoute(APIRoute):
    """A route whose errors answer in the OData shape, and whose answers all say `OData-Version: 4.0`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def odata_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except DATABASE_ERRORS as exc:
                storage = unavailable(exc)
                if storage is None:
                    raise  # a 500, from the service-wide handler
                response = _domain_error(storage)
            except DomainError as exc:
                response = _domain_error(exc)
            except RequestValidationError:
                response = error_response(400, "bad_request", "the request cannot be read")
            except StarletteHTTPException as exc:
                code = HTTP_CODES.get(exc.status_code, "http_error")
                response = error_response(exc.status_code, code, str(exc.detail))
            response.headers["OData-Version"] = "4.0"
            return response

        return odata_handler


def _domain_error(exc: DomainError) -> Response:
    target = exc.option if isinstance(exc, ODataQueryError) else None
    response = error_response(status_for(exc), exc.code, exc.message, target)
    if isinstance(exc, Unavailable):  # storage (`db.availability`): when to try again, on a new connection
        response.headers.update(unavailable_headers(exc.retry_after))
    return response


class ODataErrorDetail(BaseModel):
    code: str
    message: str
    target: str | None = None


class ODataError(BaseModel):
    """The OData error shape (JSON format §21), which every error of the feed answers in."""

    error: ODataErrorDetail


def _answers(media_type: str, description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a feed operation: what it sends on success, and its errors."""
    failures = {
        400: "The query cannot be read (a bad `$filter`, `$orderby`, ...)",
        401: "No valid personal access token (Bearer, Basic's password, or `?apikey=`)",
        403: "The token's user may not view analytics",
        404: "No such entity set or entity",
        503: "Storage is unavailable now: try again after `Retry-After` seconds",
    }
    errors: dict[int | str, dict[str, Any]] = {
        status: response(status, ODataError, text) for status, text in failures.items()
    }
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}, **errors}


_OBJECT = {"type": "object"}
router = APIRouter(prefix=PREFIX, tags=["odata"], route_class=ODataRoute, default_response_class=Response)


def _credential(request: Request) -> str:
    """The token of the Authorization header (Bearer, or Basic's password), else of `?apikey=`."""
    header = request.headers.get("authorization")
    if header is None:
        apikey = request.query_params.get("apikey", "").strip()
        if not apikey:
            raise InvalidCredential(
                "a personal access token is required: Authorization: Bearer <token>, or ?apikey=<token>"
            )
        return apikey
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            credential = base64.b64decode(credential.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            credential = ""
    elif scheme.lower() != "bearer":
        credential = ""
    if not credential.strip():
        raise InvalidCredential()
    return credential.strip()


def analytics_viewer(request: Request, session: DbSession) -> Principal:
    principal = authenticate_token(session, _credential(request))
    noted_use(request, principal)
    principal.require(Permission.ANALYTICS_VIEW)
    return principal


Viewer = Annotated[Principal, Depends(analytics_viewer)]


def _root(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}/"


def _options(request: Request, entity_set: EntitySet) -> query.QueryOptions:
    return query.parse(
        entity_set,
        request.query_params.multi_items(),
        prefer=request.headers.get("prefer"),
        accept=request.headers.get("accept"),
    )


def _json(body: dict[str, Any], options: query.QueryOptions | None = None) -> Response:
    ieee754 = options.ieee754 if options else False
    response = Response(payload.dumps(body, ieee754=ieee754), media_type=payload.media_type(ieee754))
    if options is not None and options.page_size_preferred:
        response.headers["Preference-Applied"] = f"odata.maxpagesize={options.page_size}"
    return response


def _entity_set(name: str) -> EntitySet:
    entity_set = BY_NAME.get(name)
    if entity_set is None:
        raise EntitySetNotFound(name)
    return entity_set


def _key(entity_set: EntitySet, text: str) -> str:
    """The key of `('…')` or `(id='…')`, with OData's doubled quotes undone."""
    literal = text.removeprefix(f"{entity_set.key.name}=")
    if len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
        raise EntityNotFound(entity_set.name, text)
    return literal[1:-1].replace("''", "'")


@router.get("", include_in_schema=False)
@router.get(
    "/",
    summary="The OData service document: the entity sets",
    responses=_answers("application/json", "The entity sets", _OBJECT),
)
def service_document(request: Request, _principal: Viewer) -> Response:
    return _json(payload.service_document(_root(request)))


@router.get(
    "/$metadata",
    summary="The OData metadata document (CSDL XML)",
    responses=_answers(metadata.MEDIA_TYPE, "The CSDL document", {"type": "string"}),
)
def metadata_document(_principal: Viewer) -> Response:
    return Response(metadata.document(), media_type=metadata.MEDIA_TYPE)


@router.get(
    "/{name}/$count",
    summary="How many entities match $filter, as plain text",
    responses=_answers("text/plain", "The count", {"type": "string", "pattern": "^[0-9]+$"}),
)
def count(name: str, request: Request, session: DbSession, principal: Viewer) -> Response:
    entity_set = _entity_set(name)
    total = service.count(session, principal.workspace_id, entity_set, _options(request, entity_set))
    return Response(str(total), media_type="text/plain")


@router.get(
    "/{resource:path}",
    summary="An entity set (paged), or one entity by key: Outcomes('…')",
    responses=_answers("application/json", "A page of the set, or the entity", _OBJECT),
)
def read(resource: str, request: Request, session: DbSession, principal: Viewer) -> Response:
    match = RESOURCE.match(resource)
    if match is None:
        raise EntitySetNotFound(resource)
    entity_set = _entity_set(match.group("set"))
    options = _options(request, entity_set)
    root = _root(request)
    if match.group("key") is not None:
        key = _key(entity_set, match.group("key"))
        row = service.get_or_raise(session, principal.workspace_id, entity_set, key, options)
        context = payload.context_url(root, entity_set, options.select_text, entity=True)
        return _json(payload.entity(context, row), options)
    page = service.read_page(session, principal.workspace_id, entity_set, options)
    link = None
    if page.next is not None:
        url = str(request.url.replace(query=""))
        link = payload.next_link(url.rstrip("?"), request.query_params.multi_items(), page.next)
    context = payload.context_url(root, entity_set, options.select_text)
    return _json(payload.collection(context, page, link), options)


@router.api_route("/{resource:path}", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@refuses_methods
def read_only(resource: str) -> Response:
    answer = error_response(405, "method_not_allowed", "the OData feed is read-only")
    answer.headers["Allow"] = "GET"
    return answer
