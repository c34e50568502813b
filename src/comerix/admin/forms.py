"""Form handling shared by the admin pages: reading a submitted form into a schema, and showing the
schema's refusals inline, next to the field they name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from comerix.errors import Invalid, validated

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
