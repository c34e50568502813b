"""The ingestion pipeline as the service runs it: the stages of every package that owns rows, in order
(`telemetry.pipeline` says what a stage is). Telemetry must not import the packages above it, so their
stages join the list here. To add a stage, write its function in the package that owns its rows and
put it here, in its place.

The order is also the order in which a group takes its locks, the same in every writer, so that
writers of several services on one PostgreSQL database seldom wait on each other in a circle:
`events`, `conversation_rollups`, `conversations`, `contacts`, `executed_step_runs` and
`conversation_paths`, the conversations joined to the cycles of multi-step goals by the window rule
(in the order of their ids), `goal_cycles`, `goal_cycle_rollups`, `goal_cycle_day_rollups`,
`outcomes`, the outcome rollups, the credited conversations (in the order of their ids) and their
marks, and the rows every group of a workspace shares, last: the step path rollups, the step catalogue
and the event-name catalogue. The cycles come before the outcomes because a completion's outcome is
recorded by the stages after them, as any match's. Conversations are locked in three of these places
(named, joined, credited), so two writers can still meet in a circle over one contact's chats;
PostgreSQL then stops one of them, whose batches are answered 503 with `Retry-After`, and a retry with
the same event ids records them once.
"""

from __future__ import annotations

from comerix.analytics import cycle_rollups, rollups, step_rollups
from comerix.telemetry import catalogue, cycles, stages, steps
from comerix.telemetry.pipeline import Stage

STAGES: tuple[Stage, ...] = (
    stages.validate,
    stages.dedupe,
    stages.conversation,
    rollups.count_conversation_changes,
    stages.store_conversations,
    steps.record_steps,
    stages.match,
    cycles.advance,
    cycle_rollups.count_cycle_changes,
    stages.value,
    stages.attribute,
    stages.record,
    stages.persist,
    rollups.count_outcome_records,
    step_rollups.count_steps,
    catalogue.catalogue,
)
