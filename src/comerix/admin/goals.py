"""Insights → Goals: the goal list by status, the new and edit forms, status changes, Try it.

The form posts every field of a goal as text; `parse` turns it into the goal schemas and reports every
problem at once (the schema's field rules, a match-conditions box that is not a JSON object, and what
the value mode lacks), so the form shows them all inline. A blank field means "not set": the schema's
default applies, and on the edit page an optional field left blank is cleared.

A goal is a single event (a trigger and its match conditions) or a multi-step process (its steps, edited
as rows: `goal_steps`); the form's `shape` chooses which on a new goal, and it is fixed once created.

Try it posts the same fields as a JSON object of texts (the unsaved form, with the steps editor's rows
for a multi-step goal) and answers the preview of `telemetry.preview`, exactly as
`POST /api/v1/goals/preview` does, plus each sample's and miss's time as the pages show times
(`pages.local_time`), so the page's script formats none itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from comerix.admin.account import safe_next
from comerix.admin.analytics import count, money
from comerix.admin.dependencies import GoalsPage
from comerix.admin.forms import NOT_CONDITIONS, errors_by_field, parse_form, read_conditions
from comerix.admin.goal_figures import TREND_DAYS, list_figures, step_counts
from comerix.admin.goal_steps import (
    ROW_FIELD,
    Shape,
    StepErrors,
    StepRow,
    new_goal_rows,
    raw_steps,
    renumbered,
    rows_from_form,
    with_inputs,
)
from comerix.admin.pages import local_time, page, redirect, to_pretty_json
from comerix.analytics.sums import local_day
from comerix.auth.sessions import SignedIn, set_flash
from comerix.errors import FieldProblem, Invalid, validated
from comerix.goals import service
from comerix.goals.errors import GoalCodeTaken
from comerix.goals.models import Goal
from comerix.goals.schemas import (
    CODE_PATTERN,
    DEFAULT_WINDOW_HOURS,
    GoalCreate,
    GoalDefinition,
    GoalPreviewRequest,
    GoalRead,
    GoalUpdate,
    StatusChange,
    StepDefinition,
    step_problems,
    value_mode_problems,
)
from comerix.http import DbSession, Now
from comerix.money import normalize_currency
from comerix.telemetry import explorer, preview
from comerix.text import json_loads, json_text
from comerix.vocabulary import GoalStatus, Range, ValueMode
from comerix.workspaces import service as workspaces

router = APIRouter(prefix="/admin", include_in_schema=False)

LIST_PATH = "/admin/insights/goals"
NEW_PATH = "/admin/insights/goals/new"
PREVIEW_PATH = "/admin/insights/goals/preview"

# The form's fields, in the order the form shows them (and the error summary lists them).
LABELS = {
    "name": "Name",
    "code": "Code",
    "description": "Description",
    "kind": "Kind",
    "is_primary": "Primary goal",
    "trigger_event": "Trigger event",
    "match_conditions": "Match conditions",
    "value_mode": "Value",
    "fixed_value": "Fixed value",
    "value_property": "Value property",
    "currency": "Currency",
    "currency_property": "Currency property",
    "base_value_property": "Base value property",
    "base_currency_property": "Base currency property",
    "attribution_window_hours": "Attribution window (hours)",
}
NEW_GOAL = {
    "kind": "conversion",
    "value_mode": "none",
    "match_conditions": "{}",
    "attribution_window_hours": str(DEFAULT_WINDOW_HOURS),
}
STATUS_DONE = {GoalStatus.ACTIVE: "activated", GoalStatus.PAUSED: "paused", GoalStatus.ARCHIVED: "archived"}

ModelT = TypeVar("ModelT", bound=BaseModel)


SHAPES = {"single": "Single event", "steps": "Multi-step process"}
SINGLE_FIELDS = ("trigger_event", "match_conditions")
# The order of the error summary: the steps editor stands between the trigger and the value.
FORM_ORDER = [
    *list(LABELS)[: list(LABELS).index("value_mode")],
    "steps",
    *list(LABELS)[list(LABELS).index("value_mode") :],
]
FORM_EXTRAS = ("shape", "step_action")  # the goal type, and the steps editor's buttons
NO_STEPS = "a multi-step goal needs 2 to 20 steps: fill in the rows of the steps"


async def _submitted(request: Request) -> dict[str, str]:
    """The goal fields of the posted form, as typed: the goal's own, its shape, the steps editor's rows
    and the editor's button, if one of them sent the form."""
    form = await request.form()
    return {
        name: value
        for name, value in form.items()
        if isinstance(value, str) and (name in LABELS or name in FORM_EXTRAS or ROW_FIELD.match(name))
    }


