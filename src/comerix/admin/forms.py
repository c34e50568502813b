"""Form handling shared by the admin pages: reading a submitted form into a schema, and showing the
schema's refusals inline, next to the field they name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from comerix.errors import Invalid, validated
from comerix.text import json_loads

ModelT = TypeVar("ModelT", bound=BaseModel)


def errors_by_field(error: Invalid) -> dict[str, str]:
    """The problems of `error` keyed by field name (the first problem of each field), for templates.
    A problem of a nested field (`match_conditions.plan`) is also shown on its parent field."""
    errors: dict[str, str] = {}
    for detail in error.details:
        field_name = str(detail.get("field", "")) or "form"
        errors.setdefault(field_name, str(detail.get("message", "is not valid")))
        errors.setdefault(field_name.split(".")[0], f"{field_name}: {detail.get('message', 'is not valid')}")
    return errors


def parse_form(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """`model` from form values (blank inputs dropped, so defaults apply), or `Invalid` by field."""
    return validated(model, {name: value for name, value in data.items() if value not in ("", None)})


NOT_CONDITIONS = 'must be a JSON object of property path → value, for example {"plan": "premium", "items": 2}'


def read_conditions(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Match conditions typed in a form (or written by the rows editor), read as JSON so that `1`, `"1"`
    and `true` stay different values; or why they cannot be: not an object, or a path named twice (JSON
    would keep the last of the two without a word, and the condition typed first would be lost)."""
    try:
        conditions = json_loads(text)
    except ValueError:  # json_loads reports any nesting too deep to read as a ValueError too
        return None, NOT_CONDITIONS
    if not isinstance(conditions, dict):
        return None, NOT_CONDITIONS
    twice: list[str] = []

    def pairs(found: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in found]
        twice.extend(key for key in dict.fromkeys(keys) if keys.count(key) > 1)
        return dict(found)

    json.loads(text, object_pairs_hook=pairs)  # read already: only the keys are looked at again
    if twice:
        return None, f"names the path {twice[0]} twice: an event has one value there, keep one condition"
    return conditions, None
