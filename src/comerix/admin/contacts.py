"""Contacts: looking a contact up, their profile, and erasure with a confirmation step.

A contact id is whatever the client sent (≤128 characters, any text), so the pages take it in the
query string, quoted whole (`/admin/contacts/profile?contact_id=…`, `/admin/contacts/erase?contact_id=…`)
and escape it in HTML. In the path, an id holding a slash (`ann/erase`) could be read as another page,
and some proxies refuse or decode an encoded slash; a query parameter has neither problem.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from comerix.admin.analytics import ATTRIBUTIONS
from comerix.admin.conversations import conversation_path
from comerix.admin.dependencies import ContactsPage
from comerix.admin.pages import cursor_text, page, read_cursor, redirect, workspace_timezone
from comerix.auth import sessions
from comerix.auth.roles import Permission
from comerix.auth.sessions import SignedIn
from comerix.contacts import service
from comerix.contacts.schemas import Amount
from comerix.http import DbSession
from comerix.workspaces import service as workspaces

router = APIRouter(prefix="/admin", include_in_schema=False)

CONTACTS_PATH = "/admin/contacts"
PROFILE_PATH = "/admin/contacts/profile"
ERASE_PATH = "/admin/contacts/erase"

ContactId = Annotated[str, Query(alias="contact_id")]


def contact_path(contact_id: str) -> str:
    """The profile page of a contact."""
    return f"{PROFILE_PATH}?{_naming(contact_id)}"


def erase_path(contact_id: str) -> str:
    """The erasure of a contact: its confirmation page (GET) and the erasure itself (POST)."""
    return f"{ERASE_PATH}?{_naming(contact_id)}"


def _naming(contact_id: str) -> str:
    return urlencode({"contact_id": contact_id}, quote_via=quote)  # slashes and spaces too: %2F, %20


def _shared(session: Session, signed_in: SignedIn) -> dict[str, Any]:
    """What every contacts template needs: the zone of its times, `money(amount)`, and the paths
    `contact_path(id)` and `erase_path(id)`."""
    return {
        "timezone": workspace_timezone(session, signed_in),
        "money": _money,
        "contact_path": contact_path,
        "erase_path": erase_path,
    }


def _money(amount: Amount) -> str:
    value: Decimal = amount.value
    return f"{value:,f} {amount.currency}"


def duration(seconds: int) -> str:
    """Time saved as people read it: `0 s`, `45 s`, `2 h 5 min` (the largest two units)."""
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size:,} {unit}")
            seconds %= size
    return " ".join(parts[:2])


PAGE_SIZE = 50


@router.get("/contacts", name="admin_contacts")
def contacts(
    request: Request,
    session: DbSession,
    signed_in: ContactsPage,
    contact_id: str = "",
    after: Annotated[str, Query(max_length=2048)] = "",
) -> Response:
    """The contacts seen most recently, 50 a page, each with their conversations, goals reached and
    lifetime base value. A search opens the profile of the contact with exactly that id, or lists those
    whose id starts with it."""
    workspace_id = signed_in.principal.workspace_id
    prefix = contact_id.strip()
    start = read_cursor(after)
    if prefix and start is None and service.exists(session, workspace_id, prefix):
        return redirect(contact_path(prefix))
    listed = service.list_recently_active(
        session, workspace_id, limit=PAGE_SIZE + 1, prefix=prefix, after=start
    )
    shown = listed[:PAGE_SIZE]
    error = f"No contact id starts with “{prefix}” in this workspace." if prefix and not shown else None
    last = shown[-1] if len(listed) > PAGE_SIZE else None
    more = {"contact_id": prefix} if prefix else {}
    context = {
        "contact_id": prefix,
        "errors": {"contact_id": error} if error else {},
        "recent": shown,
        "figures": service.figures_of(session, workspace_id, [c.contact_id for c in shown]),
        "older": None
        if last is None
        else CONTACTS_PATH
        + "?"
        + urlencode(more | {"after": cursor_text(last.last_seen_at, last.contact_id)}),
        "paged": start is not None,
    } | _shared(session, signed_in)
    return page(request, "admin/contacts/index.html", signed_in, context, status_code=404 if error else 200)


def _erase_page(
    request: Request,
    session: DbSession,
    signed_in: SignedIn,
    contact_id: str,
    *,
    error: str | None = None,
) -> Response:
    preview = service.erasure_preview(session, signed_in.principal.workspace_id, contact_id)
    context = {"preview": preview, "errors": {"confirm": error} if error else {}} | _shared(
        session, signed_in
    )
    return page(
        request,
        "admin/contacts/erase.html",
        signed_in,
        context,
        status_code=422 if error else 200,
        current=CONTACTS_PATH,
    )


@router.get("/contacts/erase", name="admin_contacts_erase")
def erase_form(
    request: Request, session: DbSession, signed_in: ContactsPage, contact_id: ContactId
) -> Response:
    """What erasing the contact deletes and what stays, and the confirmation."""
    return _erase_page(request, session, signed_in, contact_id)


@router.post("/contacts/erase")
def erase(
    request: Request,
    session: DbSession,
    signed_in: ContactsPage,
    contact_id: ContactId,
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Erase the contact once their id is typed back; then back to the contacts list, saying what went."""
    if confirm.strip() != contact_id.strip():
        return _erase_page(
            request, session, signed_in, contact_id, error="Type the contact id exactly as shown to erase it."
        )
    result = service.erase(session, signed_in.principal.workspace_id, contact_id)
    sessions.set_flash(
        signed_in.row,
        f"Contact “{contact_id}” erased: {_count(result.events_deleted, 'event')} and "
        f"{_count(result.conversations_deleted, 'conversation')} deleted, its profile removed; "
        f"{_count(result.outcomes_anonymised, 'outcome')} kept without the contact, so report totals stay.",
    )
    return redirect(CONTACTS_PATH)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


@router.get("/contacts/profile", name="admin_contacts_profile")
def profile(request: Request, session: DbSession, signed_in: ContactsPage, contact_id: ContactId) -> Response:
    """The contact's profile: when seen, their conversations, the goals they reached, their newest
    outcomes (how each base value was found, which chat got the credit), their newest cycles of
    multi-step goals (metrics in the base currency), their newest events."""
    workspace_id = signed_in.principal.workspace_id
    base_currency = workspaces.get_or_raise(session, workspace_id).base_currency
    context = {
        "profile": service.get_profile(session, workspace_id, contact_id),
        "events": service.recent_events(session, workspace_id, contact_id),
        "base_money": lambda value: _money(Amount(currency=base_currency, value=value)),
        "money_of": lambda value, currency: f"{value:,f} {currency or ''}".rstrip(),
        "attributions": ATTRIBUTIONS,
        "duration": duration,
        "conversation_path": conversation_path
        if Permission.TELEMETRY in signed_in.principal.permissions
        else None,
    } | _shared(session, signed_in)
    return page(request, "admin/contacts/profile.html", signed_in, context, current=CONTACTS_PATH)
