"""Random hostile JSON at the Engine API, on each backend (issue 21): never a 5xx; a 202 stores exactly
what it acknowledged, a 4xx stores nothing.

The bodies are written as JSON text by `render`, not by a client library, so that they can hold what a
library would not write: lone surrogates as `\\udfff` escapes, numbers such as `1e-400`, `-0` or
`1e400` as they were typed, and nesting thousands of levels deep. Selected with `-m fuzz`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from comerix.auth.models import EngineKeyKind
from comerix.clock import FixedClock
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.schemas import GoalCreate
from comerix.telemetry.models import Event
from tests.factories import goal_body, make_engine_key, make_member

pytestmark = pytest.mark.fuzz
# `make test` runs a few hundred bodies; `make fuzz` asks for more.
EXAMPLES = int(os.environ.get("COMERIX_TEST_FUZZ_EXAMPLES", "400"))


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: a number as typed, or arrays and objects nested `levels` deep."""

    text: str


def nesting(levels: int, kind: str) -> Raw:
    if kind == "lists":
        return Raw("[" * levels + "]" * levels)
    return Raw('{"a":' * (levels - 1) + "{}" + "}" * (levels - 1))


def render(value: Any) -> str:
    """`value` as JSON text. Strings are escaped to ASCII, so a lone surrogate or a NUL character is
    sent as its `\\u` escape, as any client may write it."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{render(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(item) for item in value) + "]"
    return json.dumps(value)


HOSTILE_TEXT = ["\udfff", "\ud800", "a\udc00b", "\ud83d", "\x00", "k\x00", "", " ", "x" * 129]
FINE_TEXT = ["\U0001f600", "\u2028", "é", "=HYPERLINK(1)", "{[", "x" * 128]
fine_texts = st.text(max_size=12) | st.sampled_from(FINE_TEXT)  # (Hypothesis writes no surrogates)
texts = (
    fine_texts
    | st.sampled_from(HOSTILE_TEXT)
    | st.builds("".join, st.lists(st.text(max_size=3) | st.sampled_from(HOSTILE_TEXT), max_size=4))
)
FINE_NUMBERS = [
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-400",
    "-0",
    "-0.0",
    "0e0",
    "2.2250738585072014e-308",
    "4.9e-324",
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "123456789012345678901234567890",
    "-123456789012345678901234567890.5",
    "9" * 4300,  # the most digits Python turns into an integer by default
]
HOSTILE_NUMBERS = ["1e400", "-1e400", "9" * 4301]
fine_numbers = (
    st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(FINE_NUMBERS).map(Raw)
)
numbers = fine_numbers | st.sampled_from(HOSTILE_NUMBERS).map(Raw)
deep = st.builds(
    nesting,
    st.sampled_from([9, 100, 255, 256, 950, 1000, 1023, 1024, 1025, 5000, 100_000]),
    st.sampled_from(["lists", "objects"]),
)
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    scalars | deep,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
fine_values = st.recursive(  # what properties may hold: at most 8 levels, as `max_leaves` keeps it
    st.none() | st.booleans() | fine_numbers | fine_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(fine_texts, inner, max_size=3),
    max_leaves=6,
)


def stamp(moment: datetime) -> str:
    return moment.isoformat()


# Naive bounds, as Hypothesis wants them; the zones come apart.
EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001
LATEST = datetime(2026, 11, 2)  # noqa: DTZ001
zones = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=1)),
        timezone(timedelta(hours=-23, minutes=-59)),
        timezone(timedelta(hours=14)),
    ]
)
fine_timestamps = st.sampled_from(["2000-01-01T00:00:00Z", "2026-11-02T09:34:59+00:00"]) | st.builds(
    stamp, st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=zones)
)
timestamps = (
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00-23:59",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-23:59",
            "1999-12-31T23:59:59Z",
            "2026-02-30T10:00:00Z",
            "2026-11-01",
            "2026-11-01T10:00:00.1234567890Z",
        ]
    )
    | st.builds(stamp, st.datetimes(timezones=zones))  # from year 1 to 9999
    | json_values
)
# Finite and in range, with more decimal places than PostgreSQL's NUMERIC holds (16,383; the first
# three were a 500 there on every retry), the same written out (beyond 16 KiB of properties), and
# 5,000 significant digits.
EXTREME_AMOUNTS = ["1e-16384", "1E-20000", "0E-20000", "0." + "0" * 16383 + "1", "0." + "1" * 5000]
fine_ids = st.sampled_from(["c1", "c2", "ann", "bob", "x" * 128])
property_bags = st.fixed_dictionaries(
    {},
    optional={
        "total": fine_numbers
        | st.sampled_from(["129.50", "-1", "1e17", "9300000000000", "0.000001", "x", *EXTREME_AMOUNTS]),
        "currency": st.sampled_from(["EUR", "usd", "XXX", ""]),
        "plan": st.sampled_from(["premium", "basic"]),
    },
).flatmap(lambda bag: st.dictionaries(fine_texts, fine_values, max_size=3).map(lambda extra: extra | bag))
common = {
    "event_id": st.uuids().map(str),
    "timestamp": fine_timestamps,
    "conversation_id": fine_ids,
    "contact_id": fine_ids,
    "flow_id": fine_ids,
    "properties": property_bags,
}
fine_items = {
    "events": st.fixed_dictionaries(
        {"name": st.sampled_from(["purchase", "reply", "conversation_started"]) | fine_texts}, optional=common
    ),
    "conversions": st.fixed_dictionaries(
        {}, optional={"event": st.sampled_from(["purchase", "reply"]), **common}
    ).flatmap(
        lambda item: (
            st.just(item)
            if "event" in item
            else st.sampled_from(["lead", "reply", "nope"]).map(lambda goal: item | {"goal": goal})
        )
    ),
}
FIELDS = ["name", "event", "goal", "event_id", "timestamp", "conversation_id", "contact_id", "flow_id"]
hostile_fields = st.dictionaries(  # wrong values and types for any field, or a key of no field
    st.sampled_from([*FIELDS, "properties"]) | texts,
    st.sampled_from([None, "", 1]) | texts | json_values | timestamps,
    max_size=2,
) | st.fixed_dictionaries({"properties": json_values})


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(path, key kind, body): most items as a client means them, some with hostile fields, some
    bodies that are no such thing at all."""
    path = draw(st.sampled_from(["/events", "/conversions"]))
    key = draw(st.sampled_from(["public", "secret"]))
    plural = path.strip("/")
    item = st.builds(lambda fine, hostile: fine | hostile, fine_items[plural], st.just({}) | hostile_fields)
    body = draw(
        item
        | st.fixed_dictionaries({plural: st.lists(item, min_size=1, max_size=4)})
        | st.fixed_dictionaries({plural: json_values})
        | json_values
    )
    return path, key, body


