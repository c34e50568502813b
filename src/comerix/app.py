"""`create_app(settings)`: the whole service wired together: storage, clock, routers, error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from comerix import __version__, admin, api_docs
from comerix import help as help_site
from comerix.admin.pages import error_page
from comerix.analytics.conversation_views import router as conversations_router
from comerix.analytics.odata.views import PREFIX as ODATA_PREFIX
from comerix.analytics.odata.views import router as odata_router
from comerix.analytics.step_views import router as steps_router
from comerix.analytics.views import router as analytics_router
from comerix.analytics.views import settings_router
from comerix.auth.usage import CredentialUses
from comerix.clock import Clock, SystemClock
from comerix.contacts.views import router as contacts_router
from comerix.db import Database
from comerix.db.migrate import is_current
from comerix.errors import Unavailable, error_body
from comerix.goals.index import GoalIndex
from comerix.goals.views import router as goals_router
from comerix.http import RejectNulCharacters, install_error_handlers, unavailable_headers
from comerix.ingestion import STAGES
from comerix.rates.views import router as rates_router
from comerix.settings import Settings
from comerix.telemetry.engine_auth import EngineKeyCache
from comerix.telemetry.views import ENGINE_SCHEMAS, engine_router, explorer_router, goal_preview_router
from comerix.telemetry.writer import IngestWriter

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    writer_process: bool = False,
) -> FastAPI:
    """The ASGI app. The database must already be migrated (`comerix serve` does it first).
    `writer_process`: run the ingestion pipeline in a process of its own (see `telemetry.writer`)."""
    owned = database is None
    db = database or Database(settings.database)

    writer = IngestWriter(db, GoalIndex(), STAGES, process=writer_process)
    uses = CredentialUses(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        flushing = asyncio.create_task(uses.flush_every())
        try:
            yield
        finally:
            flushing.cancel()
            try:
                uses.flush()
            except Exception:  # storage down at the end: those uses are not shown, and the rest stops
                log.warning("could not write when credentials were last used", exc_info=True)
            writer.stop()
            if owned:
                db.dispose()

    app = FastAPI(
        title="Comerix Insights",
        version=__version__,
        description="Goals, conversions and analytics for AI chat.",
        lifespan=lifespan,
        docs_url=None,  # served by api_docs, from the package
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.clock = clock or SystemClock()
    app.state.writer = writer
    app.state.engine_keys = EngineKeyCache(db)
    app.state.credential_uses = uses
    install_error_handlers(app, pages=error_page)
    # The widget posts from the shop's own site: the Engine API must answer cross-origin requests.
    # No cookies are involved (bearer keys only), so no credentials are allowed.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(RejectNulCharacters, answers_itself=(ODATA_PREFIX + "/",))
    if settings.trusted_proxies:  # outermost: every part of the app sees the client's own address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.include_router(engine_router)
    app.include_router(contacts_router)
    app.include_router(analytics_router)
    app.include_router(steps_router)
    app.include_router(conversations_router)
    app.include_router(odata_router)
    app.include_router(goal_preview_router)  # first: its `/preview` also fits `/{goal_id}`
    app.include_router(goals_router)
    app.include_router(explorer_router)
    app.include_router(settings_router)
    app.include_router(rates_router)
    admin.install(app)
    api_docs.install(app, schemas=ENGINE_SCHEMAS)
    help_site.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """People who open the service's address land on the admin pages."""
        return RedirectResponse("/admin", status_code=307)

    schema_checked = False

    @app.get("/healthz", tags=["service"], responses=api_docs.errors(400, 503))
    def healthz(request: Request) -> JSONResponse:
        """200 when the database answers, its schema is current and it takes writes; 503 with
        `Retry-After` otherwise. Whether it takes writes: `db.availability.StorageHealth`."""
        nonlocal schema_checked
        database: Database = request.app.state.database
        if database.is_ready():
            # Migrations run before the service starts and never go backwards: once current, always.
            schema_checked = schema_checked or is_current(database.engine)
            if schema_checked:
                failure = request.app.state.writer.health.check(database)
                if failure is None:
                    return JSONResponse({"status": "ok"})
                body = error_body(failure.code, failure.message, failure.details)
                return JSONResponse(body, 503, headers=unavailable_headers(failure.retry_after))
        body = error_body("not_ready", "the database is not reachable or not migrated")
        return JSONResponse(body, 503, headers=unavailable_headers(Unavailable.retry_after))

    return app
