"""The user documentation at /help: the static site `make docs` builds from docs/help (MkDocs) into the
package, served as files so that a user of the pages reaches it without the internet.

A service started before the site was built answers /help with how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

SITE = Path(__file__).parent / "help_site"
NOT_BUILT = (
    "The documentation is not built on this machine. Run `make docs` (or `make run`, which builds it), "
    "then restart the service. Its sources are in docs/help.\n"
)


def install(app: FastAPI, site: Path = SITE) -> None:
    """Serve the built site at /help, or say how to build it."""
    if (site / "index.html").is_file():
        app.mount("/help", StaticFiles(directory=site, html=True), name="help")
        return

    @app.get("/help", include_in_schema=False)
    @app.get("/help/{path:path}", include_in_schema=False)
    def not_built(path: str = "") -> PlainTextResponse:
        return PlainTextResponse(NOT_BUILT, status_code=404)
