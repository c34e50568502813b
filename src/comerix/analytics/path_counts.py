"""The conversations of each distinct path over a range of local days, from `step_path_rollups`, with
each day's counts kept in this process while the day's revision (`step_path_days`) stands.

Why a memory: the Step Explorer folds every distinct path of its range (`analytics.step_paths`), and the
long tail of paths makes them many, in many more (day, flow, path) rows. Reading those rows takes the
database longer than the fold itself, on every call, though all but the last day or two never change
(docs/benchmarks.md, "analytics steps, issue 24"). So each day's counts are read once and
kept, with the revision they were read at; a call reads the revisions of its days (one small row each),
then the rows of the days whose revision moved on or that it does not hold (today, mostly), and adds up
what it holds. Ingestion moves a day's revision on in the transaction that changes its rows
(`step_rollups.add_path_changes`), and so does a rebuild for a new time zone.

The revisions are read before the rows: under READ COMMITTED a change committed in between is then in
rows kept under the older revision, which no later call takes (the revision has moved on), never the
other way round. What a process holds is bounded (`PathCounts.LIMIT` paths and day entries in all):
past it, the workspaces used least recently are forgotten whole.
"""

from __future__ import annotations

import sys
import threading
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from comerix.analytics.models import StepPathDay, StepPathRollup

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Day:
    """One day's counts at one revision: by flow, the paths (as numbers of `_Workspace.paths`) and
    their conversations."""

    revision: int
    flows: dict[str, tuple[array[int], array[int]]]

    @property
    def size(self) -> int:
        return sum(len(paths) for paths, _ in self.flows.values())


@dataclass
class _Workspace:
    """What a process holds of one workspace: each distinct path once (numbered as first met), and days."""

    numbers: dict[str, int] = field(default_factory=dict)  # a path's JSON text as stored: its number
    paths: list[Path] = field(default_factory=list)
    days: dict[date, _Day] = field(default_factory=dict)
    size: int = 0  # paths and day entries held
    lock: threading.Lock = field(default_factory=threading.Lock)

    def number(self, text: str) -> int:
        found = self.numbers.get(text)
        if found is None:
            found = self.numbers[text] = len(self.paths)
            # Step ids repeat across paths: one string each.
            self.paths.append(tuple(map(sys.intern, orjson.loads(text))))
            self.size += 1
        return found

    def load(self, session: Session, workspace_id: uuid.UUID, revisions: dict[date, int]) -> None:
        """Read the rows of the days of `revisions` and keep them at those revisions."""
        rollups = StepPathRollup
        days = sorted(revisions)
        built: dict[date, dict[str, tuple[array[int], array[int]]]] = {day: {} for day in days}
        for low in range(0, len(days), _DAYS_A_QUERY):
            chunk = days[low : low + _DAYS_A_QUERY]
            # The path's JSON as text: it is the key of the path's number, and decoded once (orjson).
            columns = (rollups.day, rollups.flow_id, cast(rollups.path, Text), rollups.conversations)
            read = select(*columns).where(
                rollups.workspace_id == workspace_id,
                rollups.day.in_(chunk),
                rollups.conversations > 0,
            )
            for day, flow, text, conversations in session.execute(read):
                found = built[day].get(flow)
                if found is None:
                    found = built[day][flow] = (array("q"), array("q"))
                found[0].append(self.number(text))
                found[1].append(conversations)
        for day in days:
            old = self.days.get(day)
            new = self.days[day] = _Day(revisions[day], built[day])
            self.size += new.size - (0 if old is None else old.size)


_DAYS_A_QUERY = 100  # days in one IN list


class PathCounts:
    """A process's memory of the workspaces' path counts by day; safe to share between threads."""

    LIMIT = 4_000_000  # paths and day entries held

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._workspaces: OrderedDict[uuid.UUID, _Workspace] = OrderedDict()
        self._lock = threading.Lock()

    def counts(
        self, session: Session, workspace_id: uuid.UUID, start: date, end: date, flow: str | None
    ) -> Iterator[tuple[Path, int]]:
        """Each distinct path of the conversations whose first step fell from `start` to `end` (local
        days, inclusive), in `flow` when given, with their number; paths of no conversations left out."""
        with self._lock:
            held = self._workspaces.get(workspace_id)
            if held is None:
                held = self._workspaces[workspace_id] = _Workspace()
            self._workspaces.move_to_end(workspace_id)
        with held.lock:
            days = StepPathDay
            revisions = dict(
                session.execute(
                    select(days.day, days.revision).where(
                        days.workspace_id == workspace_id, days.day >= start, days.day <= end
                    )
                ).all()
            )
            stale = {
                day: revision
                for day, revision in revisions.items()
                if (kept := held.days.get(day)) is None or kept.revision != revision
            }
            if stale:
                held.load(session, workspace_id, stale)
            summed: dict[int, int] = {}
            for day in revisions:
                for flow_id, (paths, conversations) in held.days[day].flows.items():
                    if flow is not None and flow_id != flow:
                        continue
                    for path, count in zip(paths, conversations, strict=True):
                        summed[path] = summed.get(path, 0) + count
            known = held.paths
        self._forget_beyond_limit(workspace_id)
        return ((known[path], count) for path, count in summed.items() if count > 0)

    def _forget_beyond_limit(self, keep: uuid.UUID) -> None:
        with self._lock:
            total = sum(held.size for held in self._workspaces.values())
            for workspace_id in list(self._workspaces):
                if total <= self._limit:
                    break
                if workspace_id != keep:
                    total -= self._workspaces.pop(workspace_id).size


PATH_COUNTS = PathCounts()
"""This process's memory, which the reports use unless given another."""
