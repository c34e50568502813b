"""Which rows of `conversation_goal_rollups` a conversation counts in, from its marks (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from comerix.analytics.credits import ANY, credits, merged


def test_a_mark_counts_for_its_goal_and_attribution_and_under_any_attribution() -> None:
    assert credits({("g", "window"): False}) == {("g", "window"), ("g", ANY)}


def test_a_conversion_counts_for_any_goal_too() -> None:
    assert credits({("g", "window"): True}) == {("g", "window"), ("g", ANY), (ANY, "window"), (ANY, ANY)}


def test_two_attributions_of_one_goal_count_under_any_once() -> None:
    marks = {("g", "window"): False, ("g", "conversation"): True}
    assert credits(marks) == {
        ("g", "window"),
        ("g", "conversation"),
        ("g", ANY),
        (ANY, "conversation"),
        (ANY, ANY),
    }


def test_no_marks_count_nowhere() -> None:
    assert credits({}) == set()


def test_a_mark_becomes_a_conversion_and_never_stops_being_one() -> None:
    stored = {("g", "window"): True, ("h", "window"): False}
    assert merged(stored, {("g", "window"): False, ("h", "window"): True, ("k", "conversation"): False}) == {
        ("g", "window"): True,
        ("h", "window"): True,
        ("k", "conversation"): False,
    }
    assert stored == {("g", "window"): True, ("h", "window"): False}  # left as it was


marks = st.dictionaries(
    st.tuples(st.sampled_from(["g", "h", "k"]), st.sampled_from(["conversation", "window"])), st.booleans()
)


@given(first=marks, second=marks)
def test_adding_marks_only_ever_enters_rows(
    first: dict[tuple[str, str], bool], second: dict[tuple[str, str], bool]
) -> None:
    """What a conversation counts in grows as its marks do, and adding the same marks twice, or in
    the other order, ends in the same place: each row is entered once, whatever the order."""
    both = merged(first, second)
    assert credits(first) <= credits(both)
    assert merged(both, second) == both
    assert credits(merged(second, first)) == credits(both)
