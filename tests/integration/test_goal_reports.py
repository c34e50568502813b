"""The goals report read from the cycle rollups agrees with a naive recomputation from the stored cycles
with the steps they reached (`goal_cycles`), on each backend: from `goal_cycle_day_rollups` without a
flow filter, from `goal_cycle_rollups` with one; and the first always holds the second summed over flows.

Hypothesis generates cycles of three multi-step goals (one with its steps reordered and one retired,
one paused), at times near the edges of local days, in time zones with daylight-saving changes and far
east and west, and compares every figure of the report, for random ranges, filters and intervals, with
`naive_report` below. The rollups are filled three ways: by `cycle_rollups.rebuild` from the stored
cycles; by the rollup stage itself (`count_cycle_changes`), fed each cycle's moves (opened, then each
step) across groups; and by the whole pipeline (`comerix.ingestion.STAGES`) from events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comerix.analytics import cycle_rollups, goal_reports, rollups
from comerix.analytics.models import GoalCycleDayRollup, GoalCycleRollup
from comerix.analytics.report_query import ReportQuery
from comerix.analytics.schemas import GoalsReport
from comerix.analytics.sums import local_day
from comerix.auth.service import Principal, principal_of
from comerix.contacts import service as contacts
from comerix.conversions.models import GoalCycle, step_time
from comerix.db import Database
from comerix.db.bulk import Codec
from comerix.errors import Invalid
from comerix.goals import service as goals
from comerix.goals.index import GoalIndex, WorkspaceGoals
from comerix.goals.models import Goal, GoalStep
from comerix.goals.schemas import GoalCreate, GoalUpdate
from comerix.ingestion import STAGES
from comerix.money import LIMB
from comerix.rates.service import RATES
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import CycleChange, CycleTally, Group, Terms, ingest, ingest_group
from comerix.telemetry.schemas import Item
from comerix.vocabulary import CycleState, GoalStatus, Source
from comerix.workspaces import service as workspaces
from comerix.workspaces.models import Workspace
from comerix.workspaces.schemas import AnalyticsSettings
from tests.factories import make_user, make_workspace

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)  # spans Europe's and America's DST changes
# DST both sides of the Atlantic, +05:45, +13:45 (+12:45 in the southern winter), -11:00
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "Pacific/Pago_Pago", "UTC"]
FLOWS = ["sales", "support", None]
CODES = ["booking", "order", "legacy"]
SECONDS = [0, 30, 3600]
COSTS = ["0", "0.10", "1.005", "0.333333"]
REVENUES = ["0", "1.50", "19.99", "999999999.999999"]


def step(key: str, trigger: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "trigger_event": trigger} | fields


def workspace_with_goals(db: Database, zone: str) -> Workspace:
    """A workspace reporting in `zone` with three multi-step goals and a single-step one:
    - booking (primary): ask → quote → confirm, then `pay` added before quote and quote retired, so its
      current order (ask, pay, quote, confirm) is not the order of its slots (0, 3, 1, 2);
    - order: cart → buy; legacy (paused): open_ticket → close_ticket; sale: single-step."""
    with db.transaction() as session:
        workspace = make_workspace(session, NOW, timezone=zone, base_currency="CHF")
        admin = principal_of(make_user(session, workspace, NOW))
        booking = _create(
            session,
            admin,
            "booking",
            [
                step("ask", "ask", time_saved_seconds=30),
                step("quote", "quote", cost_savings="0.10"),
                step("confirm", "confirm", completion=True, revenue_earned="19.99"),
            ],
            is_primary=True,
        )
        goals.update(
            session,
            booking,
            GoalUpdate(
                steps=[
                    step("ask", "ask", time_saved_seconds=30),
                    step("pay", "pay", time_saved_seconds=3600, cost_savings="1.005"),
                    step("quote", "quote", cost_savings="0.10", retired=True),
                    step("confirm", "confirm", completion=True, revenue_earned="19.99"),
                ]
            ),
            actor=admin,
            now=NOW,
        )
        _create(session, admin, "order", [step("cart", "cart"), step("buy", "buy", completion=True)])
        legacy = _create(
            session,
            admin,
            "legacy",
            [
                step("open", "open_ticket"),
                step("close", "close_ticket", completion=True, revenue_earned="1.50"),
            ],
        )
        goals.set_status(session, legacy, GoalStatus.PAUSED, actor=admin, now=NOW)
        goals.create(
            session,
            workspace.id,
            GoalCreate(code="sale", name="Sale", kind="conversion", trigger_event="purchase"),
            actor=admin,
            now=NOW,
        )
    return workspace


def _create(
    session: Session, admin: Principal, code: str, steps: list[dict[str, Any]], is_primary: bool = False
) -> Goal:
    body = GoalCreate(code=code, name=code.title(), kind="conversion", is_primary=is_primary, steps=steps)
    return goals.create(session, admin.workspace_id, body, actor=admin, now=NOW)


@dataclass(frozen=True)
class Shape:
    """A stored multi-step goal's steps: the start step's slot, the others', the completions'."""

    goal_id: uuid.UUID
    start: int
    others: tuple[int, ...]
    completions: frozenset[int]
    keys: dict[int, str]


def shapes(session: Session, workspace_id: uuid.UUID) -> dict[str, Shape]:
    found: dict[str, Shape] = {}
    for goal in session.scalars(select(Goal).where(Goal.workspace_id == workspace_id)):
        steps = session.scalars(
            select(GoalStep).where(GoalStep.workspace_id == workspace_id, GoalStep.goal_id == goal.id)
        ).all()
        if steps:
            ordered = sorted(steps, key=lambda s: s.position)
            found[goal.code] = Shape(
                goal.id,
                ordered[0].slot,
                tuple(sorted(s.slot for s in ordered[1:])),
                frozenset(s.slot for s in steps if s.completion),
                {s.slot: s.key for s in steps},
            )
    return found


# --- the naive recomputation ------------------------------------------------------------------------


def _rate(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.0000")
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def naive_report(session: Session, workspace: Workspace, query: ReportQuery) -> list[dict[str, Any]]:
    """Every figure of the report, recomputed from the stored cycles: day, flow, state, the metrics each
    counts for, and the steps it reached (`reached_at`)."""
    tz, ws = workspace.timezone, workspace.id
    cycles = session.scalars(select(GoalCycle).where(GoalCycle.workspace_id == ws)).all()
    slots_of = {c.id: {int(slot) for slot in c.reached_at} for c in cycles}
    steps: defaultdict[uuid.UUID, list[GoalStep]] = defaultdict(list)
    for s in session.scalars(select(GoalStep).where(GoalStep.workspace_id == ws).order_by(GoalStep.position)):
        steps[s.goal_id].append(s)
    entries = []
    for goal in session.scalars(select(Goal).where(Goal.workspace_id == ws)):
        if goal.id not in steps or (query.goal is not None and goal.id != query.goal.id):
            continue
        chosen = [
            c
            for c in cycles
            if c.goal_id == goal.id
            and query.start <= local_day(c.started_at, tz) <= query.end
            and (query.flow is None or c.flow_id == query.flow)
        ]
        if not chosen and goal.status is not GoalStatus.ACTIVE and query.goal is None:
            continue
        counted = [c for c in chosen if c.state is not CycleState.INCOMPLETE]
        order = [s.slot for s in steps[goal.id]]
        reached = {slot: sum(slot in slots_of[c.id] for c in chosen) for slot in order}
        dropped: defaultdict[int, int] = defaultdict(int)
        for c in chosen:
            slots = slots_of[c.id]
            if c.state is not CycleState.COMPLETED and slots:
                dropped[max(slots, key=order.index)] += 1
        series: defaultdict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
        for c in chosen:
            period = query.interval.start_of(local_day(c.started_at, tz))
            series[period][list(CycleState).index(c.state)] += 1
        entries.append(
            {
                "goal": goal.code,
                "status": goal.status.value,
                "is_primary": goal.is_primary,
                "name": goal.name,
                "started": len(chosen),
                "states": [sum(c.state is state for c in chosen) for state in CycleState],
                "completion_rate": _rate(sum(c.state is CycleState.COMPLETED for c in chosen), len(chosen)),
                "time_saved_seconds": sum(c.time_saved_seconds for c in counted),
                "cost_savings": sum((c.cost_savings for c in counted), Decimal(0)),
                "revenue_earned": sum((c.revenue_earned for c in counted), Decimal(0)),
                "funnel": [
                    (s.key, s.retired, reached[s.slot], _rate(reached[s.slot], len(chosen)), dropped[s.slot])
                    for s in steps[goal.id]
                ],
                "series": {period: tuple(counts) for period, counts in series.items()},
            }
        )
    entries.sort(key=lambda e: (not e["is_primary"], e["name"], e["goal"]))
    return entries


def rolled_up(report: GoalsReport, query: ReportQuery) -> list[dict[str, Any]]:
    """The report in `naive_report`'s terms (empty periods of the series left out, once checked)."""
    entries = []
    for g in report.goals:
        assert [point.period for point in g.series] == query.periods()
        entries.append(
            {
                "goal": g.goal,
                "status": g.status,
                "is_primary": g.is_primary,
                "name": g.name,
                "started": g.started,
                "states": [g.incomplete, g.partial, g.completed],
                "completion_rate": g.completion_rate,
                "time_saved_seconds": g.time_saved_seconds,
                "cost_savings": g.cost_savings,
                "revenue_earned": g.revenue_earned,
                "funnel": [(s.key, s.retired, s.reached, s.share, s.drop_off) for s in g.funnel],
                "series": {
                    p.period: (p.incomplete, p.partial, p.completed)
                    for p in g.series
                    if p.incomplete or p.partial or p.completed
                },
            }
        )
    return entries


