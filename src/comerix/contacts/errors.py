"""Errors of the contacts domain."""

from __future__ import annotations

from comerix.errors import NotFound


class ContactNotFound(NotFound):
    code = "contact_not_found"

    def __init__(self, contact_id: str) -> None:
        super().__init__(f"no contact {contact_id!r} in this workspace")
        self.contact_id = contact_id
