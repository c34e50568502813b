"""Rollups: what reports read instead of raw rows, kept up to date by ingestion.

Every rollup is keyed by the workspace's *local* day (its reporting time zone), so a day is the
workspace's day, daylight-saving changes included. Missing dimensions are stored as '' (not NULL) so
they can be part of a primary key. Money is summed in millionths of the currency unit (`comerix.money.
to_micros`): exact for every amount with at most 6 decimal places (every real currency has at most 4),
and summed by the database itself on both backends. A sum of millionths is kept as two 64-bit limbs,
`*_high` * 10^18 + `*_low` (`comerix.money.LIMB`), so that no sum of SPEC §2's amounts overflows.

- `outcome_rollups`: outcomes by day (of the outcome), goal, kind, flow, attribution, currency and base
  currency: the count, the sum of values and the sum of base values.
- `outcome_fallback_rollups`: the same, for the outcomes whose base value is their display value for
  want of an exchange rate (`display_fallback`), which reports show apart.
- `outcome_month_rollups`, `outcome_day_series`: the same outcomes by local month, and by day with only
  kind and base currency, so that a 90-day report reads a few hundred rows whatever the volume.
- `conversation_rollups`: conversations by the day they started and their flow.
- `conversation_marks`: which conversation has been credited with which goal under which attribution,
  and whether any of those outcomes was of kind conversion (a goal's kind can change): one row each.
- `conversation_goal_rollups`: conversations counted once by the day they started, their flow, the
  goal ('' = any goal of kind conversion) and the attribution ('' = any), for "converting
  conversations" and the per-goal "conversations" of the reports. Ingestion works out from a
  conversation's marks which of these it enters for the first time (`credits.credits`).
- `goal_cycle_rollups`: cycles of multi-step goals by the local day they started, goal, flow, state
  and the steps reached (a mask of step slots): how many, and the sums of their metrics. A cycle that
  moves on (incomplete to partial to completed) leaves its old row and enters its new one.
- `goal_cycle_day_rollups`: the same cycles and sums without the flow, which a report not filtered by
  flow reads: a rare mask of steps shows up in more (day, flow) rows as volume grows, and summing the
  flows away on each read would make the report slow down with the cycles it counts.
- `step_path_rollups`: conversations by the local day and flow of their first analytics step and the
  path of their first steps (SPEC §10): a conversation whose path grows leaves its old row and enters
  its new one. The Step Explorer reads the distinct paths of a range, far fewer than conversations.
- `step_path_days`: a revision of each local day's path rollups, moved on by every change to them, so
  that a process may keep a day's counts in memory while its revision stands (`analytics.path_counts`).
- `flow_steps`, `flow_step_days`: the analytics steps' catalogue (latest label, type) and their
  executions and conversations by UTC day, as the event-name catalogue counts names.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from comerix.db.base import Base
from comerix.db.types import JSONDocument, UTCDateTime, text_enum
from comerix.vocabulary import CLIENT_ID_LENGTH, FLOW_STEP_LABEL_LENGTH, FlowStepType


class _OutcomeSums:
    """The dimensions and sums shared by the daily and the monthly outcome rollups. Declarative puts a
    mixin's columns after the class's own, so the keys read (workspace_id, day or month, goal_id, …)."""

    goal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    attribution: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    base_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    outcomes: Mapped[int] = mapped_column(BigInteger)
    value_high: Mapped[int] = mapped_column(BigInteger)
    value_low: Mapped[int] = mapped_column(BigInteger)
    base_value_high: Mapped[int] = mapped_column(BigInteger)
    base_value_low: Mapped[int] = mapped_column(BigInteger)


class OutcomeRollup(_OutcomeSums, Base):
    __tablename__ = "outcome_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class OutcomeMonthRollup(_OutcomeSums, Base):
    """`outcome_rollups` summed over each local month: a long range reads a row per month, not per day."""

    __tablename__ = "outcome_month_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class OutcomeFallbackRollup(_OutcomeSums, Base):
    """The outcomes of `outcome_rollups` whose base value is their display value for want of a rate
    (`display_fallback`, SPEC §11): what a report shows beside base revenue, so that nothing is silent."""

    __tablename__ = "outcome_fallback_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class OutcomeDaySeries(Base):
    """Outcomes and base revenue per local day, kind and base currency: the series of a report that is
    not filtered by goal, flow or attribution, without reading every dimension of every day."""

    __tablename__ = "outcome_day_series"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    base_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    outcomes: Mapped[int] = mapped_column(BigInteger)
    base_value_high: Mapped[int] = mapped_column(BigInteger)
    base_value_low: Mapped[int] = mapped_column(BigInteger)


class ConversationRollup(Base):
    __tablename__ = "conversation_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    conversations: Mapped[int] = mapped_column(BigInteger)


class ConversationMark(Base):
    """A conversation credited with a goal under an attribution (never '': the rows for any goal and
    any attribution are worked out from these, `credits.credits`)."""

    __tablename__ = "conversation_marks"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attribution: Mapped[str] = mapped_column(String(16), primary_key=True)
    conversion: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ConversationGoalRollup(Base):
    __tablename__ = "conversation_goal_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attribution: Mapped[str] = mapped_column(String(16), primary_key=True)
    conversations: Mapped[int] = mapped_column(BigInteger)


class GoalCycleRollup(Base):
    __tablename__ = "goal_cycle_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    reached: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cycles: Mapped[int] = mapped_column(BigInteger)
    time_saved_seconds: Mapped[int] = mapped_column(BigInteger)
    cost_savings_high: Mapped[int] = mapped_column(BigInteger)
    cost_savings_low: Mapped[int] = mapped_column(BigInteger)
    revenue_earned_high: Mapped[int] = mapped_column(BigInteger)
    revenue_earned_low: Mapped[int] = mapped_column(BigInteger)


class GoalCycleDayRollup(Base):
    """`goal_cycle_rollups` summed over flows. SQLite keeps it in its key's order (WITHOUT ROWID): a
    range of days is then one contiguous read of the rows, with no look-up from an index into a
    table."""

    __tablename__ = "goal_cycle_day_rollups"
    __table_args__ = ({"sqlite_with_rowid": False},)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    reached: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cycles: Mapped[int] = mapped_column(BigInteger)
    time_saved_seconds: Mapped[int] = mapped_column(BigInteger)
    cost_savings_high: Mapped[int] = mapped_column(BigInteger)
    cost_savings_low: Mapped[int] = mapped_column(BigInteger)
    revenue_earned_high: Mapped[int] = mapped_column(BigInteger)
    revenue_earned_low: Mapped[int] = mapped_column(BigInteger)


class FlowStepEntry(Base):
    """An analytics step in the catalogue (SPEC §10), identified by its flow ('' for none) and id: its
    latest label (by the time of the event that sent it), type, and counts over all time."""

    __tablename__ = "flow_steps"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    label: Mapped[str] = mapped_column(String(FLOW_STEP_LABEL_LENGTH))
    type: Mapped[FlowStepType] = mapped_column(text_enum(FlowStepType, "flow_step_type"))
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the time of the label's event
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlowStepDay(Base):
    """A step's executions on a UTC day, and the conversations that executed it for the first time
    that day: the catalogue's counts over a range."""

    __tablename__ = "flow_step_days"
    __table_args__ = (Index(None, "workspace_id", "step_id", "day"),)  # a step's counts: `conversations`

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    executions: Mapped[int] = mapped_column(BigInteger)
    conversations: Mapped[int] = mapped_column(BigInteger)


class StepPathRollup(Base):
    """How many conversations took a path (the first steps they executed, `ConversationPath.path`), by
    the local day and flow of their first step: what the Step Explorer's trees are built from. `path_key`
    names the path in the key (a digest of its JSON text), which would be too long for an index."""

    __tablename__ = "step_path_rollups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), primary_key=True)
    path_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[list[str]] = mapped_column(JSONDocument)
    conversations: Mapped[int] = mapped_column(BigInteger)


class StepPathDay(Base):
    """The revision of a local day's rows in `step_path_rollups`: every change to them moves it on (in
    the same transaction), so a day's counts read at one revision are still the day's counts while the
    revision stands. It only grows: a day whose rows are all gone keeps its row."""

    __tablename__ = "step_path_days"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