def check(session: Session, workspace: Workspace, params: dict[str, str | None]) -> None:
    query = goal_reports.parse_query(session, workspace.id, params)
    report = goal_reports.goals_report(session, workspace, query)
    assert rolled_up(report, query) == naive_report(session, workspace, query)
    assert day_rollup(session, workspace.id, GoalCycleDayRollup) == day_rollup(
        session, workspace.id, GoalCycleRollup
    )


def day_rollup(
    session: Session, workspace_id: uuid.UUID, model: type[GoalCycleRollup] | type[GoalCycleDayRollup]
) -> dict[tuple[date, str, str, int], tuple[int, int, int, int]]:
    """A cycle rollup's rows summed over flows (if it has them), in millionths; rows at 0 left out."""
    sums: defaultdict[tuple[date, str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in session.scalars(select(model).where(model.workspace_id == workspace_id)):
        entry = sums[(row.day, row.goal_id, row.state, row.reached)]
        entry[0] += row.cycles
        entry[1] += row.time_saved_seconds
        entry[2] += row.cost_savings_high * LIMB + row.cost_savings_low
        entry[3] += row.revenue_earned_high * LIMB + row.revenue_earned_low
    return {key: (a, b, c, d) for key, (a, b, c, d) in sums.items() if any((a, b, c, d))}


# --- cycles stored directly --------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """A generated cycle: its goal, where and when it started, and the steps it reached in order, each
    with its worth (seconds, cost, revenue) at the time."""

    goal: Shape
    conversation: str
    contact: str
    flow: str | None
    started_at: datetime
    hits: tuple[tuple[int, int, Decimal, Decimal], ...]

    def tally(self, reached: int) -> CycleTally:
        """What the cycle counts for once its first `reached` steps are in."""
        hits = self.hits[:reached]
        if hits[-1][0] in self.goal.completions:
            state = CycleState.COMPLETED
        else:
            state = CycleState.PARTIAL if len(hits) > 1 else CycleState.INCOMPLETE
        if state is CycleState.INCOMPLETE:
            return CycleTally(state, 1 << hits[0][0], 0, Decimal(0), Decimal(0))
        return CycleTally(
            state,
            sum(1 << slot for slot, *_ in hits),
            sum(seconds for _, seconds, _, _ in hits),
            sum((cost for *_, cost, _ in hits), Decimal(0)),
            sum((revenue for *_, revenue in hits), Decimal(0)),
        )

    def changes(self) -> list[CycleChange]:
        """The cycle's moves as ingestion reports them: opened, then one per step."""
        moves, before = [], None
        for reached in range(1, len(self.hits) + 1):
            after = self.tally(reached)
            moves.append(CycleChange(self.goal.goal_id, self.started_at, self.flow, before, after))
            before = after
        return moves


# whole days plus a time of day near the edges, where local and UTC days differ
minutes = st.builds(
    lambda day, at: day * 1440 + at,
    st.integers(0, 29),
    st.sampled_from([0, 1, 59, 60, 61, 119, 121, 180, 300, 345, 720, 1080, 1320, 1380, 1439]),
)
cycle_spec = st.fixed_dictionaries(
    {
        "goal": st.sampled_from(CODES),
        "contact": st.integers(0, 3),
        "flow": st.sampled_from(FLOWS),
        "minutes": minutes,
        "steps": st.lists(st.integers(0, 5), max_size=4),  # picks among the goal's other steps
        "worth": st.lists(
            st.tuples(st.sampled_from(SECONDS), st.sampled_from(COSTS), st.sampled_from(REVENUES)),
            min_size=5,
            max_size=5,
        ),
    }
)


def seeded(specs: Sequence[dict[str, Any]], goals_by_code: dict[str, Shape]) -> list[Seeded]:
    """The cycles of `specs`: the start step, then the picked steps once each, up to a completion."""
    found = []
    for index, spec in enumerate(specs):
        shape = goals_by_code[spec["goal"]]
        slots = [shape.start]
        for pick in spec["steps"]:
            slot = shape.others[pick % len(shape.others)]
            if slot not in slots and slots[-1] not in shape.completions:
                slots.append(slot)
        hits = tuple(
            (slot, seconds, Decimal(cost), Decimal(revenue))
            for slot, (seconds, cost, revenue) in zip(slots, spec["worth"], strict=False)
        )
        found.append(
            Seeded(
                shape,
                f"c{index}",  # one cycle per conversation: each may stay open
                f"k{spec['contact']}",
                spec["flow"],
                START + timedelta(minutes=spec["minutes"]),
                hits,
            )
        )
    return found


def store(session: Session, workspace_id: uuid.UUID, cycles: Sequence[Seeded]) -> None:
    """The cycles' rows, with the steps they reached, as ingestion leaves them."""
    for cycle in cycles:
        tally = cycle.tally(len(cycle.hits))
        at = [cycle.started_at + timedelta(minutes=n) for n in range(len(cycle.hits))]
        row = GoalCycle(
            workspace_id=workspace_id,
            goal_id=cycle.goal.goal_id,
            conversation_id=cycle.conversation,
            open_for=None if tally.state is CycleState.COMPLETED else cycle.conversation,
            contact_id=cycle.contact,
            flow_id=cycle.flow,
            started_at=cycle.started_at,
            last_step_at=at[-1],
            ended_at=at[-1] if tally.state is CycleState.COMPLETED else None,
            state=tally.state,
            reached=tally.reached,
            steps_reached=len(cycle.hits),
            time_saved_seconds=tally.time_saved_seconds,
            cost_savings=tally.cost_savings,
            revenue_earned=tally.revenue_earned,
            reached_at={
                str(slot): step_time(moment) for (slot, *_), moment in zip(cycle.hits, at, strict=True)
            },
        )
        session.add(row)
    session.flush()


def count_through_the_stage(db: Database, workspace: Workspace, cycles: Sequence[Seeded], split: int) -> None:
    """Each cycle's moves through `count_cycle_changes`, `split` moves a group (a transaction each),
    the cycles' moves interleaved: a cycle opened in one group moves on in a later one."""
    moves = [cycle.changes() for cycle in cycles]
    ordered = [m[n] for n in range(max(map(len, moves), default=0)) for m in moves if n < len(m)]
    for low in range(0, len(ordered), split):
        with db.transaction() as session:
            group = Group(
                session=session,
                codec=Codec(db.backend),
                terms=Terms(
                    workspace.id,
                    workspace.base_currency,
                    workspace.timezone,
                    RATES.for_workspace(
                        session, workspace.id, workspace.base_currency, workspace.timezone, 0
                    ),
                ),
                goals=WorkspaceGoals.build(0, []),
                batches=(),
                cycle_changes=tuple(ordered[low : low + split]),
            )
            assert cycle_rollups.count_cycle_changes(group) is group


def params_of(start_day: int, days: int, **filters: str | None) -> dict[str, str | None]:
    return {
        "from": (START.date() + timedelta(days=start_day)).isoformat(),
        "to": (START.date() + timedelta(days=start_day + days)).isoformat(),
        **filters,
    }


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    specs=st.lists(cycle_spec, min_size=1, max_size=30),
    through_stage=st.booleans(),
    split=st.integers(1, 12),
    start_day=st.integers(0, 29),
    days=st.integers(0, 45),
    goal=st.sampled_from([None, *CODES]),
    flow=st.sampled_from([None, *FLOWS[:2]]),
    interval=st.sampled_from(["day", "week", "month"]),
)
@example(
    zone="Asia/Kathmandu",
    specs=[
        {
            "goal": "booking",
            "contact": 0,
            "flow": "sales",
            "minutes": 1320,
            "steps": [0, 1, 2],
            "worth": [(30, "0.10", "1.50")] * 5,
        }
    ],
    through_stage=True,
    split=1,
    start_day=0,
    days=2,
    goal=None,
    flow=None,
    interval="day",
)  # 22:00 UTC is the next day in Kathmandu; a cycle completed over four groups
@example(
    zone="Europe/Berlin",
    specs=[
        {
            "goal": "order",
            "contact": n % 2,
            "flow": "support",
            "minutes": n * 1500,
            "steps": [n % 2],
            "worth": [(3600, "0.333333", "999999999.999999")] * 5,
        }
        for n in range(28)
    ],
    through_stage=False,
    split=3,
    start_day=10,
    days=42,
    goal="order",
    flow="support",
    interval="week",
)  # over the end of summer time; sums with carries past the low limb
def test_the_report_agrees_with_stored_cycles(
    db: Database,
    zone: str,
    specs: list[dict[str, Any]],
    through_stage: bool,
    split: int,
    start_day: int,
    days: int,
    goal: str | None,
    flow: str | None,
    interval: str,
) -> None:
    workspace = workspace_with_goals(db, zone)
    with db.transaction() as session:
        cycles = seeded(specs, shapes(session, workspace.id))
        store(session, workspace.id, cycles)
        if not through_stage:
            cycle_rollups.rebuild(session, workspace.id, zone)
    if through_stage:
        count_through_the_stage(db, workspace, cycles, split)
    with db.transaction() as session:
        check(session, workspace, params_of(start_day, days, goal=goal, flow=flow, interval=interval))


def test_the_stage_and_a_rebuild_leave_the_same_figures(db: Database) -> None:
    """Cycles moved on across groups leave rows at 0 behind; a rebuild leaves none. Reports agree."""
    workspace = workspace_with_goals(db, "Europe/Berlin")
    specs = [
        {
            "goal": CODES[n % 3],
            "contact": n % 4,
            "flow": FLOWS[n % 3],
            "minutes": n * 211 % (20 * 1440),
            "steps": [n % 5, n % 3, 1],
            "worth": [(SECONDS[n % 3], COSTS[n % 4], REVENUES[n % 4])] * 5,
        }
        for n in range(60)
    ]
    with db.transaction() as session:
        cycles = seeded(specs, shapes(session, workspace.id))
        store(session, workspace.id, cycles)
    count_through_the_stage(db, workspace, cycles, 7)
    queries = [params_of(0, 30, interval="week", flow=flow) for flow in (None, "sales")]
    with db.transaction() as session:
        by_stage = [
            goal_reports.goals_report(session, workspace, goal_reports.parse_query(session, workspace.id, p))
            for p in queries
        ]
        cycle_rollups.rebuild(session, workspace.id, workspace.timezone)
        for params, expected in zip(queries, by_stage, strict=True):
            query = goal_reports.parse_query(session, workspace.id, params)
            assert goal_reports.goals_report(session, workspace, query) == expected
            assert expected.goals[0].started > 0
            check(session, workspace, params)


def test_changing_the_time_zone_recomputes_the_days_of_cycles(db: Database) -> None:
    workspace = workspace_with_goals(db, "UTC")
    specs = [
        {
            "goal": CODES[n % 2],
            "contact": n % 3,
            "flow": FLOWS[n % 3],
            "minutes": n * 97 % (5 * 1440),
            "steps": [n % 4, 2],
            "worth": [(30, "0.10", "1.50")] * 5,
        }
        for n in range(40)
    ]
    with db.transaction() as session:
        store(session, workspace.id, seeded(specs, shapes(session, workspace.id)))
        cycle_rollups.rebuild(session, workspace.id, "UTC")
    with db.transaction() as session:
        stored = session.get(Workspace, workspace.id)
        assert stored is not None
        workspaces.update_analytics_settings(
            session,
            stored,
            AnalyticsSettings(base_currency="CHF", timezone="Pacific/Auckland"),
            rebuild_rollups=rollups.rebuild,
        )
    with db.transaction() as session:
        stored = session.get(Workspace, workspace.id)
        assert stored is not None
        for day in range(6):
            check(session, stored, params_of(day, 0))
        check(session, stored, params_of(0, 6, interval="week"))


def test_erasing_a_contact_keeps_the_report(db: Database) -> None:
    workspace = workspace_with_goals(db, "Europe/Berlin")
    specs = [
        {
            "goal": CODES[n % 3],
            "contact": n % 2,
            "flow": FLOWS[n % 3],
            "minutes": n * 313 % (10 * 1440),
            "steps": [n % 3, 0, 1],
            "worth": [(30, "0.10", "1.50")] * 5,
        }
        for n in range(20)
    ]
    with db.transaction() as session:
        store(session, workspace.id, seeded(specs, shapes(session, workspace.id)))
        cycle_rollups.rebuild(session, workspace.id, workspace.timezone)
    params = params_of(0, 12)
    with db.transaction() as session:
        query = goal_reports.parse_query(session, workspace.id, params)
        before = goal_reports.goals_report(session, workspace, query)
        contacts.erase(session, workspace.id, "k0")
    with db.transaction() as session:
        assert goal_reports.goals_report(session, workspace, query) == before
        assert before.goals[0].started > 0


# --- through the whole pipeline ----------------------------------------------------------------------

TRIGGERS = ["ask", "pay", "quote", "confirm", "cart", "buy", "open_ticket", "close_ticket", "message"]
STARTS = {"ask", "cart"}  # the start steps of the active goals (legacy is paused)

chat_event = st.fixed_dictionaries(
    {
        "chat": st.integers(0, 5),
        "contact": st.integers(0, 3),
        "flow": st.sampled_from(FLOWS),
        "minutes": minutes,
        "name": st.sampled_from(TRIGGERS),
    }
)


def to_item(spec: dict[str, Any], index: int) -> Item:
    return Item(
        index=index,
        source=Source.WIDGET,
        name=spec["name"],
        timestamp=START + timedelta(minutes=spec["minutes"]),
        event_id=None,
        conversation_id=f"c{spec['chat']}",
        contact_id=f"k{spec['contact']}",
        flow_id=spec["flow"],
        properties={},
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    specs=st.lists(chat_event, min_size=1, max_size=40),
    split=st.integers(1, 10),
    grouped=st.booleans(),
    start_day=st.integers(0, 29),
    days=st.integers(0, 45),
    goal=st.sampled_from([None, *CODES]),
    flow=st.sampled_from([None, *FLOWS[:2]]),
    interval=st.sampled_from(["day", "week", "month"]),
)
def test_the_report_agrees_with_cycles_the_pipeline_stored(
    db: Database,
    zone: str,
    specs: list[dict[str, Any]],
    split: int,
    grouped: bool,
    start_day: int,
    days: int,
    goal: str | None,
    flow: str | None,
    interval: str,
) -> None:
    """Needs the cycles stage of ingestion (`telemetry.cycles`) and this rollup stage in STAGES."""
    workspace = workspace_with_goals(db, zone)
    items = [to_item(spec, i) for i, spec in enumerate(specs)]
    batches = [
        Batch(workspace.id, [Item(**{**item.__dict__, "index": i}) for i, item in enumerate(chunk)], NOW)
        for chunk in (items[part : part + split] for part in range(0, len(items), split))
    ]
    index = GoalIndex()
    if grouped:  # as the group-commit writer does: every batch in one transaction
        with db.transaction() as session:
            ingest_group(session, batches, index, STAGES)
    else:
        for batch in batches:
            with db.transaction() as session:
                ingest(session, batch, index, STAGES)
    with db.transaction() as session:
        if any(spec["name"] in STARTS for spec in specs):
            stored = session.scalar(
                select(func.count()).select_from(GoalCycle).where(GoalCycle.workspace_id == workspace.id)
            )
            assert stored, "a start step was sent, yet no cycle is stored: is the cycles stage in STAGES?"
        check(session, workspace, params_of(start_day, days, goal=goal, flow=flow, interval=interval))


@pytest.mark.parametrize("code", ["sale", "nope"])
def test_a_goal_filter_must_name_a_multi_step_goal(db: Database, code: str) -> None:
    workspace = workspace_with_goals(db, "UTC")
    with db.transaction() as session, pytest.raises(Invalid) as raised:
        goal_reports.parse_query(session, workspace.id, params_of(0, 1, goal=code, interval="year"))
    assert sorted(d["field"] for d in raised.value.details) == ["goal", "interval"]
