"""The serving process's side of the writer process (`telemetry.writer`): what crosses the pipe between
the two, and when a group of batches goes.

On the pipe, the serving process sends a `Handover` of pickled batches, or `Stop`. The writer process
says `Committing` once the group it holds has run through the pipeline and its commit begins, then
sends `Answers`: one `Result` per batch, in order.

`Dispatcher` decides when groups go, as a state machine with no thread, pipe or clock of its own (the
time is passed in). Its loop (`IngestWriter`) tells it what happened and performs the `Action`s it
returns. Its rules:

- A batch that comes while the process is free goes at once, with whatever else is queued by then.
- While the process is busy, the batches that come wait, and are prepared one by one (`Prepare`:
  `batches.prepare`, then pickled), which takes that work off the process, which sets the pace. The
  loop looks for a word from the process between two preparations (`wait` is then 0).
- Once the process says it is committing, the batches waiting go as one group, prepared or not (a
  batch never waits for its preparation): the group crosses the pipe while that commit runs, and the
  process takes it up the moment it has answered. So at most two groups are in flight, and answers
  come back in the order the groups went.
- A group holds at most `max_group_items` items, and at least one batch: the rest waits.
- A process silent for `timeout` (since it last spoke, or was sent a group) while it holds a group is
  replaced, however busy the queue; so is one that died, or answered what it was not sent, or whose
  loop failed. The groups in flight then fail: nothing of them is known to be stored. The process is
  killed first, so that nothing it held commits once a client was told to send its batch again, and
  no answer to a failed group can come back later.
- After `stop`, what was queued before still goes; the machine is `finished` once nothing waits or
  is in flight.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from comerix.errors import DomainError
from comerix.telemetry.batches import Batch
from comerix.telemetry.pipeline import Recorded

# --- on the pipe --------------------------------------------------------------------------------------


def to_wire(batch: Batch) -> bytes:
    """A batch as it crosses to the writer process, pickled by the serving process."""
    return pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)


@dataclass(frozen=True)
class Handover:
    """Batches for the writer process to record in one transaction. Each is pickled on its own
    (`to_wire`), often long before the group goes: while the process was busy, rather than as the
    group is sent, while it waits."""

    pickled: tuple[bytes, ...]

    def batches(self) -> list[Batch]:
        # pickled by the serving process, the only writer to this pipe
        return [pickle.loads(batch) for batch in self.pickled]  # noqa: S301


@dataclass(frozen=True)
class Stop:
    """The serving process's last word: the writer process finishes the group it holds, and exits."""


@dataclass(frozen=True)
class Committing:
    """The writer process's word that the group it holds has run through the pipeline: its commit
    begins, and it takes the next group as soon as it has answered this one."""


class WriterProcessFailed(RuntimeError):
    """The writer process failed or died while it held the batch: nothing of it is known to be stored."""


@dataclass(frozen=True)
class Refused:
    """A batch the pipeline refused whole (a `DomainError`), by its class, message and details: an
    exception pickles with its message alone, and would lose the details."""

    error: type[DomainError]
    message: str
    details: list[dict[str, Any]]

    def exception(self) -> DomainError:
        return self.error(self.message, self.details)


@dataclass(frozen=True)
class Failed:
    """A batch that failed otherwise: the error in words, as any exception pickles but not all unpickle."""

    text: str

    def exception(self) -> WriterProcessFailed:
        return WriterProcessFailed(self.text)


Result = Recorded | Refused | Failed


@dataclass(frozen=True)
class Answers:
    """The writer process's answer to the oldest group it was sent: one result per batch, in order."""

    results: tuple[Result, ...]


def result_of(answer: Recorded | BaseException) -> Result:
    """What the writer process sends of a batch's answer (`writer_process.write_group`)."""
    if isinstance(answer, Recorded):
        return answer
    if isinstance(answer, DomainError):
        return Refused(type(answer), answer.message, answer.details)
    return Failed(f"{type(answer).__name__}: {answer}")


def answer_of(result: Result) -> Recorded | BaseException:
    """A batch's answer again, in the serving process: what was recorded, or the error to raise."""
    return result if isinstance(result, Recorded) else result.exception()


# --- when groups go -----------------------------------------------------------------------------------


class Job(Protocol):
    """A batch waiting to be written, as the machine sees it."""

    @property
    def size(self) -> int:
        """How many items the batch holds (`max_group_items` counts them)."""
        ...


J = TypeVar("J", bound=Job)


@dataclass(frozen=True)
class Send(Generic[J]):
    """Send this group to the process; it is in flight until settled or failed."""

    group: tuple[J, ...]


