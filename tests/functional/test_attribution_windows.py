"""A sale credited by the window rule when goals of several windows match it (SPEC §3): a contact's chats
are read at most `CANDIDATES_PER_CONTACT` at a time, newest started first, so each window gets its own
read; one made for a wider window (by a single-step goal, or a multi-step goal's window join) could
leave out the chat a narrower window picks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Shop, step_body


def _send(shop: Shop, with_multistep: bool) -> list[dict[str, Any]]:
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
    answer = shop.send("/events", {"name": "sale", "timestamp": now.isoformat(), **who})
    return [o for o in answer["results"][0]["outcomes"] if o["goal"] == "sale"]


@pytest.mark.parametrize("with_multistep", [False, True])
def test_the_sale_is_credited_to_the_chat_active_in_its_window(
    client: TestClient, db: Database, clock: FixedClock, with_multistep: bool
) -> None:
    shop = Shop(client, db, clock)
    (sale,) = _send(shop, with_multistep)
    assert (sale["attribution"], sale["conversation_id"]) == ("window", "long")


def test_pre_existing_two_single_step_goals_with_different_windows(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """The same cap, before 841d037: one read at the widest window of the single-step goals matched."""
    shop = Shop(client, db, clock)
    shop.goal(code="lead", name="Lead", kind="engagement", trigger_event="sale", attribution_window_hours=168)
    (sale,) = _send(shop, False)
    assert (sale["attribution"], sale["conversation_id"]) == ("window", "long")
