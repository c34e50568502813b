"""The admin web pages: server-rendered HTML for conversation designers, analysts and admins.

One module per screen group (`account`, `goals`, `goal_page`, `events`, `steps`, `conversations`,
`analytics`, `contacts`, `settings`, `credentials`, `start`), each with a `router`; templates under
`templates/admin/` mirror the route names; static assets (CSS, the pages' scripts, the vendored chart
library) ship in `static/`. Views stay thin: they parse the form, call the domain's service, and render
or redirect (post-redirect-get with a flash message).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from comerix.admin import (
    account,
    analytics,
    contacts,
    conversations,
    credentials,
    events,
    goal_page,
    goals,
    rates,
    settings,
    start,
    steps,
)
from comerix.admin.pages import HERE
from comerix.admin.throttle import LoginThrottle


def install(app: FastAPI) -> None:
    """Mount the pages, their static assets and the sign-in throttle on `app`."""
    app.state.login_throttle = LoginThrottle(app.state.database)
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin_static")
    routers = (
        account,
        goals,
        goal_page,
        events,
        steps,
        conversations,
        analytics,
        contacts,
        settings,
        rates,
        credentials,
        start,
    )
    for module in routers:
        app.include_router(module.router)
