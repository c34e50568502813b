"""Attribution (SPEC §3): inclusive window edges, the chat that started last wins, later chats never count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from comerix.conversions.attribution import (
    Attribution,
    AttributionKind,
    Candidate,
    attribute,
    choose,
    window_start,
)

OUTCOME = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def chat(name: str, started: timedelta, last: timedelta, flow: str | None = "f") -> Candidate:
    """A conversation that started and was last active `started`/`last` before the outcome."""
    return Candidate(name, flow, OUTCOME - started, OUTCOME - last)


def test_monday_chat_thursday_purchase_is_credited() -> None:
    monday = chat("monday", 3 * 24 * HOUR, 3 * 24 * HOUR - HOUR, flow="sales")
    assert attribute(conversation=None, contact_candidates=[monday], at=OUTCOME, window_hours=168) == (
        Attribution(AttributionKind.WINDOW, "monday", "sales")
    )


def test_ten_days_later_is_not_attributed() -> None:
    old = chat("old", 10 * 24 * HOUR, 10 * 24 * HOUR)
    assert attribute(conversation=None, contact_candidates=[old], at=OUTCOME, window_hours=168) == (
        Attribution(AttributionKind.NONE)
    )


def test_window_edges_are_inclusive() -> None:
    assert choose([chat("edge", 200 * HOUR, 168 * HOUR)], OUTCOME, 168) is not None
    assert choose([chat("past", 200 * HOUR, 168 * HOUR + timedelta(microseconds=1))], OUTCOME, 168) is None
    assert choose([chat("same", timedelta(0), timedelta(0))], OUTCOME, 1) is not None


def test_the_chat_that_started_last_wins() -> None:
    first = chat("first", 50 * HOUR, 1 * HOUR)  # most recently active, but started earlier
    second = chat("second", 20 * HOUR, 19 * HOUR)
    assert choose([first, second], OUTCOME, 168) == second


def test_chats_that_started_after_the_outcome_never_count() -> None:
    later = chat("later", -HOUR, -2 * HOUR)
    earlier = chat("earlier", 30 * HOUR, 29 * HOUR)
    assert choose([later, earlier], OUTCOME, 168) == earlier
    assert choose([later], OUTCOME, 168) is None


def test_a_chat_still_going_at_the_outcome_is_a_candidate() -> None:
    ongoing = chat("ongoing", HOUR, -HOUR)
    assert choose([ongoing], OUTCOME, 1) == ongoing


def test_each_goal_uses_its_own_window() -> None:
    two_days = chat("c", 49 * HOUR, 48 * HOUR)
    assert choose([two_days], OUTCOME, 24) is None
    assert choose([two_days], OUTCOME, 48) == two_days


def test_a_named_conversation_wins_whatever_the_window() -> None:
    own = chat("own", 900 * HOUR, 900 * HOUR, flow="support")
    other = chat("other", HOUR, HOUR)
    assert attribute(conversation=own, contact_candidates=[other], at=OUTCOME, window_hours=1) == (
        Attribution(AttributionKind.CONVERSATION, "own", "support")
    )


def test_no_contact_no_candidates() -> None:
    assert attribute(conversation=None, contact_candidates=[], at=OUTCOME, window_hours=168).kind is (
        AttributionKind.NONE
    )


def test_ties_on_start_are_broken_by_conversation_id() -> None:
    a, b = chat("a", 5 * HOUR, HOUR), chat("b", 5 * HOUR, HOUR)
    assert choose([a, b], OUTCOME, 168) == b
    assert choose([b, a], OUTCOME, 168) == b


def test_a_window_reaching_before_year_one_is_no_overflow() -> None:
    """Defence in depth: the API refuses such times (SPEC §4), but the arithmetic must not fail on them."""
    dawn = datetime(1, 1, 1, tzinfo=UTC)
    first = Candidate("first", "f", dawn, dawn + HOUR)
    assert choose([first], dawn + HOUR, 8760) == first
    assert window_start(dawn, timedelta(hours=8760)) == dawn
    assert window_start(OUTCOME, 2 * HOUR) == OUTCOME - 2 * HOUR
