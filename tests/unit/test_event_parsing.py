"""The pure checks of an Engine API item (SPEC §4), at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from comerix.errors import Invalid
from comerix.telemetry.schemas import MAX_PROPERTIES_BYTES, parse_conversions, parse_events

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def nested(levels: int) -> dict[str, Any]:
    """Properties whose objects nest `levels` deep, the properties object itself being the first."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def fields(body: Any) -> list[tuple[int | None, str]]:
    with pytest.raises(Invalid) as refused:
        parse_events(body, NOW)
    return [(d.get("index"), d["field"]) for d in refused.value.details]


def test_nesting_up_to_eight_levels_is_fine() -> None:
    assert parse_events({"name": "x", "properties": nested(8)}, NOW)[0].properties == nested(8)
    assert parse_events({"name": "x", "properties": {"l": [[[[[[[1]]]]]]]}}, NOW)
    assert fields({"name": "x", "properties": nested(9)}) == [(0, "properties")]
    assert fields({"name": "x", "properties": {"l": [[[[[[[[1]]]]]]]]}}) == [(0, "properties")]
    # many brackets, few levels: in strings, or side by side
    assert parse_events({"name": "x", "properties": {"s": "{[" * 20, "l": [{"a": [1]}] * 20}}, NOW)
    assert fields({"name": "x", "properties": {"s": "{[" * 20, **nested(9)}}) == [(0, "properties")]


def test_properties_up_to_16_kib_serialized() -> None:
    filler = "x" * (MAX_PROPERTIES_BYTES - len('{"a":""}'))
    assert parse_events({"name": "x", "properties": {"a": filler}}, NOW)[0].properties_json == (
        f'{{"a":"{filler}"}}'
    )
    assert fields({"name": "x", "properties": {"a": filler + "x"}}) == [(0, "properties")]


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00.123+02:00",
        "2026-11-21t10:00:00z",
        "2026-11-21 06:00:00-05:00",
        "2026-11-21T12:05:00Z",
    ],
)
def test_rfc_3339_timestamps_with_an_offset(stamp: str) -> None:
    assert parse_events({"name": "x", "timestamp": stamp}, NOW)[0].timestamp.tzinfo is not None


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-21T10:00:00",
        "2026-11-21",
        "1700000000",
        "2026-02-30T10:00:00Z",
        "2026-11-21T12:05:01Z",
        "tomorrow",
    ],
)
def test_other_timestamps_are_refused(stamp: str) -> None:
    assert fields({"name": "x", "timestamp": stamp}) == [(0, "timestamp")]


def test_a_missing_timestamp_is_the_time_received() -> None:
    assert parse_events({"name": "x"}, NOW)[0].timestamp == NOW
    assert parse_events({"name": "x", "timestamp": (NOW - timedelta(days=400)).isoformat()}, NOW)


def test_a_conversion_names_an_event_or_a_goal_but_not_both() -> None:
    assert parse_conversions({"event": "purchase"}, NOW)[0].name == "purchase"
    assert parse_conversions({"goal": "lead"}, NOW)[0].goal_code == "lead"
    for body in ({}, {"event": "purchase", "goal": "lead"}):
        with pytest.raises(Invalid) as refused:
            parse_conversions(body, NOW)
        assert refused.value.details[0]["field"] == "event"


# Hostile input (issue 21, items 4 to 6): each a 422 naming the field, never an exception of another kind.


@pytest.mark.parametrize(
    "stamp",
    [
        "2000-01-01T00:00:00Z",  # the first moment accepted
        "2000-01-01T01:00:00+01:00",  # the same moment
        "1999-12-31T19:00:00-05:00",  # and again
        "2026-11-21T12:05:00Z",  # the last (now + 5 minutes)
    ],
)
def test_timestamps_from_2000_to_five_minutes_ahead_are_accepted(stamp: str) -> None:
    assert parse_events({"name": "x", "timestamp": stamp}, NOW)[0].timestamp == datetime.fromisoformat(stamp)
    assert parse_conversions({"event": "x", "timestamp": stamp, "contact_id": "ann"}, NOW)


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: no codec can write it
        "0001-01-01T00:00:00Z",  # a window of hours before it is before year 1
        "0001-01-01T00:00:00-23:59",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:00:00+01:00",  # 1999-12-31T23:00:00Z
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
        "2026-11-21T12:05:00.000001Z",
    ],
)
def test_timestamps_outside_the_range_are_refused(stamp: str) -> None:
    assert fields({"name": "x", "timestamp": stamp}) == [(0, "timestamp")]
    with pytest.raises(Invalid) as refused:
        parse_conversions({"conversions": [{"event": "x", "timestamp": stamp, "contact_id": "ann"}]}, NOW)
    assert [(d.get("index"), d["field"]) for d in refused.value.details] == [(0, "timestamp")]


def test_the_refusal_of_a_timestamp_out_of_range_says_the_range() -> None:
    with pytest.raises(Invalid) as refused:
        parse_events({"name": "x", "timestamp": "0001-01-01T00:00:00Z"}, NOW)
    assert "2000-01-01T00:00:00Z" in refused.value.details[0]["message"]


SURROGATE = "\udfff"


@pytest.mark.parametrize(
    "properties",
    [
        {SURROGATE: 1},
        {"a": SURROGATE},
        {"a": "text" + SURROGATE + "text"},
        {"a": [1, {"b": ["x", SURROGATE]}]},
        {"a": {"b": {SURROGATE + "k": None}}},
        {"big": 2**70, "a": SURROGATE},  # an integer beyond 64 bits: written by the standard library
        {"a": "\ud83d"},  # a high surrogate alone
    ],
)
def test_a_lone_surrogate_in_the_properties_is_refused(properties: dict[str, Any]) -> None:
    assert fields({"name": "x", "properties": properties}) == [(0, "properties")]
    with pytest.raises(Invalid) as refused:
        parse_conversions({"event": "x", "properties": properties}, NOW)
    assert [d["field"] for d in refused.value.details] == ["properties"]


def test_a_surrogate_pair_is_one_character_and_fine() -> None:
    assert parse_events({"name": "x", "properties": {"emoji": "\U0001f600"}}, NOW)[0].properties_json == (
        '{"emoji":"\U0001f600"}'
    )


@pytest.mark.parametrize(
    "field", ["name", "event_id", "timestamp", "conversation_id", "contact_id", "flow_id"]
)
def test_a_lone_surrogate_in_any_event_field_is_refused(field: str) -> None:
    assert fields({"name": "x", field: "a" + SURROGATE}) == [(0, field)]


@pytest.mark.parametrize("field", ["event", "goal", "event_id", "contact_id"])
def test_a_lone_surrogate_in_any_conversion_field_is_refused(field: str) -> None:
    body = {"event": "x"} if field != "event" else {}
    with pytest.raises(Invalid) as refused:
        parse_conversions({**body, field: SURROGATE}, NOW)
    assert refused.value.details[0]["field"] == field


def nested_lists(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [9, 100, 256, 950, 1000, 1023, 5000, 100_000])
def test_properties_nested_beyond_eight_levels_are_refused_at_any_depth(levels: int) -> None:
    assert fields({"name": "x", "properties": nested(levels)}) == [(0, "properties")]
    assert fields({"name": "x", "properties": {"l": nested_lists(levels - 1)}}) == [(0, "properties")]
    # with an integer beyond 64 bits, which the standard library writes
    assert fields(
        {"events": [{"name": "x"}, {"name": "x", "properties": {"n": 2**70, **nested(levels)}}]}
    ) == [(1, "properties")]
