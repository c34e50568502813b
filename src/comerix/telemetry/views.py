"""The Engine API (`POST /events`, `POST /conversions`, SPEC §4), the Event Explorer API and the goal
preview (`POST /api/v1/goals/preview`, §5), which tries an unsaved goal on the stored events.

The Engine API views read the body themselves: to refuse more than 1 MiB before reading it all, to
tell malformed JSON (400) from invalid fields (422), and to hand validated items to the group-commit
writer without a database session of their own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic.json_schema import models_json_schema

from comerix.api_docs import errors
from comerix.auth.dependencies import bearer_credential, require
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Permission
from comerix.auth.service import EngineClient, Principal
from comerix.errors import Forbidden, Malformed, TooLarge
from comerix.goals import service as goals
from comerix.goals.schemas import GoalPreviewRequest
from comerix.goals.views import GoalsManager
from comerix.http import DbSession, Now
from comerix.telemetry import explorer, preview
from comerix.telemetry.batches import Batch
from comerix.telemetry.schemas import (
    ConversionBatch,
    ConversionIn,
    EventBatch,
    EventIn,
    IngestResult,
    nested_too_deep,
    parse_conversions,
    parse_events,
)
from comerix.text import NestedTooDeep, NumberOutOfRange, json_loads
from comerix.vocabulary import Range
from comerix.workspaces import service as workspaces

MAX_BODY = 1024 * 1024

engine_router = APIRouter(tags=["engine"])
explorer_router = APIRouter(
    prefix="/api/v1/events", tags=["event explorer"], responses=errors(400, 401, 403, 422)
)
# Under the goals' prefix and tag, as one API with them; included before `goals.views.router`, whose
# `/{goal_id}` the address `/preview` also fits (routing and a 405's `Allow` take the first match).
goal_preview_router = APIRouter(prefix="/api/v1/goals", tags=["goals"], responses=errors(400, 401, 403, 422))
Telemetry = Annotated[Principal, Depends(require(Permission.TELEMETRY))]


class PayloadTooLarge(TooLarge):
    code = "payload_too_large"


class MalformedJson(Malformed):
    code = "malformed_json"


class KeyNotAllowed(Forbidden):
    code = "key_not_allowed"


async def engine_client(request: Request) -> EngineClient:
    client: EngineClient = await request.app.state.engine_keys.authenticate(bearer_credential(request))
    request.app.state.credential_uses.used(client.workspace_id, client.key_id, request.app.state.clock.now())
    return client


async def json_body(request: Request, plural: str) -> Any:
    """The decoded body: at most 1 MiB, valid JSON (no NaN or Infinity). One nested deeper than the
    parsers follow is JSON all the same, and nothing the API accepts nests so: a 422 that says where."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge("the body is larger than 1 MiB")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise PayloadTooLarge("the body is larger than 1 MiB")
    try:
        return json_loads(body)
    except NestedTooDeep:
        raise nested_too_deep(body, plural) from None
    except NumberOutOfRange as exc:
        raise MalformedJson(f"the request body cannot be read: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedJson("the request body is not valid JSON") from None


def _accepted(body: bytes) -> Response:
    """The 202 answer, as the writer serialised it (an `IngestResult`)."""
    return Response(body, status_code=202, media_type="application/json")


_BODIES, _DEFINITIONS = models_json_schema(
    [(model, "validation") for model in (EventIn, EventBatch, ConversionIn, ConversionBatch)],
    ref_template="#/components/schemas/{model}",
)
ENGINE_SCHEMAS: dict[str, dict[str, Any]] = _DEFINITIONS["$defs"]
"""The Engine API's request bodies, for the OpenAPI document's components (where their `$ref`s point):
the views read their bodies themselves, so FastAPI does not know these models."""


def _schema(*models: type[Any]) -> dict[str, Any]:
    body = {"oneOf": [_BODIES[(model, "validation")] for model in models]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


@engine_router.post(
    "/events",
    status_code=202,
    response_model=IngestResult,
    openapi_extra=_schema(EventIn, EventBatch),
    responses=errors(400, 401, 413, 422, 503),
)
async def post_events(
    request: Request, client: Annotated[EngineClient, Depends(engine_client)], now: Now
) -> Response:
    """Telemetry from the chat widget or the agent's flows (public or secret key)."""
    items = parse_events(await json_body(request, "events"), now)
    return _accepted(await request.app.state.writer.submit(Batch(client.workspace_id, items, now)))


@engine_router.post(
    "/conversions",
    status_code=202,
    response_model=IngestResult,
    openapi_extra=_schema(ConversionIn, ConversionBatch),
    responses=errors(400, 401, 403, 413, 422, 503),
)
async def post_conversions(
    request: Request, client: Annotated[EngineClient, Depends(engine_client)], now: Now
) -> Response:
    """Server-side outcomes, such as a sale completed after the chat (secret key only)."""
    if client.kind is not EngineKeyKind.SECRET:
        raise KeyNotAllowed("a public key may only send events; send conversions with a secret key")
    items = parse_conversions(await json_body(request, "conversions"), now)
    return _accepted(await request.app.state.writer.submit(Batch(client.workspace_id, items, now)))


@explorer_router.get("", response_model=explorer.EventList)
def list_events(
    session: DbSession,
    principal: Telemetry,
    now: Now,
    range: Annotated[Range, Query()] = Range.D30,
    name: Annotated[str | None, Query(max_length=133)] = None,
) -> explorer.EventList:
    """The 100 events that arrived last in the range (by `received_at`), the latest first, with their
    full properties. An event keeps its own `timestamp`, which may be earlier."""
    return explorer.newest(
        session, principal.workspace_id, range, explorer.EventFilter(name=name or None), now=now
    )


@explorer_router.get("/names", response_model=explorer.EventNameList)
def list_event_names(
    session: DbSession,
    principal: Telemetry,
    now: Now,
    range: Annotated[Range, Query()] = Range.D30,
) -> explorer.EventNameList:
    """Each event name seen in the range, with its count, last sighting and property paths."""
    return explorer.names(session, principal.workspace_id, range, now=now)


@goal_preview_router.post("/preview", response_model=preview.GoalPreview)
def preview_goal(
    data: GoalPreviewRequest,
    session: DbSession,
    principal: GoalsManager,
    now: Now,
    range: Annotated[Range, Query()] = Range.D30,
) -> preview.GoalPreview:
    """Try an unsaved goal against the stored events of the range (default 30d); nothing is saved."""
    definition = goals.check_definition(data)
    workspace = workspaces.get_or_raise(session, principal.workspace_id)
    return preview.preview(
        session, principal.workspace_id, definition, range, base_currency=workspace.base_currency, now=now
    )
