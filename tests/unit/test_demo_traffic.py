"""The demo's traffic is realistic in the ways the pages rely on, and the same on every run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from comerix.demo.traffic import DAYS, FLOWS, traffic
from comerix.vocabulary import Source

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert list(traffic(NOW, scale=0.1)) == list(traffic(NOW, scale=0.1))


def test_traffic_spans_the_period_in_time_order_and_never_the_future() -> None:
    items = list(traffic(NOW, scale=0.1))
    times = [item.timestamp for item in items]
    assert times == sorted(times)
    assert times[-1] <= NOW
    assert times[0] <= NOW - timedelta(days=DAYS - 1)
    assert [item.index for item in items] == list(range(len(items)))


def test_every_flow_and_the_goal_triggers_are_present() -> None:
    items = list(traffic(NOW, scale=0.2))
    assert {item.flow_id for item in items if item.flow_id} == set(FLOWS)
    names = Counter(item.name for item in items)
    for name in (
        "conversation_started",
        "purchase",
        "form_submitted",
        "newsletter_subscribed",
        "reply_rated",
        "handoff_requested",
        "conversation_ended",
    ):
        assert names[name] > 0, name


def test_late_sales_fall_both_inside_and_outside_the_window() -> None:
    items = list(traffic(NOW, scale=0.3))
    chat_ended = {item.conversation_id: item.timestamp for item in items if item.conversation_id}
    late = [item for item in items if item.source is Source.SERVER]
    assert all(item.conversation_id is None and item.contact_id for item in late)
    gaps = [item.timestamp - chat_ended[str(item.event_id).removeprefix("order-")] for item in late]
    assert any(gap <= timedelta(hours=168) for gap in gaps)
    assert any(gap > timedelta(hours=168) for gap in gaps)
    assert {"EUR", "USD", "GBP"} <= {item.properties["currency"] for item in late}
