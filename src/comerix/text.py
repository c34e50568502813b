"""Text that every backend can store (PostgreSQL refuses the NUL character in text and JSON), and JSON
text of documents with integers of any size."""

from __future__ import annotations

import json
import math
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(value: Any) -> bool:
    """True when no string (key or value) anywhere in a JSON document holds a lone surrogate: a code
    point that JSON's `\\ud800` escapes can name but that is no character, and that UTF-8 cannot hold."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is None
    if isinstance(value, dict):
        return all(_SURROGATE.search(key) is None and valid_unicode(item) for key, item in value.items())
    if isinstance(value, list):
        return all(valid_unicode(item) for item in value)
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


# May be an integer beyond 64 bits (or merely a long run of digits in a string): 20 ASCII digits in a row,
# or a minus sign and 19 (orjson reads integers from -2**63 to 2**64 - 1 exactly, others as floats).
_LONG_NUMBER = re.compile(r"[0-9]{20}|-[0-9]{19}")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_ZEROS = b"0" * 20
_MINUS_NINETEEN_ZEROS = b"-" + b"0" * 19


def _may_hold_long_number(document: bytes | bytearray | str) -> bool:
    """True when `document` has a run of 20 ASCII digits, or a minus sign and 19. Bytes (every request
    body) are searched with each digit turned into 0 first: passes in C over the body, cheaper than the
    regular expression, which tries its pattern at every position."""
    if isinstance(document, str):
        return _LONG_NUMBER.search(document) is not None
    zeros = document.translate(_DIGITS_TO_ZERO)
    return _TWENTY_ZEROS in zeros or _MINUS_NINETEEN_ZEROS in zeros


class NestedTooDeep(ValueError):
    """A JSON document that nests arrays or objects deeper than the parsers can follow (some 1,000
    levels). It is JSON all the same, so the caller may say where (`path_deeper_than`)."""


class NumberOutOfRange(ValueError):
    """A JSON number beyond the range of a double (some 1.8e308), which would be read as infinity."""


def json_loads(document: bytes | bytearray | str) -> Any:
    """A JSON document, read by orjson; one that may hold an integer beyond 64 bits (orjson would read it
    as a float) is read by the standard library instead, exactly. NaN and Infinity are not JSON, and
    neither is a number beyond the range of a double (which would be read as infinity).
    Raises `NestedTooDeep` for arrays or objects nested deeper than the parsers follow, `NumberOutOfRange`,
    and `ValueError` for anything else that is not JSON."""
    if not _may_hold_long_number(document):
        try:
            return orjson.loads(document)
        except orjson.JSONDecodeError:
            pass  # the standard library tells the same, or reads what orjson's nesting limit refused
    try:
        return json.loads(document, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise NestedTooDeep("the document nests arrays or objects too deeply to be read") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NumberOutOfRange(f"the number {text[:40]} is beyond the range of a double (1.8e308)")
    return value


# The tokens that matter to nesting: strings (object keys with their colon), brackets and commas.
_STRUCTURE = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?|[\[\]{},]', re.DOTALL)
_STRUCTURE_BYTES = re.compile(_STRUCTURE.pattern.encode(), re.DOTALL)


def path_deeper_than(document: bytes | bytearray | str, limit: int) -> list[str | int] | None:
    """The keys and indexes that lead to the first array or object of `document` (JSON text) that is
    nested more than `limit` levels deep (the outermost value being the first level), or None.

    Iterative, for documents too deep to decode: the regular expression steps from one string or
    bracket to the next, and the walk stops at the first such array or object."""
    text = document if isinstance(document, str) else bytes(document)
    pattern = _STRUCTURE if isinstance(text, str) else _STRUCTURE_BYTES
    path: list[str | int] = []  # the key or index of each open array or object's current member
    arrays: list[bool] = []  # whether each open container is an array
    for token in pattern.finditer(text):  # type: ignore[arg-type]  # str pattern for str, bytes for bytes
        start = token.group()[:1]
        if start in ("[", b"[", "{", b"{"):
            if len(arrays) >= limit:
                return path
            is_array = start in ("[", b"[")
            arrays.append(is_array)
            path.append(0 if is_array else "")
        elif start in ("]", b"]", "}", b"}"):
            if arrays:
                arrays.pop()
                path.pop()
        elif start in (",", b","):
            if arrays and arrays[-1]:
                path[-1] = int(path[-1]) + 1
        elif token.group(2) is not None and arrays and not arrays[-1]:
            path[-1] = _key(token.group(1))
    return None


def _key(raw: str | bytes) -> str:
    """An object key's text from its JSON form (as it was, when it is not valid JSON)."""
    text = raw if isinstance(raw, str) else raw.decode(errors="replace")
    try:
        key = json.loads(f'"{text}"')
    except ValueError:
        return text
    return str(key)
