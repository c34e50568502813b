"""A batch as it reaches ingestion, and what of its stages can be worked out ahead of the transaction.

What needs no database (the goals each item achieves, the steps of multi-step goals it reaches, its
row of `events`, the names and property paths for the catalogue) may be worked out in the serving
process (`prepare`), while the writer process runs the previous group. Every batch carries a
`Prepared`, which the stages consult as a cache: an answer it holds is taken while still true and
worked out afresh otherwise, so a batch never prepared (`NOT_PREPARED`) takes the same path.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from comerix.db.bulk import Codec
from comerix.goals.index import GoalSpec, StepReached, WorkspaceGoals
from comerix.telemetry.schemas import Item

MAX_CATALOGUE_PATHS = 100  # per event: a huge properties object must not flood the catalogue
MAX_PATH = 255


class EventRow(NamedTuple):
    """An item's row of `events`, in a codec's terms."""

    workspace_id: Any
    id: Any
    event_id: str | None
    name: str
    timestamp: Any
    received_at: Any
    conversation_id: str | None
    contact_id: str | None
    flow_id: str | None
    source: str
    properties: str  # JSON text


EVENT_COLUMNS: tuple[str, ...] = EventRow._fields
Names = Mapping[str, tuple[int, frozenset[str]]]
"""For the event-name catalogue: each event name, how many items bear it, and their property paths."""


@dataclass(frozen=True)
class Prepared:
    """What of a batch's stages needs no database, as far as it was worked out ahead (`prepare`):

    - `achieved`, by item index: the codes of the goals each item's name and properties achieve, as of
      the workspace's goals at `revision` (items that achieve none left out);
    - `reached`, by item index: likewise, the steps of multi-step goals each item reaches
      (`StepReached`);
    - `names`: the batch's event names, counts and property paths, for the catalogue;
    - `events`: each item's row of `events`, with a new row id, in the terms of `dialect`'s codec.
    """

    revision: int | None = None
    achieved: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # read-only to the stages
    names: Names | None = None
    dialect: str | None = None
    events: tuple[EventRow, ...] = ()
    reached: Mapping[int, tuple[StepReached, ...]] = field(default_factory=dict)  # read-only too

    def goals_for(self, item: Item, goals: WorkspaceGoals) -> list[GoalSpec]:
        """The active goals whose conditions `item` meets: as found ahead if `goals` are the same
        revision, else matched now."""
        if self.revision == goals.revision:
            return [goals.by_code[code] for code in self.achieved.get(item.index, ())]
        return goals.achieved_by(item.name, item.properties)

    def steps_for(self, item: Item, goals: WorkspaceGoals) -> Sequence[StepReached]:
        """The steps of active multi-step goals whose conditions `item` meets, goal by goal, each
        goal's in the order they apply: as found ahead if `goals` are the same revision, else matched now."""
        if self.revision == goals.revision:
            return self.reached.get(item.index, ())
        return goals.steps_reached(item.name, item.properties)

    def event_rows(self, batch: Batch, codec: Codec) -> Sequence[EventRow]:
        """The batch's rows of `events` in `codec`'s terms, in the order of its items."""
        return self.events if self.dialect == codec.dialect else event_rows(batch, codec)

    def names_of(self, batch: Batch, stored: Sequence[Item]) -> Names:
        """The catalogue's names of the `stored` items of `batch` (all of them, or fewer when some
        were duplicates or ignored)."""
        return self.names if self.names is not None and len(stored) == len(batch.items) else names(stored)


NOT_PREPARED = Prepared()


@dataclass(frozen=True)
class Batch:
    """The items of one request, for one workspace."""

    workspace_id: uuid.UUID
    items: list[Item]
    received_at: datetime
    prepared: Prepared = NOT_PREPARED


def prepare(batch: Batch, goals: WorkspaceGoals, dialect: str) -> Batch:
    """`batch` with what needs no database worked out (`Prepared`) against `goals`, the workspace's
    goals as stored, for a database of `dialect` ("sqlite" or "postgresql")."""
    achieved: dict[int, tuple[str, ...]] = {}
    reached: dict[int, tuple[StepReached, ...]] = {}
    for item in batch.items:
        if item.goal_code is not None:
            continue
        if found := goals.achieved_by(item.name, item.properties):
            achieved[item.index] = tuple(goal.code for goal in found)
        if steps := goals.steps_reached(item.name, item.properties):
            reached[item.index] = steps
    events = tuple(event_rows(batch, Codec(dialect)))
    prepared = Prepared(goals.revision, achieved, names(batch.items), dialect, events, reached)
    return replace(batch, prepared=prepared)


def event_rows(batch: Batch, codec: Codec) -> list[EventRow]:
    """Each item's row of `events` with a new row id, in `codec`'s terms."""
    workspace, received = codec.id(batch.workspace_id), codec.time(batch.received_at)
    return [
        EventRow(
            workspace,
            codec.new_id(),
            item.event_id,
            item.name,
            codec.time(item.timestamp),
            received,
            item.conversation_id,
            item.contact_id,
            item.flow_id,
            item.source.value,
            item.properties_json if item.properties_json is not None else codec.json(item.properties),
        )
        for item in batch.items
    ]


def names(items: Sequence[Item]) -> dict[str, tuple[int, frozenset[str]]]:
    """Each event name of `items`, with how many bear it and the property paths seen on them."""
    counts: dict[str, int] = {}
    paths: dict[str, set[str]] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
        found = property_paths(item.properties)
        if found:
            paths.setdefault(item.name, set()).update(found)
    return {name: (count, frozenset(paths.get(name, ()))) for name, count in counts.items()}


def property_paths(properties: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths to every scalar or list in `properties` (what a match condition can name)."""
    found: list[str] = []
    for key, value in properties.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            found.extend(property_paths(value, f"{path}."))
        elif len(path) <= MAX_PATH:
            found.append(path)
        if len(found) >= MAX_CATALOGUE_PATHS:
            return found[:MAX_CATALOGUE_PATHS]
    return found


# --- the group and what the stages add to it ----------------------------------------------------------
