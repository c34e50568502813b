"""The demo's traffic is realistic in the ways the pages rely on, and the same on every run."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from comerix.demo.processes import (
    BOOKING_SHARES,
    BOOKING_WINDOW_HOURS,
    DEPOSIT_DAYS,
    PROCESS_GOALS,
    RETURN_SHARES,
)
from comerix.demo.traffic import DAYS, FLOWS, traffic
from comerix.goals.matching import first_failure
from comerix.goals.schemas import GoalCreate
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FITTING, RETURNS = PROCESS_GOALS


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
    late = [item for item in items if item.source is Source.SERVER and item.name == "purchase"]
    assert all(item.conversation_id is None and item.contact_id for item in late)
    gaps = [item.timestamp - chat_ended[str(item.event_id).removeprefix("order-")] for item in late]
    assert any(gap <= timedelta(hours=168) for gap in gaps)
    assert any(gap > timedelta(hours=168) for gap in gaps)
    assert {"EUR", "USD", "GBP"} <= {item.properties["currency"] for item in late}


@pytest.fixture(scope="module")
def half() -> list[Item]:
    """Half the demo's traffic: enough chats for the processes' shares to show (a step's share may be
    some points off its target: each chat draws its own way)."""
    return list(traffic(NOW, scale=0.5))


def reached(goal: GoalCreate, items: list[Item]) -> dict[str, set[str]]:
    """By step key, the conversations in which an event meets the step's trigger and conditions."""
    chats: dict[str, set[str]] = defaultdict(set)
    for item in items:
        for step in goal.steps:
            if (
                item.name == step.trigger_event
                and first_failure(step.match_conditions, item.properties) is None
            ):
                chats[step.key].add(item.conversation_id or "")
    return chats


def share(part: set[str], whole: set[str]) -> float:
    assert part <= whole  # a step is reached only after the one before it
    return len(part) / len(whole)


def test_every_step_of_the_two_processes_is_reached_by_some_event(half: list[Item]) -> None:
    for goal in PROCESS_GOALS:
        assert set(reached(goal, half)) == {step.key for step in goal.steps}, goal.code


def test_the_booking_funnel_drops_off_at_each_step_in_realistic_shares(half: list[Item]) -> None:
    steps = reached(FITTING, half)
    sales = {item.conversation_id or "" for item in half if item.flow_id == "sales-assistant"}
    links = {item.conversation_id or "" for item in half if item.name == "deposit_link_sent"}
    paid = {str(item.event_id).removeprefix("deposit-") for item in half if item.name == "deposit_paid"}
    started, details, slot = steps["booking_started"], steps["details_given"], steps["slot_chosen"]
    assert len(started) > 150
    assert share(started, sales) == pytest.approx(BOOKING_SHARES["started"], abs=0.05)
    assert share(details, started) == pytest.approx(BOOKING_SHARES["details_given"], abs=0.12)
    assert share(slot, details) == pytest.approx(BOOKING_SHARES["slot_chosen"], abs=0.12)
    assert share(steps["confirmed"], slot) == pytest.approx(BOOKING_SHARES["confirmed"], abs=0.12)
    assert share(links, slot) == pytest.approx(BOOKING_SHARES["deposit_link"], abs=0.12)
    assert not links & steps["confirmed"]  # one way or the other
    assert share(paid, links) == pytest.approx(BOOKING_SHARES["deposit_paid"], abs=0.12)
    assert steps["deposit_paid"] == {""}  # no chat event pays: only the backend, with no conversation


def test_deposits_come_from_the_backend_for_the_booking_contact_some_too_late(half: list[Item]) -> None:
    chats = defaultdict(list)
    for item in half:
        if item.conversation_id:
            chats[item.conversation_id].append(item)
    deposits = [item for item in half if item.name == "deposit_paid"]
    assert deposits
    window = timedelta(hours=BOOKING_WINDOW_HOURS)
    late = []
    for deposit in deposits:
        assert deposit.source is Source.SERVER
        assert (deposit.conversation_id, deposit.flow_id) == (None, None)
        chat = chats[str(deposit.event_id).removeprefix("deposit-")]
        link = next(item for item in chat if item.name == "deposit_link_sent")
        assert deposit.contact_id == link.contact_id
        low, high = DEPOSIT_DAYS
        assert timedelta(days=low) <= deposit.timestamp - link.timestamp <= timedelta(days=high)
        late.append(deposit.timestamp - chat[-1].timestamp > window)
    assert any(late)  # some lapse: outside the goal's window, they count nowhere
    assert not all(late)  # most complete their booking through the window


def test_the_return_funnel_drops_off_at_each_step_in_every_flow(half: list[Item]) -> None:
    steps = reached(RETURNS, half)
    asked = steps["return_requested"]
    found, reason = steps["order_identified"], steps["reason_given"]
    label, exchange = steps["label_created"], steps["exchange_ordered"]
    flows = {item.conversation_id: item.flow_id for item in half}
    assert {flows[chat] for chat in asked} == set(FLOWS)
    assert share(found, asked) == pytest.approx(0.55, abs=0.12)  # a question about the policy, mostly
    assert share(reason, found) == pytest.approx(RETURN_SHARES["reason_given"], abs=0.12)
    assert share(label, reason) == pytest.approx(RETURN_SHARES["label"], abs=0.12)
    assert share(exchange, reason) == pytest.approx(RETURN_SHARES["exchange"], abs=0.12)
    assert not label & exchange
    failed = {
        item.conversation_id for item in half if item.name == "order_lookup" and not item.properties["found"]
    }
    assert failed - found  # a failed look-up counts nowhere
    assert failed & found  # some try again, and are found
