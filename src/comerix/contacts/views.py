"""The contacts JSON API: `/api/v1/contacts/{contact_id}` (SPEC §7). Thin: call the service, return it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from comerix.api_docs import errors
from comerix.auth.dependencies import require
from comerix.auth.roles import Permission
from comerix.auth.service import Principal
from comerix.contacts import service
from comerix.contacts.schemas import ContactProfile, ErasureResult
from comerix.http import DbSession

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], responses=errors(400, 401, 403, 404, 422))
ContactsManager = Annotated[Principal, Depends(require(Permission.CONTACTS_MANAGE))]


@router.get("/{contact_id}", response_model=ContactProfile)
def get_contact(contact_id: str, session: DbSession, principal: ContactsManager) -> ContactProfile:
    return service.get_profile(session, principal.workspace_id, contact_id)


@router.delete("/{contact_id}", response_model=ErasureResult)
def erase_contact(contact_id: str, session: DbSession, principal: ContactsManager) -> ErasureResult:
    """Erase the contact's personal data: events, conversations, profile. Their outcomes stay, anonymised."""
    return service.erase(session, principal.workspace_id, contact_id)
