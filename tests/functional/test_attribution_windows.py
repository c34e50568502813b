"""A sale credited by the window rule when goals of several windows match it (SPEC §3). A contact's chats
are read once for the sale, for the widest window its goals need (single-step goals, and a multi-step
goal's window join), and that read serves the narrower windows: at most `CANDIDATES_PER_CONTACT` chats
are read at a time, newest started first, so a read cut at that limit with no chat of a narrower
window in it is made again for that window, which could otherwise lose the chat it picks."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Shop, step_body
from tests.plans import reads_made


def candidate_reads(db: Database) -> AbstractContextManager[list[str]]:
    """The reads of a contact's chats (`stages.contact_candidates`) made while the block runs."""
    return reads_made(db, "last_activity_at >=")


def _send(
    shop: Shop, db: Database, with_multistep: bool, reads: list[int] | None = None
) -> list[dict[str, Any]]:
    now = shop.clock.now()
    shop.goal(code="sale", name="Sale", kind="conversion", trigger_event="sale", attribution_window_hours=24)
    if with_multistep:
        shop.goal(
            code="booking",
            name="Booking",
            kind="conversion",
            attribution_window_hours=168,
            steps=[
                step_body("started", trigger_event="sale"),
                step_body("details", trigger_event="details"),
                step_body("paid", trigger_event="paid", completion=True),
            ],
        )
    who = {"contact_id": "ann"}
    events = [
        {
            "name": "hello",
            "timestamp": (now - timedelta(days=6)).isoformat(),
            "conversation_id": "long",
            **who,
        },
        {
            "name": "hello",
            "timestamp": (now - timedelta(hours=1)).isoformat(),
            "conversation_id": "long",
            **who,
        },
    ]
    events += [
        {
            "name": "hello",
            "timestamp": (now - timedelta(days=5) + timedelta(hours=n)).isoformat(),
            "conversation_id": f"short-{n:02d}",
            **who,
        }
        for n in range(55)
    ]
    shop.send("/events", {"events": events})
    with candidate_reads(db) as made:
        answer = shop.send("/events", {"name": "sale", "timestamp": now.isoformat(), **who})
    if reads is not None:
        reads.append(len(made))
    return [o for o in answer["results"][0]["outcomes"] if o["goal"] == "sale"]


@pytest.mark.parametrize("with_multistep", [False, True])
def test_the_sale_is_credited_to_the_chat_active_in_its_window(
    client: TestClient, db: Database, clock: FixedClock, with_multistep: bool
) -> None:
    shop = Shop(client, db, clock)
    (sale,) = _send(shop, db, with_multistep)
    assert (sale["attribution"], sale["conversation_id"]) == ("window", "long")


def test_pre_existing_two_single_step_goals_with_different_windows(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """The same cap, before 841d037, when one read was made at the widest window of the single-step goals
    matched and served the narrower ones as it was: the week's read, cut at 50 chats newer than "long",
    holds none the day's window takes, so the day's window is read on its own."""
    shop = Shop(client, db, clock)
    shop.goal(code="lead", name="Lead", kind="engagement", trigger_event="sale", attribution_window_hours=168)
    reads: list[int] = []
    (sale,) = _send(shop, db, False, reads)
    assert (sale["attribution"], sale["conversation_id"], reads) == ("window", "long", [2])


def test_one_read_of_the_contacts_chats_credits_every_window(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """Four windows pick four chats (the newest started that was active within each), from one read."""
    shop, now = Shop(client, db, clock), clock.now()
    for code, hours in (("day", 24), ("three_days", 72), ("week", 168), ("month", 720)):
        shop.goal(
            code=code, name=code, kind="conversion", trigger_event="sale", attribution_window_hours=hours
        )
    shop.goal(
        code="booking",
        name="Booking",
        kind="conversion",
        attribution_window_hours=720,
        steps=[step_body("started", trigger_event="sale"), step_body("paid", completion=True)],
    )
    chats = {  # started, last active: hours ago
        "long": (29 * 24, 1),
        "mid": (20 * 24, 50),
        "late": (10 * 24, 100),
        "last": (8 * 24, 8 * 24 - 1),
    }
    shop.send(
        "/events",
        {
            "events": [
                {
                    "name": "hello",
                    "timestamp": (now - timedelta(hours=ago)).isoformat(),
                    "conversation_id": chat,
                    "contact_id": "bob",
                }
                for chat, span in chats.items()
                for ago in span
            ]
        },
    )
    with candidate_reads(db) as reads:
        answer = shop.send("/events", {"name": "sale", "timestamp": now.isoformat(), "contact_id": "bob"})
    credited = {o["goal"]: o["conversation_id"] for o in answer["results"][0]["outcomes"]}
    assert credited == {"day": "long", "three_days": "mid", "week": "late", "month": "last"}
    assert len(reads) == 1
    timeline = client.get("/api/v1/conversations/last", headers=shop.admin.headers).json()["timeline"]
    assert [item["goal"] for item in timeline if item["type"] == "cycle"] == ["booking"]
