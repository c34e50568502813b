"""Text that every backend can store: PostgreSQL refuses the NUL character in text and JSON."""

from __future__ import annotations

from typing import Any


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


def nul_free_json(value: Any) -> bool:
    """True when no string (key or value) anywhere in a JSON document holds a NUL character."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all("\x00" not in key and nul_free_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(nul_free_json(item) for item in value)
    return True
