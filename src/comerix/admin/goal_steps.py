"""The steps editor of the goal form (SPEC §9): a multi-step goal's steps as rows of form fields, and
back.

Each row's fields are named `steps-{row}-{field}`, where `row` is a number that only ties the fields of
one row together; the row's place is its `steps-{row}-position` field (rows are sorted by it, then by
row number), which the page's script keeps in order as rows move. A new row left blank is dropped, so
the form can offer empty rows without JavaScript. The editor's buttons (add a step, move a row up or
down, remove a new row) post the form with `step_action`; the server then shows the form again, changed
and unsaved. With JavaScript the same buttons work in the page and nothing is posted.

A step's index in the list sent to the service is its place among the rows kept, so the service's
problems (`steps[2].key`) are shown on the fields of that row (`StepErrors` on the page; `with_inputs`
names the control in Try it's answer, for the page's script). `Shape` is what the form
shows of a goal's type: single event or steps (chosen on a new goal, fixed once created), and the rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from comerix.admin.forms import NOT_CONDITIONS, read_conditions
from comerix.admin.pages import to_pretty_json
from comerix.errors import FieldProblem
from comerix.goals import service
from comerix.goals.models import Goal, GoalStep

ROW_FIELD = re.compile(r"^steps-([0-9]{1,4})-([a-z_]+)$")
PROBLEM_FIELD = re.compile(r"^steps\[([0-9]+)\](?:\.([a-z_]+))?(.*)$")
POSITION = re.compile(r"^[0-9]{1,4}$")
TEXT_FIELDS = (
    "key",
    "name",
    "trigger_event",
    "match_conditions",
    "time_saved_seconds",
    "cost_savings",
    "revenue_earned",
    "description",
)
CHECKBOXES = ("completion", "retired")
FIELDS = (*TEXT_FIELDS, *CHECKBOXES, "position")
STEP_LABELS = {
    "key": "Key",
    "name": "Name",
    "trigger_event": "Trigger event",
    "match_conditions": "Match conditions",
    "completion": "Completes the goal",
    "time_saved_seconds": "Time saved (seconds)",
    "cost_savings": "Cost savings",
    "revenue_earned": "Revenue earned",
    "description": "Description",
    "retired": "Retired",
    "position": "Order",
}
NEW_GOAL_ROWS = 2


@dataclass(frozen=True)
class StepRow:
    """One row of the editor: its number, its fields' texts, and whether its step is stored (then its
    key is read-only and it can be retired, not removed)."""

    row: int
    values: dict[str, str] = field(default_factory=dict)
    saved: bool = False

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def checked(self, name: str) -> bool:
        return self.values.get(name) == "true"

    @property
    def blank(self) -> bool:
        """Nothing typed in: a spare row (its checkboxes do not count)."""
        return all(not self.value(name).strip() or self.value(name).strip() == "{}" for name in TEXT_FIELDS)

    def named(self, name: str) -> str:
        return f"steps-{self.row}-{name}"


def rows_from_form(form: Mapping[str, str], saved_keys: Iterable[str] = ()) -> list[StepRow]:
    """The editor's rows as posted, in their order. A row is `saved` when its key is a stored step's."""
    values: dict[int, dict[str, str]] = {}
    for name, text in form.items():
        found = ROW_FIELD.match(name)
        if found and found.group(2) in FIELDS:
            values.setdefault(int(found.group(1)), {})[found.group(2)] = text
    stored = set(saved_keys)
    rows = [StepRow(row, texts, texts.get("key", "") in stored) for row, texts in values.items()]
    return sorted(rows, key=lambda row: (_position(row), row.row))


def _position(row: StepRow) -> int:
    text = row.value("position").strip()
    return int(text) if POSITION.match(text) else row.row


def rows_of(steps: Sequence[GoalStep]) -> list[StepRow]:
    """A stored goal's steps as rows, in their order."""
    return [
        StepRow(
            index,
            {
                "key": step.key,
                "name": step.name,
                "trigger_event": step.trigger_event,
                "match_conditions": to_pretty_json(step.match_conditions),
                "time_saved_seconds": str(step.time_saved_seconds),
                "cost_savings": _plain(step.cost_savings),
                "revenue_earned": _plain(step.revenue_earned),
                "description": step.description or "",
                "completion": "true" if step.completion else "",
                "retired": "true" if step.retired else "",
            },
            saved=True,
        )
        for index, step in enumerate(sorted(steps, key=lambda step: step.position))
    ]


def new_goal_rows() -> list[StepRow]:
    """The rows a new goal's form starts with: a start step and a completion step, both blank."""
    return [StepRow(0), StepRow(1, {"completion": "true"})]


def _plain(amount: Any) -> str:
    """A stored amount as typed (`4.50` stays `4.50`, so saving the form unchanged changes nothing),
    without an exponent."""
    return f"{amount:f}"


def kept(rows: Sequence[StepRow]) -> list[StepRow]:
    """The rows that become steps: all but new rows left blank."""
    return [row for row in rows if row.saved or not row.blank]


def raw_steps(rows: Sequence[StepRow]) -> tuple[list[dict[str, Any]], list[FieldProblem]]:
    """The kept rows as the schema's `steps` input (blanks left out, so defaults apply; checkboxes as
    booleans; match conditions read as JSON, keeping their types), and what cannot be read."""
    steps, problems = [], []
    for index, row in enumerate(kept(rows)):
        step: dict[str, Any] = {
            name: row.value(name)
            for name in TEXT_FIELDS
            if name != "match_conditions" and row.value(name).strip()
        }
        step |= {name: row.checked(name) for name in CHECKBOXES}
        text = row.value("match_conditions").strip()
        if text:
            conditions, problem = read_conditions(text)
            if conditions is not None:
                step["match_conditions"] = conditions
            else:
                problems.append(FieldProblem(f"steps[{index}].match_conditions", problem or NOT_CONDITIONS))
        steps.append(step)
    return steps, problems


