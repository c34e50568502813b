"""The 202 answer is written by orjson (`IngestResult.to_json`), for speed; it must be byte for byte what
pydantic writes for the same type, which is what the OpenAPI document describes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from comerix.telemetry.schemas import IngestResult, ItemResult, OutcomeRead
from comerix.vocabulary import GoalKind, Source

PYDANTIC = TypeAdapter(IngestResult)
text = st.none() | st.text(max_size=8)
moments = st.builds(
    lambda moment, minutes: moment.replace(
        tzinfo=UTC if minutes == 0 else timezone(timedelta(minutes=minutes))
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),  # noqa: DTZ001 - naive bounds, as Hypothesis wants
    st.sampled_from([0, 0, 60, -300, 345, 825]),
)
amounts = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=None)
outcomes = st.builds(
    OutcomeRead,
    id=st.uuids().map(str),
    goal=st.text(min_size=1, max_size=8),
    kind=st.sampled_from(GoalKind),
    occurred_at=moments,
    value=amounts,
    currency=text,
    base_value=amounts,
    base_currency=text,
    value_error=text,
    attribution=st.sampled_from(["conversation", "window", "none"]),
    conversation_id=text,
    flow_id=text,
    contact_id=text,
    source=st.sampled_from(Source),
)
items = st.builds(
    ItemResult,
    index=st.integers(0, 499),
    event_id=text,
    status=st.sampled_from(["accepted", "duplicate", "ignored"]),
    reason=text,
    outcomes=st.lists(outcomes, max_size=3),
)


@given(
    st.builds(
        IngestResult,
        accepted=st.integers(0, 500),
        duplicates=st.integers(0, 500),
        results=st.lists(items, max_size=4),
    )
)
def test_the_answer_is_written_as_pydantic_writes_it(answer: IngestResult) -> None:
    assert answer.to_json() == PYDANTIC.dump_json(answer)