@dataclass(frozen=True)
class Settle(Generic[J]):
    """Answer each request of this group from the process's result for its batch."""

    group: tuple[J, ...]
    results: tuple[Result, ...]


@dataclass(frozen=True)
class Fail(Generic[J]):
    """Answer each request of these groups that its batch is not known to be stored (503)."""

    groups: tuple[tuple[J, ...], ...]


@dataclass(frozen=True)
class Replace:
    """Kill the process (which rolls back what it holds) and start a new one."""

    why: str


@dataclass(frozen=True)
class Prepare(Generic[J]):
    """Prepare this batch, and tell the machine what came of it (`Dispatcher.prepared`)."""

    job: J


Action = Send[J] | Settle[J] | Fail[J] | Replace | Prepare[J]


def split(jobs: Sequence[J], max_items: int) -> tuple[tuple[J, ...], list[J]]:
    """The first jobs, up to `max_items` items (at least one job), and the rest."""
    size = 0
    for count, job in enumerate(jobs):
        size += job.size
        if size > max_items and count > 0:
            return tuple(jobs[:count]), list(jobs[count:])
    return tuple(jobs), []


class Dispatcher(Generic[J]):
    """The rules of the module's docstring, over the events of one writer process and its successors.
    Each method is an event; `now` is a monotonic time in seconds, `timeout` how long the process may
    stay silent while it holds a group (given with each call: the loop reads `WRITE_TIMEOUT` afresh)."""

    def __init__(self, max_group_items: int) -> None:
        self._max_group_items = max_group_items
        self._in_flight: deque[tuple[J, ...]] = deque()  # oldest first
        self._waiting: list[J] = []  # for the next group, in the order they came
        self._prepared = 0  # how many of `_waiting`, from the first, are prepared
        self._free = True  # the process may take another group
        self._stopping = False
        self._heard = 0.0  # when the process last spoke, or was sent a group

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def finished(self) -> bool:
        return self._stopping and not self._in_flight and not self._waiting

    def queued(self, jobs: Sequence[J], now: float) -> list[Action[J]]:
        """The loop has just looked at its queue and taken `jobs` (perhaps none): if the process is free,
        the batches waiting go. (Only then, so that what is queued goes too.)"""
        self._waiting.extend(jobs)
        if not (self._free and self._waiting):
            return []
        group, self._waiting = split(self._waiting, self._max_group_items)
        self._prepared = max(0, self._prepared - len(group))
        self._in_flight.append(group)
        self._free, self._heard = False, now
        return [Send(group)]

    def stop(self) -> None:
        """Stop was asked: the loop takes nothing more from its queue."""
        self._stopping = True

    def heard(self, word: Committing | Answers, now: float) -> list[Action[J]]:
        """The process spoke."""
        self._heard = now
        if isinstance(word, Committing):
            self._free = True
            return []
        if not self._in_flight:
            return self.lost("the writer process answered a group it was not sent")
        group = self._in_flight[0]
        if len(word.results) != len(group):
            return self.lost(f"{len(word.results)} answers to a group of {len(group)} batches")
        self._in_flight.popleft()
        self._free = self._free or not self._in_flight  # answered before committing: failed whole
        return [Settle(group, word.results)]

    def lost(self, why: str) -> list[Action[J]]:
        """The process is lost: it died, could not be sent a group, or the loop failed while it ran."""
        failed = tuple(self._in_flight)
        self._in_flight.clear()
        self._free = True
        # Killed before any request hears that its batch failed: a transaction that hung on a lock, then
        # got it, must not commit after its client was told to send the batch again.
        return [Replace(why), Fail(failed)] if failed else [Replace(why)]

    def quiet(self, now: float, timeout: float) -> list[Action[J]]:
        """The loop's wait ended without a word from the process (a batch came, or time passed)."""
        if self._in_flight and now >= self._heard + timeout:
            return self.lost(f"no answer within {timeout:g} s")
        if self._free or self._prepared == len(self._waiting):
            return []
        return [Prepare(self._waiting[self._prepared])]

    def prepared(self, job: J) -> None:
        """What came of the last `Prepare`: the job that takes the prepared one's place."""
        self._waiting[self._prepared] = job
        self._prepared += 1

    def wait(self, now: float, timeout: float) -> float | None:
        """How long the loop may wait for a word from the process or a batch, in seconds (None: for as
        long as it takes): not at all while a group may go or a batch be prepared, and no longer than
        the time left to a process holding a group."""
        if self._waiting and (self._free or self._prepared < len(self._waiting)):
            return 0.0
        if self._in_flight:
            return max(0.0, self._heard + timeout - now)
        return None