def _located(problem: Mapping[str, Any], steps: Sequence[StepRow]) -> tuple[int, str, str] | None:
    """The row number and field (`row`: the step as a whole) of a problem naming a step (`steps[2].key`,
    `steps` indexing the kept rows), and its message as shown there (a deeper path, such as a match
    condition's key, leads it); None for any other problem."""
    found = PROBLEM_FIELD.match(str(problem.get("field", "")))
    if not found or int(found.group(1)) >= len(steps):
        return None
    name = found.group(2) if found.group(2) in FIELDS else "row"
    detail = f"{found.group(3).lstrip('.')}: " if found.group(3) else ""
    return steps[int(found.group(1))].row, name, detail + str(problem.get("message", "is not valid"))


def with_inputs(problems: Iterable[Mapping[str, Any]], rows: Sequence[StepRow]) -> list[dict[str, Any]]:
    """The problems of a steps form, each naming a step or the steps given `input`, the id of the
    editor's control to show it on (a problem of a step as a whole: its key's), and `inline`, its message
    as shown there. Try it answers these, so the page's script finds the row of `steps[2]` without
    knowing which rows were kept, nor in which order."""
    steps = kept(rows)
    shown = []
    for problem in problems:
        found = _located(problem, steps)
        if found is not None:
            row, name, message = found
            place = {"input": f"steps-{row}-{'key' if name == 'row' else name}", "inline": message}
        elif problem.get("field") == "steps":
            place = {"input": "steps-editor", "inline": str(problem.get("message", ""))}
        else:
            place = {}
        shown.append(dict(problem) | place)
    return shown


@dataclass(frozen=True)
class StepErrors:
    """The problems naming a step (`steps[2].key`), by row number and field (`row`: the step as a
    whole), the first of each field; and the rows in order, to list them."""

    by_row: dict[int, dict[str, str]]
    rows: list[StepRow]

    @classmethod
    def of(cls, problems: Iterable[Mapping[str, Any]], rows: Sequence[StepRow]) -> StepErrors:
        steps = kept(rows)
        errors: dict[int, dict[str, str]] = {}
        for problem in problems:
            found = _located(problem, steps)
            if found is not None:
                row, name, message = found
                errors.setdefault(row, {}).setdefault(name, message)
        return cls(errors, list(rows))

    def listed(self) -> list[tuple[int, str, str, str]]:
        """(row, field, label, message) of each problem, in the rows' order then the fields'."""
        listed = []
        for number, row in enumerate(self.rows, start=1):
            found = self.by_row.get(row.row, {})
            key = f" ({row.value('key')})" if row.value("key") else ""
            for name in ["row", *FIELDS]:
                if name in found:
                    label = f"Step {number}{key}" + ("" if name == "row" else f" · {STEP_LABELS[name]}")
                    listed.append((row.row, name if name != "row" else "key", label, found[name]))
        return listed


def act(rows: list[StepRow], action: str) -> list[StepRow]:
    """The rows after one of the editor's buttons: `add`, `up:{row}`, `down:{row}` or `remove:{row}`
    (a new row only: a stored step is retired instead). Anything else changes nothing."""
    verb, _, target = action.partition(":")
    if verb == "add":
        return [*rows, StepRow(max((row.row for row in rows), default=-1) + 1)]
    index = next((i for i, row in enumerate(rows) if str(row.row) == target), None)
    if index is None:
        return rows
    moved = list(rows)
    if verb == "remove" and not rows[index].saved:
        del moved[index]
    elif verb == "up" and index > 0:
        moved[index - 1], moved[index] = moved[index], moved[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        moved[index + 1], moved[index] = moved[index], moved[index + 1]
    return moved


def renumbered(rows: Sequence[StepRow]) -> list[StepRow]:
    """The rows with their positions as they stand (what the form shows again)."""
    return [replace(row, values=row.values | {"position": str(index)}) for index, row in enumerate(rows)]


@dataclass(frozen=True)
class Shape:
    """What the form shows of a goal's shape: which one (`single` or `steps`), whether it can still be
    chosen (only on a new goal), and the steps editor's rows."""

    chosen: str
    fixed: bool
    rows: list[StepRow]

    @classmethod
    def of_goal(cls, session: Session, goal: Goal) -> Shape:
        steps = service.steps_of(session, goal)
        return cls("steps" if steps else "single", True, rows_of(steps))

    @classmethod
    def posted(cls, values: Mapping[str, str], goal: Goal | None, stored: Sequence[GoalStep] = ()) -> Shape:
        """The shape of a posted form, with the editor's button applied when one sent it. A stored
        goal keeps its shape whatever the form says."""
        rows = rows_from_form(values, [step.key for step in stored])
        if values.get("step_action"):
            rows = act(rows, values["step_action"])
        if goal is not None:
            return cls("steps" if stored else "single", True, renumbered(rows))
        chosen = "steps" if values.get("shape") == "steps" else "single"
        return cls(chosen, False, renumbered(rows if rows or values.get("step_action") else new_goal_rows()))

    @property
    def multi_step(self) -> bool:
        return self.chosen == "steps"
