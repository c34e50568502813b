"""How PostgreSQL's Conversation Explorer chooses to find a step's chats (`contains_step.plan_for`):
by what each plan reads, from the catalogue's counts."""

from __future__ import annotations

import pytest

from comerix.analytics.contains_step import LOOKUP_COST, Plan, StepWeight, plan_for

PAGE = 50


@pytest.mark.parametrize(
    ("ever", "since_start", "within", "started", "expected"),
    [
        (5, 0, 0, 1_000_000, Plan.NONE),  # executed before the range only: no chat of it holds the step
        (2_200, 2_200, 2_200, 1_000_000, Plan.LOOKUP),  # rare: a walk reads about 23,000 chats
        (250_000, 250_000, 250_000, 1_000_000, Plan.WALK),  # common: a page in about 200 chats
        (50_000, 5_000, 5_000, 1_000_000, Plan.WALK),  # the paths of other times would cost the lookup
        (5_000, 5_000, 0, 100_000, Plan.LOOKUP),  # none within the range: a walk would read all of it
        (5_000, 100, 0, 100_000, Plan.LOOKUP),  # held since, after the range's days only
        (3, 3, 3, 0, Plan.WALK),  # no chat counted as started: nothing to walk
    ],
)
def test_the_plan_weighs_what_each_plan_reads(
    ever: int, since_start: int, within: int, started: int, expected: Plan
) -> None:
    assert plan_for(StepWeight(ever, since_start, within, started), PAGE) is expected


def test_the_plans_cross_where_they_cost_alike() -> None:
    """At 1,000,000 chats, a step 1 chat in 270 executed: the lookup reads 3 times 3,700 paths, the
    walk about 13,500 chats; a little commoner and the walk reads less."""
    held = 3_700
    assert LOOKUP_COST * held < PAGE * 1_000_000 / held
    assert plan_for(StepWeight(held, held, held, 1_000_000), PAGE) is Plan.LOOKUP
    assert plan_for(StepWeight(4_200, 4_200, 4_200, 1_000_000), PAGE) is Plan.WALK
