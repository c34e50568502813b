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
