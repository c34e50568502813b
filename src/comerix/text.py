"""Text that every backend can store (PostgreSQL refuses the NUL character in text and JSON), and JSON
text of documents with integers of any size."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson


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


def json_bytes(value: Any, *, default: Callable[[Any], Any] | None = None, indent: bool = False) -> bytes:
    """`value` as JSON, by orjson. JSON allows integers beyond 64 bits, which orjson refuses: a document
    holding one is written by the standard library instead, exactly."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_INDENT_2 if indent else None)
    except TypeError:  # orjson.JSONEncodeError is one
        if indent:
            return json.dumps(value, default=default, ensure_ascii=False, indent=2).encode()
        return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":")).encode()


def json_text(value: Any, *, default: Callable[[Any], Any] | None = None, indent: bool = False) -> str:
    """`json_bytes`, as a string."""
    return json_bytes(value, default=default, indent=indent).decode()


# May be an integer beyond 64 bits (or merely a long run of digits in a string): 20 ASCII digits in a row.
_LONG_NUMBER = re.compile(r"[0-9]{20}")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_ZEROS = b"0" * 20


def _may_hold_long_number(document: bytes | bytearray | str) -> bool:
    """True when `document` has a run of 20 ASCII digits. Bytes (every request body) are searched with
    each digit turned into 0 first: two passes in C over the body, some 15 times faster than the regular
    expression, which tries its pattern at every position."""
    if isinstance(document, str):
        return _LONG_NUMBER.search(document) is not None
    return _TWENTY_ZEROS in document.translate(_DIGITS_TO_ZERO)


def json_loads(document: bytes | bytearray | str) -> Any:
    """A JSON document, read by orjson; one that may hold an integer beyond 64 bits (orjson would read it
    as a float) is read by the standard library instead, exactly. NaN and Infinity are not JSON.
    Raises `ValueError` for anything else that is not JSON, and `RecursionError` for thousands of
    nested arrays or objects."""
    if not _may_hold_long_number(document):
        try:
            return orjson.loads(document)
        except orjson.JSONDecodeError:
            pass  # the standard library tells the same, or reads what orjson's nesting limit refused
    return json.loads(document, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
