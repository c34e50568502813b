"""Settings → Rates (SPEC §11): the workspace's own exchange rates, which win over the ECB's, added,
changed and removed one at a time (each a change of the whole set through `rates.service`, so the page
and `PUT /api/v1/settings/rates` validate and audit alike), with their history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from comerix.admin.dependencies import SettingsPage
from comerix.admin.forms import errors_by_field, parse_form
from comerix.admin.pages import page, redirect
from comerix.admin.settings import currency_choices
from comerix.auth import sessions
from comerix.auth.sessions import SignedIn
from comerix.errors import Invalid
from comerix.http import DbSession, Now
from comerix.rates import service
from comerix.rates.book import MAX_AGE_DAYS
from comerix.rates.schemas import RateIn
from comerix.workspaces import service as workspaces

router = APIRouter(prefix="/admin", include_in_schema=False)

RATES_PATH = "/admin/settings/rates"
FormText = Annotated[str, Form(max_length=64)]


def _rates_page(
    request: Request,
    session: Session,
    signed_in: SignedIn,
    now: datetime,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    context = {
        "rates": service.rates_of(session, workspace),
        "values": values or {"currency": "", "date": now.date().isoformat(), "per_base": ""},
        "errors": errors or {},
        "currencies": [(c, t) for c, t in currency_choices() if c != workspace.base_currency],
        "max_age": MAX_AGE_DAYS,
        "timezone": workspace.timezone,  # of the changes' times
    }
    return page(request, "admin/settings/rates.html", signed_in, context, status_code=status_code)


@router.get("/settings/rates", name="admin_settings_rates")
def rates_settings(request: Request, session: DbSession, signed_in: SettingsPage, now: Now) -> Response:
    """The workspace's own rates, a form to set one, and the changes made to them."""
    return _rates_page(request, session, signed_in, now)


@router.post("/settings/rates")
def set_rate(
    request: Request,
    session: DbSession,
    signed_in: SettingsPage,
    now: Now,
    currency: FormText = "",
    date: FormText = "",
    per_base: FormText = "",
) -> Response:
    """Add a rate, or change the one of that currency and date."""
    values = {"currency": currency, "date": date, "per_base": per_base}
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    try:
        rate = parse_form(RateIn, values)
        service.set_rate(session, workspace, rate, actor=signed_in.principal, now=now)
    except Invalid as invalid:
        errors = {name.rsplit(".", 1)[-1]: message for name, message in errors_by_field(invalid).items()}
        return _rates_page(request, session, signed_in, now, values, errors, 422)
    sessions.set_flash(
        signed_in.row,
        f"Rate saved: 1 {workspace.base_currency} = {rate.per_base} {rate.currency} from {rate.date}. "
        "Outcomes recorded from now on convert with it.",
    )
    return redirect(RATES_PATH)


@router.post("/settings/rates/remove")
def remove_rate(
    session: DbSession, signed_in: SettingsPage, now: Now, currency: FormText = "", date: FormText = ""
) -> Response:
    """Remove the rate of a currency on a date (nothing happens when there is none)."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    try:
        day = datetime.fromisoformat(date).date()
    except ValueError:
        return redirect(RATES_PATH)  # no rate has such a date
    if service.remove_rate(session, workspace, currency, day, actor=signed_in.principal, now=now):
        sessions.set_flash(signed_in.row, f"Rate of {currency} on {date} removed.")
    return redirect(RATES_PATH)