Submitted = Annotated[dict[str, str], Depends(_submitted)]


def parse(model: type[ModelT], values: Mapping[str, str], steps: Sequence[StepRow] | None = None) -> ModelT:
    """`model` from the form's texts, or `Invalid` listing every problem, in the form's order. With
    `steps` (the editor's rows), a multi-step goal: its trigger fields are not read."""
    read = [name for name in LABELS if steps is None or name not in SINGLE_FIELDS]
    raw, problems = _raw({name: values[name] for name in read if name in values})
    if steps is not None:
        raw["steps"], unreadable = raw_steps(steps)
        problems += unreadable + ([] if raw["steps"] else [FieldProblem("steps", NO_STEPS)])
    data = None
    try:
        data = parse_form(model, raw)
    except Invalid as exc:
        problems += [FieldProblem(str(d.get("field", "")), str(d.get("message", ""))) for d in exc.details]
    named = {problem.field for problem in problems}
    problems += [problem for problem in _value_mode_problems(raw) if problem.field not in named]
    if steps is None and "trigger_event" not in raw and "trigger_event" not in named:
        problems.append(FieldProblem("trigger_event", "is required"))  # the schema allows none, for steps
    if steps is not None and data is None:
        problems += [problem for problem in _steps_problems(raw["steps"]) if problem.field not in named]
    if problems or data is None:
        raise Invalid.of(sorted(problems, key=_form_order))
    return data


def _form_order(problem: FieldProblem) -> int:
    top = re.split(r"[.\[]", problem.field)[0]
    return FORM_ORDER.index(top) if top in FORM_ORDER else len(FORM_ORDER)


def _steps_problems(raw_steps: list[dict[str, Any]]) -> list[FieldProblem]:
    """How the steps fit together (a start step first, a completion step, distinct keys), found even
    when other fields are wrong: each step sketched from the few fields these rules read."""
    if not raw_steps:
        return []
    read = ("key", "completion", "retired")
    sketches = [
        StepDefinition.model_construct(**{n: step[n] for n in read if n in step}) for step in raw_steps
    ]
    return step_problems(sketches)


