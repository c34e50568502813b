"""A goal's audit trail as people read it: per revision, when, who, what was done, and a line per field
changed ("Name: Lead → Lead form"). The trail stores each field's JSON form (`goals.service._diff`);
this only turns it into text, shortening what is long. The template escapes every line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from comerix.admin.goals import LABELS
from comerix.goals.models import GoalRevision, RevisionAction
from comerix.text import json_text

ACTIONS = {
    RevisionAction.CREATED: "Created",
    RevisionAction.UPDATED: "Edited",
    RevisionAction.STATUS_CHANGED: "Status changed",
}
FIELD_LABELS = LABELS | {"status": "Status", "steps": "Steps"}
LONGEST = 120
NONE = "(none)"


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    at: datetime
    actor: str
    action: str
    lines: list[str]


def history_entries(revisions: Iterable[GoalRevision]) -> list[HistoryEntry]:
    """The revisions (newest first, as `goals.service.history` gives them) as the page shows them."""
    return [
        HistoryEntry(
            id=str(revision.id),
            at=revision.at,
            actor=revision.actor_email,
            action=ACTIONS.get(revision.action, str(revision.action)),
            lines=_lines(revision.action, revision.changes),
        )
        for revision in revisions
    ]


def _lines(action: RevisionAction, changes: Mapping[str, Any]) -> list[str]:
    order = list(FIELD_LABELS)
    names = sorted(changes, key=lambda name: order.index(name) if name in order else len(order))
    lines = []
    for name in names:
        change = changes[name]
        before, after = (change.get("from"), change.get("to")) if isinstance(change, dict) else (None, change)
        label = FIELD_LABELS.get(name, name)
        if action is RevisionAction.CREATED:
            if name == "steps" and isinstance(after, list) and after:
                lines.append(f"{label}: {', '.join(_step_names(after))}")
            elif after not in (None, {}, [], ""):
                lines.append(f"{label}: {shown(after)}")
        elif name == "steps" and isinstance(before, list) and isinstance(after, list):
            lines += [f"{label}: {line}" for line in step_changes(before, after)]
        else:
            lines.append(f"{label}: {shown(before)} → {shown(after)}")
    return lines


def shown(value: Any) -> str:
    """A stored JSON value as short text: none, yes/no, the text itself, or compact JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else json_text(value)
    return text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"


def _step_names(steps: list[Any]) -> list[str]:
    return [
        f"{step.get('key')} ({shown(step.get('name'))})" if isinstance(step, dict) else shown(step)
        for step in steps
    ]


def step_changes(before: list[Any], after: list[Any]) -> list[str]:
    """What changed between two lists of steps, told by step key: added, changed field by field,
    moved (a new order). Steps that are not objects with a key are compared whole."""
    old = {step["key"]: step for step in before if isinstance(step, dict) and "key" in step}
    new = {step["key"]: step for step in after if isinstance(step, dict) and "key" in step}
    if len(old) != len(before) or len(new) != len(after):
        return [f"{shown(before)} → {shown(after)}"]
    lines = []
    for key, step in new.items():
        if key not in old:
            lines.append(f"added “{key}” ({shown(step.get('name'))})")
            continue
        for field_name, value in step.items():
            if field_name not in ("key", "position", "type") and old[key].get(field_name) != value:
                lines.append(f"“{key}” {field_name}: {shown(old[key].get(field_name))} → {shown(value)}")
    lines += [f"removed “{key}”" for key in old if key not in new]
    if list(new)[: len(old)] != list(old):  # not only steps added at the end
        lines.append(f"order: {', '.join(old)} → {', '.join(new)}")
    return lines
