"""Matching an event against a goal's conditions: pure functions, no I/O (SPEC §1, Matching).

Equality is JSON equality: numbers compare numerically (`1 == 1.0`), strings exactly, booleans only
with booleans (`true != 1`, `true != "true"`), null only with null, and nothing is coerced
(`"1" != 1`). A key is a property path: `order.plan` reads `properties["order"]["plan"]`; a key that
itself contains a dot is tried first, at every level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
