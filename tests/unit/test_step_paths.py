"""The Step Explorer's path tree (`analytics.step_paths.path_tree`, SPEC §10) on paths built by hand, and
held to a naive recomputation that follows one conversation at a time: no database."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comerix.analytics.step_paths import Direction, PathNode, PathTree, path_tree

Row = tuple[Sequence[str], int]

# A support flow: greet, ask (and ask again), then pay or go back and hand off to a human.
FLOW: list[Row] = [
    (("greet", "ask", "pay"), 4),
    (("greet", "ask", "ask", "pay"), 2),  # a loop: asked twice
    (("greet", "ask", "greet", "handoff"), 1),  # back to the greeting, then a human
    (("greet",), 2),  # left after the greeting
    (("faq", "ask", "pay"), 1),
]


def node(step: str | None, conversations: int, share: str, drop_off: int, *children: PathNode) -> PathNode:
    return PathNode(step, conversations, Decimal(share), drop_off, children)


def shape(nodes: Sequence[PathNode]) -> list[object]:
    """The nodes as plain values, shares as written (equal Decimals may differ in places: 0.5 vs 0.5000)."""
    return [(n.step, n.conversations, str(n.share), n.drop_off, shape(n.children)) for n in nodes]


def assert_tree(tree: PathTree, conversations: int, *nodes: PathNode) -> None:
    assert tree.conversations == conversations
    assert shape(tree.nodes) == shape(nodes)


def test_forward_from_the_first_steps_follows_each_conversation_loops_included() -> None:
    assert_tree(
        path_tree(FLOW),
        10,
        node(
            "greet", 9, "0.9000", 2,
            node(
                "ask", 7, "0.7778", 0,
                node("pay", 4, "0.5714", 4),
                node("ask", 2, "0.2857", 0, node("pay", 2, "1.0000", 2)),
                node("greet", 1, "0.1429", 0, node("handoff", 1, "1.0000", 1)),
            ),
        ),
        node("faq", 1, "0.1000", 0, node("ask", 1, "1.0000", 0, node("pay", 1, "1.0000", 1))),
    )  # fmt: skip


def test_forward_from_a_step_counts_from_its_first_execution() -> None:
    # The conversations that asked twice count once, from their first ask; the second is a child.
    assert_tree(
        path_tree(FLOW, start="ask"),
        8,
        node(
            "ask", 8, "1.0000", 0,
            node("pay", 5, "0.6250", 5),
            node("ask", 2, "0.2500", 0, node("pay", 2, "1.0000", 2)),
            node("greet", 1, "0.1250", 0, node("handoff", 1, "1.0000", 1)),
        ),
    )  # fmt: skip


def test_backward_from_a_step_goes_to_the_steps_before_it_nearest_first() -> None:
    # Those who never paid (the handoff, the greeting alone) do not count.
    assert_tree(
        path_tree(FLOW, start="pay", direction=Direction.BACKWARD),
        7,
        node(
            "pay", 7, "1.0000", 0,
            node(
                "ask", 7, "1.0000", 0,
                node("greet", 4, "0.5714", 4),
                node("ask", 2, "0.2857", 0, node("greet", 2, "1.0000", 2)),
                node("faq", 1, "0.1429", 1),
            ),
        ),
    )  # fmt: skip


def test_backward_from_a_step_starts_at_its_first_execution() -> None:
    # greet, ask, greet, handoff: back from the first greet there is nothing before it.
    assert_tree(
        path_tree([(("greet", "ask", "greet", "handoff"), 1)], start="greet", direction=Direction.BACKWARD),
        1,
        node("greet", 1, "1.0000", 1),
    )


def test_backward_without_a_start_begins_at_the_last_steps() -> None:
    assert_tree(
        path_tree(FLOW, direction=Direction.BACKWARD, depth=2),
        10,
        node("pay", 7, "0.7000", 0, node("ask", 7, "1.0000", 0)),
        node("greet", 2, "0.2000", 2),
        node("handoff", 1, "0.1000", 0, node("greet", 1, "1.0000", 0)),
    )


def test_contains_keeps_the_conversations_that_executed_the_step_anywhere() -> None:
    assert_tree(
        path_tree(FLOW, contains="handoff"),
        1,
        node("greet", 1, "1.0000", 0, node("ask", 1, "1.0000", 0, node("greet", 1, "1.0000", 0,
             node("handoff", 1, "1.0000", 1)))),
    )  # fmt: skip
    # Before the start too: only the conversation that began with the FAQ, counted from its ask.
    assert_tree(
        path_tree(FLOW, start="ask", contains="faq"),
        1,
        node("ask", 1, "1.0000", 0, node("pay", 1, "1.0000", 1)),
    )


def test_depth_one_shows_the_roots_alone() -> None:
    # faq has no drop-off: its conversation goes on past the only level.
    assert_tree(path_tree(FLOW, depth=1), 10, node("greet", 9, "0.9000", 2), node("faq", 1, "0.1000", 0))


def test_walks_going_on_past_the_last_level_do_not_drop_off_there() -> None:
    assert_tree(
        path_tree(FLOW, depth=2),
        10,
        node("greet", 9, "0.9000", 2, node("ask", 7, "0.7778", 0)),
        node("faq", 1, "0.1000", 0, node("ask", 1, "1.0000", 0)),
    )


def test_past_the_breadth_the_rest_fold_into_one_node_without_a_step() -> None:
    # Last steps: pay 7, then greet 2 (both left after the greeting: no step before) and handoff 1.
    assert_tree(
        path_tree(FLOW, direction=Direction.BACKWARD, breadth=1),
        10,
        node("pay", 7, "0.7000", 0, node("ask", 7, "1.0000", 0,
             node("greet", 4, "0.5714", 4), node(None, 3, "0.4286", 1))),
        node(None, 3, "0.3000", 2),
    )  # fmt: skip


def test_the_folded_node_comes_last_even_when_it_is_the_largest() -> None:
    rows: list[Row] = [(("x",), 3), (("y",), 2), (("z",), 2)]
    assert_tree(path_tree(rows, breadth=1), 7, node("x", 3, "0.4286", 3), node(None, 4, "0.5714", 4))


def test_ties_go_by_step_id_and_a_single_leftover_folds_too() -> None:
    rows: list[Row] = [(("b",), 1), (("c",), 1), (("a",), 1)]
    assert_tree(
        path_tree(rows, breadth=2),
        3,
        node("a", 1, "0.3333", 1),
        node("b", 1, "0.3333", 1),
        node(None, 1, "0.3333", 1),
    )


def test_shares_are_rounded_to_four_places_half_even() -> None:
    # 1/32 = 0.03125 and 3/32 = 0.09375: halves, to the even neighbour.
    rows: list[Row] = [(("a",), 1), (("b",), 3), (("c",), 28)]
    shares = {n.step: str(n.share) for n in path_tree(rows).nodes}
    assert shares == {"c": "0.8750", "b": "0.0938", "a": "0.0312"}


def test_rows_of_the_same_path_add_up() -> None:
    days: list[Row] = [(("greet", "ask"), 2), (["greet", "ask"], 3)]
    assert path_tree(days) == path_tree([(("greet", "ask"), 5)])


def test_nothing_to_count_gives_an_empty_tree() -> None:
    empty = PathTree(0, ())
    assert path_tree([]) == empty
    assert path_tree([((), 4)]) == empty  # conversations without a step count nowhere
    assert path_tree(FLOW, start="checkout") == empty  # a step no conversation executed
    assert path_tree(FLOW, contains="checkout") == empty
    assert path_tree([(("greet",), 0)]) == empty


@pytest.mark.parametrize(
    ("depth", "breadth", "refused"), [(0, 10, "depth"), (11, 10, "depth"), (5, 0, "breadth")]
)
def test_depth_and_breadth_out_of_bounds_are_refused(depth: int, breadth: int, refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        path_tree(FLOW, depth=depth, breadth=breadth)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="-1 conversations"):
        path_tree([(("greet",), -1)])


# --- Against a naive recomputation -------------------------------------------------------------------

STEPS = ("a", "b", "c", "d")
paths = st.lists(st.sampled_from(STEPS), max_size=7)  # empty, one step, repeats and loops
some_rows = st.lists(st.tuples(paths, st.integers(1, 4)), max_size=12)
step_or_none = st.none() | st.sampled_from((*STEPS, "z"))  # "z": executed by no conversation
depths = st.integers(1, 10)
breadths = st.integers(1, 3)
directions = st.sampled_from(Direction)


def naive_tree(
    rows: Sequence[Row],
    start: str | None,
    direction: Direction,
    contains: str | None,
    depth: int,
    breadth: int,
) -> PathTree:
    """Each conversation on its own: its whole walk from the root, then the nodes level by level."""
    walks = []
    for path, conversations in rows:
        for _ in range(conversations):
            steps = list(path)
            if not steps or (contains is not None and contains not in steps):
                continue
            if start is None:
                walk = steps if direction is Direction.FORWARD else steps[::-1]
            elif start in steps:
                first = steps.index(start)
                walk = steps[first:] if direction is Direction.FORWARD else steps[: first + 1][::-1]
            else:
                continue
            walks.append(walk)
    return PathTree(len(walks), naive_level(walks, 0, len(walks), depth, breadth))


def naive_level(
    walks: list[list[str]], level: int, whole: int, depth: int, breadth: int
) -> tuple[PathNode, ...]:
    """The nodes at `level` of walks that all reach it."""
    nodes = []
    for step in sorted({walk[level] for walk in walks}):
        through = [walk for walk in walks if walk[level] == step]
        ending = [walk for walk in through if len(walk) == level + 1]
        going_on = [walk for walk in through if len(walk) > level + 1]
        children = naive_level(going_on, level + 1, len(through), depth, breadth) if level + 1 < depth else ()
        nodes.append(PathNode(step, len(through), naive_share(len(through), whole), len(ending), children))
    nodes.sort(key=lambda n: -n.conversations)  # stable: ties stay in step order
    shown, folded = nodes[:breadth], nodes[breadth:]
    if folded:
        conversations = sum(n.conversations for n in folded)
        drop_off = sum(n.drop_off for n in folded)
        shown.append(PathNode(None, conversations, naive_share(conversations, whole), drop_off, ()))
    return tuple(shown)


def naive_share(part: int, whole: int) -> Decimal:
    return Decimal(round(Fraction(part, whole) * 10_000)).scaleb(-4)  # round() on a Fraction: half even


@given(some_rows, step_or_none, directions, step_or_none, depths, breadths)
def test_the_tree_is_the_naive_count_of_one_conversation_at_a_time(
    rows: list[Row], start: str | None, direction: Direction, contains: str | None, depth: int, breadth: int
) -> None:
    tree = path_tree(rows, start=start, direction=direction, contains=contains, depth=depth, breadth=breadth)
    expected = naive_tree(rows, start, direction, contains, depth, breadth)
    assert tree.conversations == expected.conversations
    assert shape(tree.nodes) == shape(expected.nodes)


@given(some_rows, step_or_none, directions, step_or_none, depths, breadths, st.data())
def test_the_tree_does_not_depend_on_how_the_rows_are_cut(
    rows: list[Row],
    start: str | None,
    direction: Direction,
    contains: str | None,
    depth: int,
    breadth: int,
    data: st.DataObject,
) -> None:
    totals: dict[tuple[str, ...], int] = {}
    for path, conversations in rows:
        totals[tuple(path)] = totals.get(tuple(path), 0) + conversations
    aggregated: list[Row] = list(totals.items())
    expanded: list[Row] = [(path, 1) for path, conversations in rows for _ in range(conversations)]
    split: list[Row] = []
    for path, conversations in rows:
        part = data.draw(st.integers(1, conversations))
        split += [(path, part), (path, conversations - part)] if part < conversations else [(path, part)]

    def tree(cut: list[Row]) -> PathTree:
        return path_tree(
            cut, start=start, direction=direction, contains=contains, depth=depth, breadth=breadth
        )

    expected = tree(rows)
    for cut in (aggregated, expanded, data.draw(st.permutations(expanded)), split[::-1]):
        assert tree(cut) == expected
