"""Contacts: looking a contact up, their profile, and erasure with a confirmation step.

A contact id is whatever the client sent (≤128 characters, any text): it is quoted whole in every URL
and escaped in HTML. The routes take it with the `path` converter so an id holding a slash still has a
page; the erase routes are declared first, so `/admin/contacts/<id>/erase` is the erasure of `<id>`
(a contact whose id itself ends in `/erase` cannot be reached here: the JSON API serves it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from comerix.admin.dependencies import ContactsPage
from comerix.admin.events import contact_path
from comerix.admin.pages import page, redirect, workspace_timezone
from comerix.auth import sessions
from comerix.auth.sessions import SignedIn
from comerix.contacts import service
from comerix.contacts.schemas import Amount
from comerix.http import DbSession

router = APIRouter(prefix="/admin", include_in_schema=False)

CONTACTS_PATH = "/admin/contacts"


def _shared(session: Session, signed_in: SignedIn) -> dict[str, Any]:
    """What every contacts template needs: the zone of its times, `money(amount)`, `contact_path(id)`."""
    return {
        "timezone": workspace_timezone(session, signed_in),
        "money": _money,
        "contact_path": contact_path,
    }


def _money(amount: Amount) -> str:
    value: Decimal = amount.value
    return f"{value:,f} {amount.currency}"


@router.get("/contacts", name="admin_contacts")
def contacts(request: Request, session: DbSession, signed_in: ContactsPage, contact_id: str = "") -> Response:
    """Look a contact up by id (a known one opens their profile), and the contacts seen most recently."""
    workspace_id = signed_in.principal.workspace_id
    contact_id = contact_id.strip()
    if contact_id and service.exists(session, workspace_id, contact_id):
        return redirect(contact_path(contact_id))
    error = f"There is no contact “{contact_id}” in this workspace." if contact_id else None
    context = {
        "contact_id": contact_id,
        "errors": {"contact_id": error} if error else {},
        "recent": service.list_recently_active(session, workspace_id),
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


@router.get("/contacts/{contact_id:path}/erase", name="admin_contacts_erase")
def erase_form(request: Request, session: DbSession, signed_in: ContactsPage, contact_id: str) -> Response:
    """What erasing the contact deletes and what stays, and the confirmation."""
    return _erase_page(request, session, signed_in, contact_id)


@router.post("/contacts/{contact_id:path}/erase")
def erase(
    request: Request,
    session: DbSession,
    signed_in: ContactsPage,
    contact_id: str,
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


@router.get("/contacts/{contact_id:path}", name="admin_contacts_profile")
def profile(request: Request, session: DbSession, signed_in: ContactsPage, contact_id: str) -> Response:
    """The contact's profile: when seen, their conversations, the goals they reached, their newest events."""
    workspace_id = signed_in.principal.workspace_id
    context = {
        "profile": service.get_profile(session, workspace_id, contact_id),
        "events": service.recent_events(session, workspace_id, contact_id),
        "erase_path": f"{contact_path(contact_id)}/erase",
    } | _shared(session, signed_in)
    return page(request, "admin/contacts/profile.html", signed_in, context, current=CONTACTS_PATH)
