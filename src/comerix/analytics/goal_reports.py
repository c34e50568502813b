"""The goals report (SPEC §9), in the summary's three steps:

1. parse: `parse_query` reads the parameters as the summary does (`report_query.parse_query`: from, to,
   goal, flow, interval), and refuses a goal filter that names a single-step goal;
2. SQL: `mask_rows` and `day_rows` read the cycle rollups only, summed per goal, state and mask of
   steps reached, and per goal and local day (a count per state); `cycle_goals` reads the multi-step
   goals with their steps;
3. fold: `goal_fold.fold` adds the rows up, the masks into the funnel, with no I/O.

Without a flow filter the rollup read is `goal_cycle_day_rollups` (no flow dimension), with one
`goal_cycle_rollups`: the rows read grow with the days, goals, states and masks seen (and the flows, when
filtered by one), never with the number of cycles. Summing the flows away on each read would not do: a
rare mask shows up in more (day, flow) rows as the cycles grow.
"""

from __future__ import annotations

import uuid
from typing import TypeVarTuple

from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.orm import Session

from comerix.analytics.goal_fold import STATES, CycleGoal, CycleRows, DayRow, MaskRow, ReportStep, fold
from comerix.analytics.models import GoalCycleDayRollup, GoalCycleRollup
from comerix.analytics.queries import _micros, _millionths
from comerix.analytics.report_query import ReportQuery
from comerix.analytics.report_query import parse_query as parse_report_query
from comerix.analytics.schemas import GoalsReport
from comerix.errors import FieldProblem, Invalid
from comerix.goals.models import Goal, GoalStep
from comerix.vocabulary import GoalStatus
from comerix.workspaces.models import Workspace

PARAMETERS = ("from", "to", "goal", "flow", "interval")
Ts = TypeVarTuple("Ts")


def parse_query(session: Session, workspace_id: uuid.UUID, params: dict[str, str | None]) -> ReportQuery:
    """The query of `params` (from, to, goal, flow, interval; others are not read), or `Invalid` naming
    each parameter that is wrong. A goal filter must name a multi-step goal: a single-step one is
    refused as an unknown code is (422 naming `goal`), since this report has nothing to say of it."""
    wanted = {name: params.get(name) for name in PARAMETERS}
    problems: list[FieldProblem] = []
    code = wanted["goal"]
    if code and _single_step(session, workspace_id, code):
        problems.append(
            FieldProblem("goal", f"goal {code!r} is single-step: this report lists multi-step goals")
        )
    try:
        query = parse_report_query(session, workspace_id, wanted)
    except Invalid as error:
        found = [FieldProblem(d["field"], d["message"]) for d in error.details]
        raise Invalid.of(found + problems) from None
    if problems:
        raise Invalid.of(problems)
    return query


def _single_step(session: Session, workspace_id: uuid.UUID, code: str) -> bool:
    """Whether the workspace has a goal `code` without steps (an unknown code is `parse_query`'s)."""
    has_steps = exists().where(GoalStep.workspace_id == Goal.workspace_id, GoalStep.goal_id == Goal.id)
    found = session.execute(
        select(has_steps.label("multi_step")).where(Goal.workspace_id == workspace_id, Goal.code == code)
    ).scalar_one_or_none()
    return found is False


def goals_report(session: Session, workspace: Workspace, query: ReportQuery) -> GoalsReport:
    """The goals report of `query`, read from the cycle rollups only."""
    rows = CycleRows(
        masks=mask_rows(session, workspace.id, query), days=day_rows(session, workspace.id, query)
    )
    goals = cycle_goals(session, workspace.id)
    return fold(query, rows, goals, timezone=workspace.timezone, base_currency=workspace.base_currency)


