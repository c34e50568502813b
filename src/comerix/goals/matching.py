"""Matching an event against a goal's conditions: pure functions, no I/O (SPEC §1, Matching).

Equality is JSON equality: numbers compare numerically (`1 == 1.0`), strings exactly, booleans only
with booleans (`true != 1`, `true != "true"`), null only with null, and nothing is coerced
(`"1" != 1`). A key is a property path: `order.plan` reads `properties["order"]["plan"]`; a key that
itself contains a dot is tried first, at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MISSING: Any = object()
"""What `read_path` returns when the path leads nowhere (distinct from a JSON null)."""


def read_path(properties: Mapping[str, Any], path: str) -> Any:
    """The value at `path` in `properties`, or `MISSING`."""
    if path in properties:
        return properties[path]
    dot = path.find(".")
    while dot != -1:
        head = properties.get(path[:dot], MISSING)
        if isinstance(head, Mapping):
            found = read_path(head, path[dot + 1 :])
            if found is not MISSING:
                return found
        dot = path.find(".", dot + 1)
    return MISSING


def json_equal(left: Any, right: Any) -> bool:
    """Equality of two JSON scalars as SPEC §1 defines it."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is None and right is None


def first_failure(conditions: Mapping[str, Any], properties: Mapping[str, Any]) -> str | None:
    """The first condition key that `properties` do not satisfy, or None when all hold."""
    for path, expected in conditions.items():
        actual = read_path(properties, path)
        if actual is MISSING or not json_equal(actual, expected):
            return path
    return None


def failures(conditions: Mapping[str, Any], properties: Mapping[str, Any]) -> list[str]:
    """Every condition key that `properties` do not satisfy, in the goal's order."""
    return [
        path
        for path, expected in conditions.items()
        if (actual := read_path(properties, path)) is MISSING or not json_equal(actual, expected)
    ]


def matches(conditions: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    """True when every condition holds; an empty set of conditions always holds."""
    return first_failure(conditions, properties) is None


def scalar_key(value: Any) -> tuple[Any, ...] | None:
    """A hashable key under which two JSON scalars are equal exactly when `json_equal` says they are
    (`1` and `1.0` share a key; `1`, `"1"` and `true` do not). None for a list or an object, which
    equal no scalar."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # Python's int and float compare and hash alike: 1 == 1.0
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return None


class ConditionIndex(Generic[T]):
    """The goals listening to one event name, arranged so that an event is checked only against the
    goals that can hold for it.

    Goals without conditions always hold. The others are filed under their first condition, by path
    and by the value it expects: for an event, each such path is read once, and only the goals filed
    under the value found there are checked in full. With many goals on one name that differ in a SKU,
    a campaign or a plan, an event costs a few look-ups instead of a check per goal. The answer is
    exactly what checking every goal would give, in the order the goals were given."""

    def __init__(self, items: Iterable[tuple[T, Mapping[str, Any]]]) -> None:
        self._always: list[tuple[int, T]] = []
        self._by_path: dict[str, dict[tuple[Any, ...] | None, list[tuple[int, T, Mapping[str, Any]]]]] = {}
        for order, (item, conditions) in enumerate(items):
            if not conditions:
                self._always.append((order, item))
                continue
            path, expected = next(iter(conditions.items()))
            self._by_path.setdefault(path, {}).setdefault(scalar_key(expected), []).append(
                (order, item, conditions)
            )

    def matching(self, properties: Mapping[str, Any]) -> list[T]:
        """The items whose conditions all hold for `properties`, in the order they were given."""
        found = list(self._always)
        for path, filed in self._by_path.items():
            actual = read_path(properties, path)
            if actual is MISSING:
                continue
            key = scalar_key(actual)
            if key is None:
                continue
            for order, item, conditions in filed.get(key, ()):
                if matches(conditions, properties):
                    found.append((order, item))
        found.sort(key=itemgetter(0))
        return [item for _order, item in found]