def _raw(values: Mapping[str, str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The form's texts as the schema's input: blanks dropped, the checkbox a boolean, the match
    conditions read as JSON (so `1`, `"1"` and `true` stay different values)."""
    raw: dict[str, Any] = {
        name: value for name, value in values.items() if value.strip() and name != "match_conditions"
    }
    raw["is_primary"] = values.get("is_primary") == "true"
    problems = []
    text = values.get("match_conditions", "").strip()
    if text:
        conditions, problem = read_conditions(text)
        if conditions is not None:
            raw["match_conditions"] = conditions
        else:
            problems.append(FieldProblem("match_conditions", problem or NOT_CONDITIONS))
    return raw, problems


def _value_mode_problems(raw: Mapping[str, Any]) -> list[FieldProblem]:
    """What the chosen value mode lacks, found even when other fields are wrong."""
    try:
        mode = ValueMode(raw.get("value_mode", ValueMode.NONE))
    except ValueError:
        return []
    fields: dict[str, Any] = {name: raw.get(name) for name in ("fixed_value", "value_property")}
    sketch = GoalDefinition.model_construct(value_mode=mode, **fields)  # only these fields are read
    return value_mode_problems(sketch, set(raw))


def values_of(goal: Goal) -> dict[str, str]:
    """A stored goal as the form's texts."""
    stored = GoalRead.of(goal).model_dump(mode="json")
    values = {name: "" if stored[name] is None else str(stored[name]) for name in LABELS}
    values["is_primary"] = "true" if goal.is_primary else ""
    values["match_conditions"] = to_pretty_json(goal.match_conditions)
    return values


def prefilled(trigger_event: str, conditions: str) -> dict[str, str]:
    """A new goal's texts, prefilled from the Event Explorer: its trigger, match conditions, and a
    name and code suggested from the event name."""
    values = dict(NEW_GOAL)
    if trigger_event:
        name = re.sub(r"[\s_.\-]+", " ", trigger_event).strip()[:120]
        code = re.sub(r"[^a-z0-9]+", "_", trigger_event.lower()).strip("_")[:64].rstrip("_")
        values |= {"trigger_event": trigger_event, "name": name[:1].upper() + name[1:]}
        values["code"] = code if CODE_PATTERN.match(code) else ""
    if conditions:
        try:
            parsed = json_loads(conditions)
        except ValueError:  # json_loads reports any nesting too deep to read as a ValueError too
            parsed = None
        values["match_conditions"] = to_pretty_json(parsed) if isinstance(parsed, dict) else conditions
    return values


Summary = list[tuple[str | None, str, str]]


def _error_summary(errors: dict[str, str], steps: StepErrors) -> Summary:
    """(input id, label, message) of each problem, in the form's order: the goal's fields, then the
    steps' (each on its row's field), then any other."""
    summary: Summary = []
    for name in FORM_ORDER:
        if name == "steps":
            summary += [(f"steps-{row}-{field}", label, text) for row, field, label, text in steps.listed()]
            if "steps" in errors:
                summary.append(("steps-editor", "Steps", errors["steps"]))
        elif name in errors:
            summary.append((name, LABELS[name], errors[name]))
    others = [
        (None, name, text)
        for name, text in errors.items()
        if name not in LABELS and not name.startswith("steps") and "." not in name
    ]
    return summary + others


def _form_page(
    request: Request,
    signed_in: SignedIn,
    values: Mapping[str, str],
    shape: Shape,
    facts: FormFacts,
    *,
    goal: Goal | None = None,
    error: Invalid | GoalCodeTaken | None = None,
    from_explorer: bool = False,
    offered: Sequence[EventProperty] = (),
) -> Response:
    errors = errors_by_field(Invalid(error.message, error.details)) if error else {}
    steps = StepErrors.of(error.details if error else [], shape.rows)
    context = {
        "goal": goal,
        "values": dict(values),
        "errors": errors,
        "summary": _error_summary(errors, steps),
        "shape": shape,
        "shapes": SHAPES,
        "step_errors": steps.by_row,
        "blank_row": StepRow(-1),
        "base_currency": facts.base_currency,
        "event_names": facts.event_names,
        "from_explorer": from_explorer,
        "offered": offered,
        "action": f"/admin/insights/goals/{goal.id}/edit" if goal else NEW_PATH,
        "script_data": {"preview_url": PREVIEW_PATH},
    }
    template = "admin/insights/goals_edit.html" if goal else "admin/insights/goals_new.html"
    status = 200 if error is None else 409 if isinstance(error, GoalCodeTaken) else 422
    return page(request, template, signed_in, context, status_code=status)


@router.get("/insights/goals", name="admin_insights_goals")
def goal_list(request: Request, session: DbSession, now: Now, signed_in: GoalsPage) -> Response:
    """The workspace's goals in three sections, active, paused and archived; primary goals first. Each
    with its outcomes and base revenue of the last 30 days (one query over the rollups)."""
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    goals = service.list_for_workspace(session, workspace.id)
    groups = [(status, [goal for goal in goals if goal.status is status]) for status in GoalStatus]
    context = {
        "groups": groups,
        "figures": list_figures(session, workspace, local_day(now, workspace.timezone)),
        "steps": step_counts(session, workspace.id),
        "trend_days": TREND_DAYS,
        "money": money,
        "count": count,
    }
    return page(request, "admin/insights/goals.html", signed_in, context)


@router.get("/insights/goals/new", name="admin_insights_goals_new")
def new_goal(
    request: Request,
    session: DbSession,
    signed_in: GoalsPage,
    from_event: Annotated[str, Query(max_length=64)] = "",
    trigger_event: Annotated[str, Query(max_length=1000)] = "",
    conditions: Annotated[str, Query(max_length=20_000)] = "",
) -> Response:
    """The empty form, or prefilled from a stored event (`?from_event=<id>`: its name, and its scalar
    properties as match conditions; the Event Explorer links here so that no property value travels
    in a URL) or from the query (`?trigger_event=…&conditions={…}`)."""
    offered: list[EventProperty] = []
    if from_event:
        event = explorer.get_or_raise(session, signed_in.principal.workspace_id, from_event)
        trigger_event = event.name
        offered = offered_properties(explorer.goal_conditions(event.properties))
    values = prefilled(trigger_event, conditions) | value_offer(offered)
    shape = Shape("single", False, renumbered(new_goal_rows()))
    base = _form_facts(session, signed_in)
    return _form_page(
        request,
        signed_in,
        values,
        shape,
        base,
        from_explorer=bool(trigger_event or conditions),
        offered=offered,
    )


@dataclass(frozen=True)
class EventProperty:
    """A property of the event a goal is created from, as the form offers it: as a match condition
    (none is picked at first: every value of one event would match almost nothing else), as the value
    (a number), or as the currency (an ISO 4217 code)."""

    path: str
    value: Any
    json: str
    number: bool
    currency: bool


VALUE_NAMES = re.compile(r"(total|amount|price|value|revenue|sum|cost)", re.IGNORECASE)


def offered_properties(leaves: Mapping[str, Any]) -> list[EventProperty]:
    return [
        EventProperty(
            path=path,
            value=value,
            json=json_text(value),
            number=_is_amount(value),
            currency=isinstance(value, str) and normalize_currency(value) == value,
        )
        for path, value in leaves.items()
    ]


def _is_amount(value: Any) -> bool:
    """A number, or a string holding one (shops send "129.50" as often as 129.50)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


def value_offer(offered: list[EventProperty]) -> dict[str, str]:
    """The form's value fields as the event suggests them: the amount that reads like a total (else the
    only amount there is) from its property, in the currency a property names."""
    amounts = [p for p in offered if p.number]
    named = [p for p in amounts if VALUE_NAMES.search(p.path.rsplit(".", 1)[-1])]
    chosen = named[0] if named else amounts[0] if len(amounts) == 1 else None
    if chosen is None:
        return {}
    currency = next((p.path for p in offered if p.currency), "")
    return {"value_mode": ValueMode.FROM_PROPERTY.value, "value_property": chosen.path} | (
        {"currency_property": currency} if currency else {}
    )


@dataclass(frozen=True)
class FormFacts:
    """What the goal form tells of the workspace: its base currency, and the event names it has sent
    (suggested as triggers while typing)."""

    base_currency: str
    event_names: list[str]


def _form_facts(session: Session, signed_in: SignedIn) -> FormFacts:
    workspace_id = signed_in.principal.workspace_id
    base_currency = workspaces.get_or_raise(session, workspace_id).base_currency
    return FormFacts(base_currency, explorer.known_names(session, workspace_id))


@router.post("/insights/goals/new")
def create_goal(
    request: Request, session: DbSession, signed_in: GoalsPage, now: Now, values: Submitted
) -> Response:
    """Create the goal; or, when a button of the steps editor sent the form, show it again changed."""
    principal = signed_in.principal
    shape = Shape.posted(values, None)
    base = _form_facts(session, signed_in)
    if values.get("step_action"):
        return _form_page(request, signed_in, values, shape, base)
    try:
        data = parse(GoalCreate, values, shape.rows if shape.multi_step else None)
        goal = service.create(session, principal.workspace_id, data, actor=principal, now=now)
    except (Invalid, GoalCodeTaken) as exc:
        return _form_page(request, signed_in, values, shape, base, error=exc)
    set_flash(signed_in.row, f"Goal “{goal.name}” created.")
    return redirect(LIST_PATH)


@router.post("/insights/goals/preview", name="admin_insights_goals_preview")
def preview_goal(
    session: DbSession,
    signed_in: GoalsPage,
    now: Now,
    values: Annotated[dict[str, str], Body()],
    range: Annotated[Range, Query()] = Range.D30,
) -> JSONResponse:
    """Try the unsaved form (a JSON object of its fields' texts) against the stored events of the range.
    With `shape` "steps", a multi-step goal: the steps editor's rows, named as the form names them; then
    each problem naming a step says which of the editor's controls to show it on (`with_inputs`)."""
    rows = rows_from_form(values) if values.get("shape") == "steps" else None
    try:
        data = parse(
            GoalPreviewRequest, {name: value for name, value in values.items() if name in LABELS}, rows
        )
        definition = service.check_definition(data)
    except Invalid as exc:
        if rows is None:
            raise
        raise Invalid(exc.message, with_inputs(exc.details, rows)) from None
    workspace = workspaces.get_or_raise(session, signed_in.principal.workspace_id)
    result = preview.preview(
        session, workspace.id, definition, range, base_currency=workspace.base_currency, now=now
    )
    return JSONResponse(_with_local_times(result, workspace.timezone), headers={"Cache-Control": "no-store"})


def _with_local_times(result: preview.GoalPreview, timezone: str) -> dict[str, Any]:
    """The preview as JSON, each sample and miss with `local_time`, its event's time as the pages
    show times (the script shows it as it is: the server formats every time); a multi-step goal's under
    each of its steps."""
    payload = result.model_dump(mode="json")
    tried: list[tuple[dict[str, Any], preview.GoalPreview | preview.StepPreview]] = [(payload, result)]
    tried += list(zip(payload["steps"], result.steps, strict=True))
    for shown, trial in tried:
        events = [item.event for item in trial.samples] + [item.event for item in trial.closest_misses]
        for item, event in zip([*shown["samples"], *shown["closest_misses"]], events, strict=True):
            item["local_time"] = local_time(event.timestamp, timezone)
    return payload | {"timezone": timezone}


@router.get("/insights/goals/{goal_id}/edit", name="admin_insights_goals_edit")
def edit_goal(goal_id: str, request: Request, session: DbSession, signed_in: GoalsPage) -> Response:
    goal = service.get_or_raise(session, signed_in.principal.workspace_id, goal_id)
    shape = Shape.of_goal(session, goal)
    return _form_page(request, signed_in, values_of(goal), shape, _form_facts(session, signed_in), goal=goal)


@router.post("/insights/goals/{goal_id}/edit")
def update_goal(
    goal_id: str, request: Request, session: DbSession, signed_in: GoalsPage, now: Now, values: Submitted
) -> Response:
    """Save the whole form; or, when a button of the steps editor sent it, show it again changed. The
    code is read-only: a different code posted anyway is refused; so is a stored step left out."""
    goal = service.get_or_raise(session, signed_in.principal.workspace_id, goal_id)
    shape = Shape.posted(values, goal, service.steps_of(session, goal))
    base = _form_facts(session, signed_in)
    if values.get("step_action"):
        return _form_page(request, signed_in, values | {"code": goal.code}, shape, base, goal=goal)
    try:
        code = values.get("code", "")
        rows = shape.rows if shape.multi_step else None
        definition = parse(
            GoalDefinition, {name: text for name, text in values.items() if name != "code"}, rows
        )
        change = GoalUpdate.model_validate(definition.model_dump() | ({"code": code} if code else {}))
        service.update(session, goal, change, actor=signed_in.principal, now=now)
    except Invalid as exc:
        return _form_page(request, signed_in, values | {"code": goal.code}, shape, base, goal=goal, error=exc)
    set_flash(signed_in.row, f"Goal “{goal.name}” saved.")
    return redirect(LIST_PATH)


@router.post("/insights/goals/{goal_id}/status", name="admin_insights_goals_status")
def change_status(
    goal_id: str,
    session: DbSession,
    signed_in: GoalsPage,
    now: Now,
    status: Annotated[str, Form(max_length=20)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    """Move a goal to another status, then back to the page the button was on (the list by default)."""
    goal = service.get_or_raise(session, signed_in.principal.workspace_id, goal_id)
    change = validated(StatusChange, {"status": status})
    service.set_status(session, goal, change.status, actor=signed_in.principal, now=now)
    set_flash(signed_in.row, f"Goal “{goal.name}” {STATUS_DONE[change.status]}.")
    return redirect(safe_next(next_path) or LIST_PATH)