def same(sent: Any, stored: Any) -> bool:
    """Whether a stored JSON value is the one sent. Numbers compare by value (PostgreSQL's JSONB keeps
    them as decimals: 1e308 comes back as an integer of 309 digits)."""
    if isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored
    if isinstance(sent, int | float) and isinstance(stored, int | float):
        if isinstance(sent, int) and isinstance(stored, int):
            return sent == stored
        return math.isclose(sent, stored, rel_tol=1e-15, abs_tol=0.0)
    if isinstance(sent, dict) and isinstance(stored, dict):
        return sent.keys() == stored.keys() and all(same(sent[key], stored[key]) for key in sent)
    if isinstance(sent, list) and isinstance(stored, list):
        return len(sent) == len(stored) and all(map(same, sent, stored))
    return bool(sent == stored)


def _every_extreme_amount(test: Any) -> Any:
    """Each extreme amount as the value of a sale, every run: drawn at random, they are rare."""
    for amount in EXTREME_AMOUNTS:
        sale = {"event": "purchase", "timestamp": "2026-11-02T09:30:00Z", "properties": {"total": amount}}
        test = example(request=("/conversions", "secret", sale))(test)
    return test


@pytest.fixture
def keys(client: TestClient, db: Database, clock: FixedClock) -> dict[str, str]:
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        found = {
            kind.value: make_engine_key(session, admin.workspace, clock.now(), kind) for kind in EngineKeyKind
        }
        for body in (
            goal_body(
                code="lead",
                trigger_event="purchase",
                value_mode="from_property",
                value_property="total",
                currency_property="currency",
            ),
            goal_body(code="reply", kind="engagement", trigger_event="reply"),
        ):
            goals.create(
                session, admin.workspace.id, GoalCreate(**body), actor=admin.principal, now=clock.now()
            )
    return found


def test_no_hostile_input_makes_the_engine_api_fail(
    client: TestClient, db: Database, clock: FixedClock, keys: dict[str, str]
) -> None:
    def counts() -> tuple[int, int]:
        with db.sessions() as session:
            events = session.scalar(select(func.count()).select_from(Event)) or 0
            outcomes = session.scalar(select(func.count()).select_from(Outcome)) or 0
            return int(events), int(outcomes)

    def stored_event(event_id: str) -> Event | None:
        with db.sessions() as session:
            return session.scalars(select(Event).where(Event.event_id == event_id)).one_or_none()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(request=requests())
    @_every_extreme_amount
    def answer_is_clear(request: tuple[str, str, Any]) -> None:
        path, key, body = request
        raw = render(body).encode()
        before = counts()
        headers = {"Authorization": f"Bearer {keys[key]}", "Content-Type": "application/json"}
        response = client.post(path, content=raw, headers=headers)
        assert response.status_code in {202, 400, 403, 413, 422}, response.text
        if response.status_code != 202:
            assert counts() == before, response.text
            assert {"code", "message", "details"} <= set(response.json()["error"])
            return
        answer = response.json()
        sent = json.loads(raw)  # a body the service read is JSON the standard library reads
        sent_items = sent.get(path.strip("/"), [sent])
        outcomes = sum(len(result["outcomes"]) for result in answer["results"])
        assert counts() == (before[0] + answer["accepted"], before[1] + outcomes)
        assert [result["index"] for result in answer["results"]] == list(range(len(sent_items)))
        for result in answer["results"]:
            item = sent_items[result["index"]]
            if result["status"] != "accepted" or not isinstance(item.get("event_id"), str):
                continue
            event = stored_event(item["event_id"])
            assert event is not None
            assert same(item.get("properties", {}), event.properties), (item, event.properties)
            assert datetime(2000, 1, 1, tzinfo=UTC) <= event.timestamp <= clock.now() + timedelta(minutes=5)

    answer_is_clear()
