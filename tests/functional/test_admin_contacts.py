"""The Contacts pages over HTTP, on each backend: look-up, recently active contacts, the profile in the
workspace's time zone, erasure with its confirmation and CSRF check, tenancy and permissions, and a
page for every contact id."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from comerix.admin import contacts as contacts_page
from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.telemetry.models import Contact, Conversation, Event
from comerix.workspaces.models import Workspace
from tests.factories import make_engine_key, make_goal, make_member, make_workspace
from tests.pages import csrf_of, post_form, sign_in, table_rows

CONTACTS = "/admin/contacts"
PROFILE = "/admin/contacts/profile?contact_id="
ERASE = "/admin/contacts/erase?contact_id="


class Shop:
    """A workspace with a purchase goal valued from `total`, an Engine key, and members who sign in."""

    def __init__(self, pages: TestClient, db: Database, clock: FixedClock) -> None:
        self.pages, self.db, self.clock = pages, db, clock
        with db.transaction() as session:
            self.workspace: Workspace = make_workspace(session, clock.now())
            owner = make_member(session, clock.now(), workspace=self.workspace)
            make_goal(
                session,
                owner.principal,
                clock.now(),
                code="purchase",
                name="Purchase",
                trigger_event="purchase",
                value_mode="from_property",
                value_property="total",
            )
            self.key = make_engine_key(session, self.workspace, clock.now(), EngineKeyKind.SECRET)

    def sign_in(self, role: Role = Role.ADMIN) -> None:
        """Sign a new member of `role` in (signing out whoever was)."""
        self.pages.cookies.clear()
        with self.db.transaction() as session:
            member = make_member(session, self.clock.now(), role=role, workspace=self.workspace)
        assert sign_in(self.pages, member.user.email).status_code == 303

    def send(self, path: str, *items: dict[str, Any]) -> None:
        body = {"events" if path == "/events" else "conversions": list(items)}
        response = self.pages.post(path, json=body, headers={"Authorization": f"Bearer {self.key}"})
        assert response.status_code == 202, response.text

    def ago(self, days: float, hours: float = 0) -> str:
        return (self.clock.now() - timedelta(days=days) + timedelta(hours=hours)).isoformat()

    def chat(self, contact_id: str, conversation_id: str, days_ago: float, total: str | None = None) -> None:
        """A chat of the contact in the `sales` flow, with a purchase in it when `total` is given."""
        ids = {"conversation_id": conversation_id, "contact_id": contact_id, "flow_id": "sales"}
        events = [
            {"name": "conversation_started", "timestamp": self.ago(days_ago), **ids},
            {"name": "message_sent", "timestamp": self.ago(days_ago, 0.25), "properties": {"n": 1}, **ids},
        ]
        if total is not None:
            events.append(
                {
                    "name": "purchase",
                    "timestamp": self.ago(days_ago, 0.5),
                    "properties": {"total": total},
                    **ids,
                }
            )
        self.send("/events", *events)

    def count(self, model: type[Any], **where: Any) -> int:
        with self.db.transaction() as session:
            query = select(func.count()).select_from(model).where(model.workspace_id == self.workspace.id)
            return int(session.scalar(query.filter_by(**where)) or 0)


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(pages, db, clock)


def test_the_profile_shows_seen_times_conversations_and_goals_in_the_workspace_time_zone(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=3, total="129.50")
    shop.send(
        "/conversions",
        {"event": "purchase", "contact_id": "ann", "timestamp": shop.ago(1), "properties": {"total": "20"}},
    )
    shop.sign_in()

    page = shop.pages.get(f"{PROFILE}ann")

    assert page.status_code == 200
    text = page.text
    # START is 2026-11-02 09:30 UTC; Berlin is UTC+1 (CET) then.
    assert 'Contact <code class="contact-id">ann</code>' in text
    assert "<strong>Europe/Berlin</strong>" in text
    assert "2026-10-30 10:30:00 CET" in text  # first seen: the chat's start, 3 days ago
    assert "2026-11-01 10:30:00 CET" in text  # last seen: the late purchase, a day ago
    assert "<td><code>chat-1</code></td>" in text
    assert "<td><code>sales</code></td>" in text
    assert 'Purchase <code class="muted">purchase</code>' in text
    assert '<td class="num">2</td>' in text
    assert '<span class="amount">149.50 EUR</span>' in text
    assert table_rows(text, "contact-outcomes") == [  # newest first; the backend's sale credited by window
        "2026-11-01 10:30:00 CET Purchase purchase server 20 EUR 20 EUR chat-1 Within the attribution window",
        "2026-10-30 11:00:00 CET Purchase purchase widget 129.50 EUR 129.50 EUR chat-1 In the conversation",
    ]
    assert "<code>message_sent</code>" in text  # the newest events
    assert 'href="/admin/contacts/erase?contact_id=ann"' in text


def test_the_contacts_page_lists_the_most_recently_active_first(shop: Shop) -> None:
    shop.chat("early", "chat-1", days_ago=5)
    shop.chat("late", "chat-2", days_ago=1)
    shop.chat("middle", "chat-3", days_ago=3)
    shop.sign_in()
    page = shop.pages.get(CONTACTS).text
    positions = [page.index(f'href="{PROFILE}{name}"') for name in ("late", "middle", "early")]
    assert positions == sorted(positions)


def test_a_workspace_without_contacts_is_told_how_to_get_them(shop: Shop) -> None:
    shop.sign_in()
    empty = re.search(r'id="contacts-empty">(.*?)</p>', shop.pages.get(CONTACTS).text, re.S)
    assert empty is not None
    assert "No contact has been seen yet." in empty.group(1)
    assert '<a href="/admin/start">Get started</a>' in empty.group(1)


def test_the_list_shows_each_contacts_chats_goals_and_lifetime_value_and_pages_on(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.chat("ann", "chat-1", days_ago=3, total="129.50")
    shop.chat("ann", "chat-2", days_ago=2, total="20")
    shop.chat("anna", "chat-3", days_ago=1)
    shop.chat("bob", "chat-4", days_ago=4)
    shop.sign_in()
    assert table_rows(shop.pages.get(CONTACTS).text, "contact-list") == [
        "anna 2026-11-01 10:45:00 CET 2026-11-01 10:30:00 CET 1 0 —",
        "ann 2026-10-31 11:00:00 CET 2026-10-30 10:30:00 CET 2 2 149.50 EUR",
        "bob 2026-10-29 10:45:00 CET 2026-10-29 10:30:00 CET 1 0 —",
    ]
    # An id's beginning lists the contacts whose id starts with it; the exact id opens the profile.
    found = shop.pages.get(CONTACTS, params={"contact_id": "an"}).text
    assert [row.split()[0] for row in table_rows(found, "contact-list")] == ["anna", "ann"]
    assert "Contacts whose id starts with “an”" in found
    assert shop.pages.get(CONTACTS, params={"contact_id": "%"}).status_code == 404  # a wildcard is text

    monkeypatch.setattr(contacts_page, "PAGE_SIZE", 2)
    first = shop.pages.get(CONTACTS).text
    older = re.search(r'<a href="([^"]+)" rel="next">Seen earlier', first)
    assert older is not None
    second = shop.pages.get(html.unescape(older.group(1))).text
    assert [row.split()[0] for row in table_rows(second, "contact-list")] == ["bob"]
    assert 'rel="next"' not in second
    assert "← The most recent" in second


def test_looking_a_contact_up_opens_the_profile_or_says_it_is_unknown(shop: Shop) -> None:
    shop.chat("ann/b", "chat-1", days_ago=1)
    shop.sign_in()
    found = shop.pages.get(CONTACTS, params={"contact_id": " ann/b "}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, f"{PROFILE}ann%2Fb")
    assert shop.pages.get(found.headers["location"]).status_code == 200

    unknown = shop.pages.get(CONTACTS, params={"contact_id": "<nobody>"})
    assert unknown.status_code == 404
    assert "No contact id starts with “&lt;nobody&gt;” in this workspace." in unknown.text
    assert 'aria-invalid="true"' in unknown.text


def test_an_unknown_or_foreign_contact_is_the_404_page(
    shop: Shop, pages: TestClient, db: Database, clock: FixedClock
) -> None:
    other = Shop(pages, db, clock)
    other.chat("theirs", "chat-1", days_ago=1)
    shop.sign_in()
    for path in (f"{PROFILE}nobody", f"{PROFILE}theirs", f"{ERASE}theirs"):
        page = shop.pages.get(path)
        assert page.status_code == 404, path
        assert "text/html" in page.headers["content-type"]
        assert 'aria-label="Main menu"' in page.text
    assert "theirs" not in shop.pages.get(CONTACTS).text


def test_the_erase_page_says_what_goes_and_what_stays(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=3, total="129.50")
    shop.send("/events", {"name": "message_sent", "conversation_id": "chat-1", "timestamp": shop.ago(2)})
    shop.sign_in()
    page = shop.pages.get(f"{ERASE}ann").text
    assert "<strong>4</strong> events" in page  # three with the contact id, one only in their chat
    assert "<strong>1</strong> conversation," in page
    assert "<strong>1</strong> outcome " in page
    assert "report totals, counts and revenue stay as they are" in page
    assert 'action="/admin/contacts/erase?contact_id=ann"' in page
    assert shop.count(Event) == 4  # looking changes nothing


def test_erasure_without_the_csrf_token_is_refused_and_erases_nothing(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=1)
    shop.sign_in()
    shop.pages.get(f"{ERASE}ann")
    refused = shop.pages.post(f"{ERASE}ann", data={"confirm": "ann"}, follow_redirects=False)
    assert refused.status_code == 403
    assert shop.count(Event, contact_id="ann") == 2
    assert shop.count(Contact, id="ann") == 1


def test_erasure_needs_the_contact_id_typed_back(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=1)
    shop.sign_in()
    refused = post_form(shop.pages, f"{ERASE}ann", {"confirm": "an"})
    assert refused.status_code == 422
    assert "Type the contact id exactly as shown to erase it." in refused.text
    assert shop.count(Contact, id="ann") == 1


def test_erasure_deletes_the_personal_data_keeps_the_outcomes_and_says_so(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=3, total="129.50")
    shop.chat("bob", "chat-2", days_ago=2, total="10")
    shop.sign_in()

    erased = post_form(shop.pages, f"{ERASE}ann", {"confirm": "ann"})

    assert (erased.status_code, erased.headers["location"]) == (303, CONTACTS)
    listing = shop.pages.get(CONTACTS).text
    assert (
        "Contact “ann” erased: 3 events and 1 conversation deleted, its profile removed; "
        "1 outcome kept without the contact, so report totals stay."
    ) in listing
    assert f'href="{PROFILE}ann"' not in listing
    assert shop.pages.get(f"{PROFILE}ann").status_code == 404
    assert shop.count(Event, contact_id="ann") + shop.count(Conversation, contact_id="ann") == 0
    assert shop.count(Outcome) == 2  # report totals stay
    assert shop.count(Contact, id="bob") == 1


def test_a_contact_id_is_quoted_in_urls_and_escaped_in_html(shop: Shop) -> None:
    odd = 'a/b?c=1&d#"<i>'
    shop.chat(odd, "chat-1", days_ago=1)
    shop.sign_in()
    quoted = "a%2Fb%3Fc%3D1%26d%23%22%3Ci%3E"
    assert f'href="{PROFILE}{quoted}"' in shop.pages.get(CONTACTS).text
    profile = shop.pages.get(f"{PROFILE}{quoted}")
    assert profile.status_code == 200
    assert "<i>" not in profile.text
    assert "a/b?c=1&amp;d#&#34;&lt;i&gt;" in profile.text

    erase_page = shop.pages.get(f"{ERASE}{quoted}")
    token = csrf_of(erase_page.text)
    erased = shop.pages.post(
        f"{ERASE}{quoted}", data={"csrf_token": token, "confirm": odd}, follow_redirects=False
    )
    assert erased.status_code == 303
    assert shop.count(Contact) == 0


@pytest.mark.parametrize("contact_id", ["shopper/erase", "erase", "profile/x"])
def test_a_contact_whose_id_reads_like_a_page_has_its_profile_and_is_erased(
    shop: Shop, contact_id: str
) -> None:
    shop.chat(contact_id, "chat-1", days_ago=1)
    shop.chat("shopper", "chat-2", days_ago=2)
    shop.sign_in()

    def link(page: str, pattern: str) -> str:
        found = re.search(pattern, page)
        assert found is not None, pattern
        return html.unescape(found.group(1))

    listing = shop.pages.get(CONTACTS).text
    profile = shop.pages.get(link(listing, rf'href="([^"]+)"><code>{re.escape(contact_id)}</code>'))
    assert f'Contact <code class="contact-id">{contact_id}</code>' in profile.text
    erase_path = link(profile.text, r'href="([^"]+)">Erase this contact')
    assert f'Erase contact <code class="contact-id">{contact_id}</code>?' in shop.pages.get(erase_path).text

    erased = post_form(shop.pages, erase_path, {"confirm": contact_id})

    assert erased.status_code == 303
    assert (shop.count(Contact, id=contact_id), shop.count(Contact, id="shopper")) == (0, 1)


def test_a_designer_may_not_open_contacts(shop: Shop) -> None:
    shop.chat("ann", "chat-1", days_ago=1)
    shop.sign_in(Role.DESIGNER)
    for path in (CONTACTS, f"{PROFILE}ann", f"{ERASE}ann"):
        page = shop.pages.get(path)
        assert page.status_code == 403, path
        assert "comerix.contacts.manage" in page.text
