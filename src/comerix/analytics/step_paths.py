"""The Step Explorer's path tree (SPEC §10): a pure fold from conversations' step paths to nested counts.

The service keeps, per day, one row per distinct (flow, path) with its number of conversations; the report
reads the rows of a range and hands `path_tree` their `(path, conversations)` pairs. A path is the step ids
a conversation executed, in order, loops and repeats kept. Rows with the same path are added up. Labels
(and the label "other") are the caller's: this module speaks in step ids only.

Definitions (held by tests/unit/test_step_paths.py against a naive recomputation, one conversation at a
time):
- a conversation's walk: forward, its path from the first step; backward, its path from the last step
  back to the first (the mirror image of forward). With `start`, only conversations that executed it
  count, and the walk begins at its first execution: forward, the steps after it; backward, the steps
  before it, nearest first. The roots are the walks' first steps (with `start`, that step alone);
- `contains` keeps the conversations that executed that step anywhere in their path, before `start`
  too; a conversation with an empty path counts nowhere;
- a node's `conversations`: the walks that pass through it; `drop_off`: those that end there. A walk
  that goes on beyond the last level (`depth` levels, the roots' included) does not drop off on it;
- `share`: of the parent's conversations, of all counted conversations for a root; to 4 decimal
  places, half even, exactly; 0 when the whole is 0;
- children (and roots) in order of conversations, most first, ties by step id; past `breadth` of them,
  the rest fold into one node without a step, last whatever its size, that sums their conversations and
  drop-offs and has no children (its walks went different ways). A single leftover folds too, so "other"
  always means "beyond the most frequent `breadth`".

The walks are cut to `depth + 1` steps (enough to tell whether one ends within the tree), added up by
walk, and sorted: the walks through any node are then one run of that list, found by bisection, and
prefix sums give a run's conversations. The cost follows the nodes shown, not the conversations, and
walks under a folded node are never looked at again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import accumulate
from operator import itemgetter
from typing import NamedTuple

from comerix.analytics.goal_fold import rate  # the goals report's shares: 4 places, half even

MAX_DEPTH = 10
DEFAULT_DEPTH = 5
DEFAULT_BREADTH = 10


class Direction(StrEnum):
    """Which way the walks go from the roots: to the steps after them, or to the steps before."""

    FORWARD = "forward"
    BACKWARD = "backward"


@dataclass(frozen=True, slots=True)
class PathNode:
    """A step at one level of the tree, reached by the walks of its ancestors' steps."""

    step: str | None  # None for the folded "other" node
    conversations: int
    share: Decimal
    drop_off: int
    children: tuple[PathNode, ...]


@dataclass(frozen=True, slots=True)
class PathTree:
    """The Step Explorer's answer before labels: the roots, and how many conversations they share."""

    conversations: int  # the conversations counted, after the filters
    nodes: tuple[PathNode, ...]  # the roots


Walk = tuple[str, ...]


class _Run(NamedTuple):
    """The sorted walks [lo, hi) that take `step` at one level: one node before folding."""

    conversations: int
    step: str
    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class _SortedWalks:
    """The distinct walks in lexicographic order, so that the walks through a node are one run of them."""

    walks: list[Walk]
    before: list[int]  # before[i]: the conversations of walks[:i]
    depth: int
    breadth: int

    def conversations(self, lo: int, hi: int) -> int:
        return self.before[hi] - self.before[lo]

    def nodes(self, lo: int, hi: int, level: int, whole: int) -> tuple[PathNode, ...]:
        """The nodes at `level` (0: the roots) of walks[lo:hi], which share their first `level` steps and
        go on beyond them; `whole`: the conversations of their parent."""
        runs = self._runs(lo, hi, level)
        shown = [self._node(run, level, whole) for run in runs[: self.breadth]]
        folded = runs[self.breadth :]
        if folded:
            conversations = sum(run.conversations for run in folded)
            drop_off = sum(self._drop_off(run, level) for run in folded)
            shown.append(PathNode(None, conversations, rate(conversations, whole), drop_off, ()))
        return tuple(shown)

    def _runs(self, lo: int, hi: int, level: int) -> list[_Run]:
        """walks[lo:hi] by their step at `level`, most conversations first, ties by step id."""
        step_at = itemgetter(level)
        runs = []
        while lo < hi:
            step = self.walks[lo][level]
            end = bisect_right(self.walks, step, lo, hi, key=step_at)
            runs.append(_Run(self.conversations(lo, end), step, lo, end))
            lo = end
        runs.sort(key=lambda run: (-run.conversations, run.step))
        return runs

    def _node(self, run: _Run, level: int, whole: int) -> PathNode:
        ends = self._ends_at(run, level)
        onward = run.lo + 1 if ends else run.lo  # the walks that go on past this node
        deeper = level + 1 < self.depth and onward < run.hi
        children = self.nodes(onward, run.hi, level + 1, run.conversations) if deeper else ()
        drop_off = self.conversations(run.lo, onward)
        return PathNode(run.step, run.conversations, rate(run.conversations, whole), drop_off, children)

    def _drop_off(self, run: _Run, level: int) -> int:
        return self.conversations(run.lo, run.lo + 1) if self._ends_at(run, level) else 0

    def _ends_at(self, run: _Run, level: int) -> bool:
        """Whether a walk ends at the run's node: the walk that is exactly the node's steps sorts before
        the longer ones, so it can only be the run's first (the walks are distinct)."""
        return len(self.walks[run.lo]) == level + 1


def path_tree(
    paths: Iterable[tuple[Sequence[str], int]],
    *,
    start: str | None = None,
    direction: Direction = Direction.FORWARD,
    contains: str | None = None,
    depth: int = DEFAULT_DEPTH,
    breadth: int = DEFAULT_BREADTH,
) -> PathTree:
    """The tree of the conversations' walks (see the module's docstring), `depth` levels deep."""
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be 1 to {MAX_DEPTH}, not {depth}")
    if breadth < 1:
        raise ValueError(f"breadth must be at least 1, not {breadth}")
    counted: dict[Walk, int] = {}
    for path, conversations in paths:
        if conversations < 0:
            raise ValueError(f"a path cannot have {conversations} conversations")
        if not conversations or (contains is not None and contains not in path):
            continue
        walk = _walk(path, start, direction, depth)
        if walk:
            counted[walk] = counted.get(walk, 0) + conversations
    walks = sorted(counted)
    before = [0, *accumulate(map(counted.__getitem__, walks))]
    total = before[-1]
    return PathTree(total, _SortedWalks(walks, before, depth, breadth).nodes(0, len(walks), 0, total))


def _walk(path: Sequence[str], start: str | None, direction: Direction, depth: int) -> Walk:
    """The conversation's walk from its root, cut to `depth + 1` steps; empty when it does not count."""
    if not path:
        return ()
    if start is None:
        first = 0 if direction is Direction.FORWARD else len(path) - 1
    elif start in path:
        first = path.index(start)
    else:
        return ()
    if direction is Direction.FORWARD:
        return tuple(path[first : first + depth + 1])
    return tuple(path[max(first - depth, 0) : first + 1][::-1])