def mask_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[MaskRow]:
    """The range's cycles summed per goal, state and mask, with their metrics: the counts and the
    funnel. Two queries (this one and `day_rows`) cost the database about what one grouped by day and
    mask too costs it, and return a fraction of the rows."""
    table = _table(query)
    dimensions = (table.goal_id, table.state, table.reached)
    statement = select(
        *dimensions,
        func.sum(table.cycles).label("cycles"),
        func.sum(table.time_saved_seconds).label("time_saved_seconds"),
        *_micros(table.cost_savings_high, table.cost_savings_low, "cost_savings"),
        *_micros(table.revenue_earned_high, table.revenue_earned_low, "revenue_earned"),
    ).group_by(*dimensions)
    return [
        MaskRow(
            goal_id=found.goal_id,
            state=found.state,
            reached=int(found.reached),
            cycles=int(found.cycles),
            time_saved_seconds=int(found.time_saved_seconds),
            cost_savings=_millionths(
                found.cost_savings_high, found.cost_savings_low_high, found.cost_savings_low_low
            ),
            revenue_earned=_millionths(
                found.revenue_earned_high, found.revenue_earned_low_high, found.revenue_earned_low_low
            ),
        )
        for found in session.execute(_in_range(statement, workspace_id, query))
    ]


def day_rows(session: Session, workspace_id: uuid.UUID, query: ReportQuery) -> list[DayRow]:
    """The range's cycles counted per goal and local day, a column per state: the series. The states
    side by side make a third of the rows a row per state would, and Python's work is per row."""
    table = _table(query)
    counts = (func.sum(case((table.state == state, table.cycles), else_=0)) for state in STATES)
    statement = select(table.goal_id, table.day, *counts).group_by(table.goal_id, table.day)
    return [
        DayRow(goal_id, day, int(incomplete), int(partial), int(completed))
        for goal_id, day, incomplete, partial, completed in session.execute(
            _in_range(statement, workspace_id, query)
        )
    ]


def _in_range(statement: Select[*Ts], workspace_id: uuid.UUID, query: ReportQuery) -> Select[*Ts]:
    """`statement` over the rollup rows of the query's local days, goal and flow."""
    table = _table(query)
    statement = statement.where(
        table.workspace_id == workspace_id, table.day >= query.start, table.day <= query.end
    )
    if query.goal is not None:
        statement = statement.where(table.goal_id == query.goal.id.hex)
    if query.flow is not None:
        statement = statement.where(GoalCycleRollup.flow_id == query.flow)
    return statement


def _table(query: ReportQuery) -> type[GoalCycleRollup] | type[GoalCycleDayRollup]:
    """The rollup to read: by flow when the query names one, else the one summed over flows."""
    return GoalCycleDayRollup if query.flow is None else GoalCycleRollup


def cycle_goals(session: Session, workspace_id: uuid.UUID) -> dict[str, CycleGoal]:
    """Every multi-step goal of the workspace (a goal with steps), whatever its status, by id as the
    rollups spell it (hex), with its steps in their current order."""
    statement = (
        select(
            Goal.id,
            Goal.code,
            Goal.name,
            Goal.status,
            Goal.is_primary,
            GoalStep.key,
            GoalStep.name.label("step_name"),
            GoalStep.slot,
            GoalStep.completion,
            GoalStep.retired,
        )
        .join(GoalStep, and_(GoalStep.workspace_id == Goal.workspace_id, GoalStep.goal_id == Goal.id))
        .where(Goal.workspace_id == workspace_id)
        .order_by(Goal.id, GoalStep.position)
    )
    heads: dict[str, tuple[str, str, GoalStatus, bool]] = {}
    steps: dict[str, list[ReportStep]] = {}
    for found in session.execute(statement).mappings():
        goal_id = found["id"].hex
        if goal_id not in heads:
            heads[goal_id] = (found["code"], found["name"], GoalStatus(found["status"]), found["is_primary"])
            steps[goal_id] = []
        steps[goal_id].append(
            ReportStep(found["key"], found["step_name"], found["slot"], found["completion"], found["retired"])
        )
    return {
        goal_id: CycleGoal(code, name, status, is_primary, tuple(steps[goal_id]))
        for goal_id, (code, name, status, is_primary) in heads.items()
    }
