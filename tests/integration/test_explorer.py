"""The Event Explorer's and the goal preview's reads on each backend: by arrival, from an index."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from comerix.clock import FixedClock
from comerix.telemetry.explorer import EventFilter, arrivals
from tests.factories import add_event, make_workspace
from tests.plans import query_plan

WORKSPACE = uuid.UUID(int=1)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        (None, "ix_events_workspace_id_received_at_id"),
        ("purchase", "ix_events_workspace_id_name_received_at_id"),
    ],
)
def test_arrivals_are_read_from_an_index_not_sorted(
    session: Session, clock: FixedClock, name: str | None, index: str
) -> None:
    """The newest 100 of 1,000,000 events: a few ms from the index (README, benchmark), seconds sorted."""
    plan = query_plan(
        session, arrivals(WORKSPACE, clock.now() - timedelta(days=30), EventFilter(name=name)).limit(100)
    )

    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # SQLite's sort
    assert "Sort" not in plan, plan  # PostgreSQL's


def test_arrivals_come_latest_first_whatever_the_events_own_time(session: Session, clock: FixedClock) -> None:
    now = clock.now()
    shop, other = make_workspace(session, now).id, make_workspace(session, now).id

    def arrive(workspace: uuid.UUID, name: str, minutes_ago: int, days_old: int = 0) -> None:
        received = now - timedelta(minutes=minutes_ago)
        add_event(
            session, workspace, None, received - timedelta(days=days_old), name=name, received_at=received
        )
        session.flush()  # one at a time: the time-ordered ids follow the order of the calls

    arrive(shop, "sale_reported_late", 1, days_old=10)
    arrive(shop, "page_viewed", 2)
    arrive(shop, "purchase", 3)  # sent in one request with the next: the one stored last comes first
    arrive(shop, "page_viewed", 3)
    arrive(shop, "page_viewed", 8 * 24 * 60)  # arrived before the 7 days
    arrive(other, "another_workspace", 0)

    week = now - timedelta(days=7)
    assert [e.name for e in session.scalars(arrivals(shop, week))] == [
        "sale_reported_late",
        "page_viewed",
        "page_viewed",
        "purchase",
    ]
    assert len(session.scalars(arrivals(shop, week - timedelta(days=2))).all()) == 5
    assert [
        e.received_at for e in session.scalars(arrivals(shop, week, EventFilter(name="page_viewed")))
    ] == [
        now - timedelta(minutes=2),
        now - timedelta(minutes=3),
    ]
