"""How the serving process hands groups to the writer process (`telemetry.dispatch.Dispatcher`): events
in, actions out, the time passed in. A group goes at once to a free process and as soon as a busy one
says it is committing; batches that come meanwhile are prepared one by one; answers settle the groups
in the order they went; a process that dies, hangs or says what it should not takes every group it
holds down with it, and is replaced. And what crosses the pipe comes back as it went.

The real process, with the real loop around the machine, is tried in
tests/functional/test_writer_process.py."""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from comerix.errors import FieldProblem, Invalid
from comerix.telemetry.batches import Batch
from comerix.telemetry.dispatch import (
    Answers,
    Committing,
    Dispatcher,
    Fail,
    Failed,
    Handover,
    Prepare,
    Refused,
    Replace,
    Send,
    Settle,
    WriterProcessFailed,
    answer_of,
    result_of,
    to_wire,
)

TIMEOUT = 60.0


@dataclass(frozen=True)
class Job:
    """A batch as the machine sees it: told apart by name; `prepared` once it went through `Prepare`."""

    name: str
    size: int = 1
    prepared: bool = False


def jobs(names: str, size: int = 1) -> list[Job]:
    return [Job(name, size) for name in names]


a, b, c, d = jobs("abcd")


def ready(job: Job) -> Job:
    return Job(job.name, job.size, prepared=True)


def said(*texts: str) -> Answers:
    """The process's answer to a group, one result per batch (any result does: the machine passes them
    on to be settled)."""
    return Answers(tuple(Failed(text) for text in texts))


def busy_with(*groups: list[Job], max_group_items: int = 100) -> Dispatcher[Job]:
    """A machine whose process was sent `groups` at time 0, in turn (each after the last one's commit
    began), and holds them all."""
    machine: Dispatcher[Job] = Dispatcher(max_group_items)
    for number, group in enumerate(groups):
        if number:
            assert machine.heard(Committing(), now=0.0) == []
        assert machine.queued(group, now=0.0) == [Send(tuple(group))]
    return machine


def prepare_all(machine: Dispatcher[Job], now: float) -> list[Job]:
    """Play the loop while the machine has batches to prepare: the jobs it asked to prepare, in order."""
    asked = []
    while machine.wait(now, TIMEOUT) == 0.0:
        (action,) = machine.quiet(now, TIMEOUT)
        assert isinstance(action, Prepare)
        asked.append(action.job)
        machine.prepared(ready(action.job))
    return asked


# --- a free process -----------------------------------------------------------------------------------


def test_a_batch_that_comes_while_the_process_is_free_goes_at_once() -> None:
    machine: Dispatcher[Job] = Dispatcher(max_group_items=100)
    assert machine.wait(now=0.0, timeout=TIMEOUT) is None  # nothing held: wait for as long as it takes
    assert machine.quiet(now=0.0, timeout=TIMEOUT) == []
    assert machine.queued([a], now=0.0) == [Send((a,))]


def test_what_is_queued_when_the_process_is_free_goes_as_one_group() -> None:
    machine: Dispatcher[Job] = Dispatcher(max_group_items=100)
    assert machine.queued([], now=0.0) == []
    assert machine.queued([a, b, c], now=0.0) == [Send((a, b, c))]


def test_a_group_holds_at_most_max_group_items_and_at_least_one_batch() -> None:
    small, middle, large, last = Job("small", 4), Job("middle", 5), Job("large", 50), Job("last", 2)
    machine = busy_with([a], max_group_items=10)
    assert machine.queued([small, middle, large, last], now=1.0) == []
    assert machine.heard(Committing(), now=2.0) == []
    assert machine.queued([], now=2.0) == [Send((small, middle))]  # 9 items: the next would make 59
    assert machine.heard(said("a"), now=3.0) == [Settle((a,), said("a").results)]
    assert machine.heard(Committing(), now=4.0) == []
    assert machine.queued([], now=4.0) == [Send((large,))]  # alone, over the limit: it goes all the same
    assert machine.heard(said("s", "m"), now=5.0) == [Settle((small, middle), said("s", "m").results)]
    assert machine.heard(Committing(), now=6.0) == []
    assert machine.queued([], now=6.0) == [Send((last,))]


# --- a busy process -----------------------------------------------------------------------------------


def test_batches_that_come_while_the_process_is_busy_wait_and_are_prepared_one_by_one() -> None:
    machine = busy_with([a])
    assert machine.queued([b, c], now=1.0) == []  # the process holds a group, not committing yet
    assert machine.wait(now=1.0, timeout=TIMEOUT) == 0.0  # a word from the process first, if any
    assert machine.quiet(now=1.0, timeout=TIMEOUT) == [Prepare(b)]
    machine.prepared(ready(b))
    assert machine.wait(now=1.0, timeout=TIMEOUT) == 0.0
    assert machine.quiet(now=1.0, timeout=TIMEOUT) == [Prepare(c)]
    machine.prepared(ready(c))
    assert machine.wait(now=1.0, timeout=TIMEOUT) == TIMEOUT - 1.0  # nothing to do but wait for it
    assert machine.quiet(now=2.0, timeout=TIMEOUT) == []
    assert machine.heard(Committing(), now=3.0) == []
    assert machine.wait(now=3.0, timeout=TIMEOUT) == 0.0  # a group may go: no waiting for the answer
    assert machine.queued([], now=3.0) == [Send((ready(b), ready(c)))]


def test_the_next_group_goes_while_the_last_one_commits_and_answers_come_back_in_order() -> None:
    machine = busy_with([a])
    assert machine.queued([b], now=1.0) == []
    assert prepare_all(machine, now=1.0) == [b]  # it came while the process was busy; `a` did not
    assert machine.heard(Committing(), now=2.0) == []
    assert machine.queued([c], now=2.0) == [Send((ready(b), c))]  # before the first group's answer
    assert machine.heard(said("a"), now=3.0) == [Settle((a,), said("a").results)]
    assert machine.heard(Committing(), now=4.0) == []
    assert machine.heard(said("b", "c"), now=5.0) == [Settle((ready(b), c), said("b", "c").results)]


def test_at_most_two_groups_are_in_flight() -> None:
    machine = busy_with([a], [b])
    assert machine.queued([c], now=1.0) == []
    assert machine.heard(said("a"), now=2.0) == [Settle((a,), said("a").results)]
    assert machine.queued([d], now=2.0) == []  # answered one, holds one: not free until it commits
    prepare_all(machine, now=2.0)
    assert machine.heard(Committing(), now=3.0) == []
    assert machine.queued([], now=3.0) == [Send((ready(c), ready(d)))]


def test_batches_not_prepared_yet_go_with_the_group_as_they_are() -> None:
    machine = busy_with([a])
    assert machine.queued([b, c], now=1.0) == []
    assert machine.quiet(now=1.0, timeout=TIMEOUT) == [Prepare(b)]
    machine.prepared(ready(b))
    assert machine.heard(Committing(), now=2.0) == []  # before `c` had its turn
    assert machine.queued([d], now=2.0) == [Send((ready(b), c, d))]


def test_a_group_answered_without_committing_frees_the_process() -> None:
    """A group that failed before its commit is tried batch by batch, then answered, with no word
    that it commits: the process is free once it has answered."""
    machine = busy_with([a, b])
    assert machine.queued([c], now=1.0) == []
    assert machine.heard(said("a", "b"), now=2.0) == [Settle((a, b), said("a", "b").results)]
    assert machine.queued([d], now=2.0) == [Send((c, d))]


def test_what_the_process_answers_is_settled_as_it_said() -> None:
    refused = Refused(Invalid, "goal: no such goal", [{"field": "goal", "message": "no such goal"}])
    machine = busy_with([a, b])
    assert machine.heard(Answers((refused, Failed("b"))), now=1.0) == [Settle((a, b), (refused, Failed("b")))]


# --- a process lost -----------------------------------------------------------------------------------


def test_a_silent_process_is_replaced_after_the_timeout_and_its_group_fails() -> None:
    machine = busy_with([a])
    assert machine.wait(now=10.0, timeout=TIMEOUT) == TIMEOUT - 10.0
    assert machine.quiet(now=TIMEOUT - 0.1, timeout=TIMEOUT) == []
    assert machine.wait(now=TIMEOUT + 5, timeout=TIMEOUT) == 0.0  # late already: no wait
    assert machine.quiet(now=TIMEOUT, timeout=TIMEOUT) == [Replace("no answer within 60 s"), Fail(((a,),))]
    assert machine.queued([b], now=TIMEOUT) == [Send((b,))]  # to its successor


def test_the_timeout_counts_from_the_last_word_of_the_process() -> None:
    machine = busy_with([a])
    assert machine.heard(Committing(), now=50.0) == []
    assert machine.wait(now=60.0, timeout=TIMEOUT) == 50.0
    assert machine.quiet(now=109.0, timeout=TIMEOUT) == []
    assert machine.quiet(now=110.0, timeout=TIMEOUT) == [Replace("no answer within 60 s"), Fail(((a,),))]


def test_a_silent_process_is_replaced_in_time_however_many_batches_are_queued() -> None:
    machine = busy_with([a])
    queued = jobs("0123456789" * 4)
    assert machine.queued(queued, now=1.0) == []
    now, prepared = 1.0, 0
    while (actions := machine.quiet(now, TIMEOUT)) and isinstance(actions[0], Prepare):
        machine.prepared(ready(actions[0].job))
        now, prepared = now + 5.0, prepared + 1  # each batch takes 5 s to prepare: 200 s for all
    assert actions == [Replace("no answer within 60 s"), Fail(((a,),))]
    assert (now, prepared) == (61.0, 12)  # the timeout, not the end of the queue
    assert machine.queued([], now=now) == [Send(tuple(map(ready, queued[:12])) + tuple(queued[12:]))]


def test_a_process_that_dies_while_idle_is_replaced_and_no_request_fails() -> None:
    machine: Dispatcher[Job] = Dispatcher(max_group_items=100)
    assert machine.lost("its pipe closed (EOFError)") == [Replace("its pipe closed (EOFError)")]
    assert machine.queued([a], now=1.0) == [Send((a,))]


def test_a_process_that_dies_holding_two_groups_fails_both_and_the_next_goes_to_its_successor() -> None:
    machine = busy_with([a], [b])
    assert machine.queued([c], now=1.0) == []
    assert machine.lost("its pipe closed (EOFError)") == [
        Replace("its pipe closed (EOFError)"),  # first: nothing it held can commit after the answers
        Fail(((a,), (b,))),  # oldest first
    ]
    assert machine.wait(now=2.0, timeout=TIMEOUT) == 0.0  # its successor is free: `c` may go
    assert machine.queued([d], now=2.0) == [Send((c, d))]
    assert machine.heard(said("c", "d"), now=3.0) == [Settle((c, d), said("c", "d").results)]


def test_an_answer_that_does_not_fit_its_group_replaces_the_process_and_fails_what_it_holds() -> None:
    """Settling would fail; and the process, which is out of step, could answer a later group with a
    stale answer: it is replaced."""
    machine = busy_with([a], [b])
    assert machine.heard(said("1", "2"), now=1.0) == [
        Replace("2 answers to a group of 1 batches"),
        Fail(((a,), (b,))),
    ]


def test_an_answer_to_no_group_replaces_the_process() -> None:
    machine: Dispatcher[Job] = Dispatcher(max_group_items=100)
    assert machine.heard(said("x"), now=1.0) == [
        Replace("the writer process answered a group it was not sent")
    ]


def test_a_failure_of_the_loop_fails_the_groups_in_flight_and_replaces_the_process() -> None:
    """What the loop reports when it raised (`IngestWriter` performs it): after it, nothing held by
    the process can still be answered."""
    machine = busy_with([a])
    assert machine.queued([b], now=1.0) == []
    assert machine.lost("RuntimeError: boom") == [Replace("RuntimeError: boom"), Fail(((a,),))]
    assert machine.queued([], now=1.0) == [Send((b,))]  # what waited was not held: it goes on


# --- stopping -----------------------------------------------------------------------------------------


def test_stop_with_nothing_held_finishes_at_once() -> None:
    machine: Dispatcher[Job] = Dispatcher(max_group_items=100)
    assert not machine.finished
    machine.stop()
    assert machine.stopping
    assert machine.finished


def test_stop_writes_what_was_queued_first() -> None:
    machine = busy_with([a])
    assert machine.queued([b, c], now=1.0) == []
    machine.stop()
    assert prepare_all(machine, now=1.0) == [b, c]
    assert not machine.finished
    assert machine.heard(Committing(), now=2.0) == []
    assert machine.queued([], now=2.0) == [Send((ready(b), ready(c)))]
    assert machine.heard(said("a"), now=3.0) == [Settle((a,), said("a").results)]
    assert not machine.finished
    assert machine.heard(said("b", "c"), now=4.0) == [Settle((ready(b), ready(c)), said("b", "c").results)]
    assert machine.finished


def test_stop_waits_for_the_rest_of_a_split_group() -> None:
    machine = busy_with([a], max_group_items=2)
    assert machine.queued(jobs("xyz", size=1), now=1.0) == []
    machine.stop()
    prepare_all(machine, now=1.0)
    machine.heard(Committing(), now=2.0)
    assert machine.queued([], now=2.0) == [Send((ready(Job("x")), ready(Job("y"))))]
    machine.heard(said("a"), now=3.0)
    machine.heard(Committing(), now=4.0)
    assert machine.queued([], now=4.0) == [Send((ready(Job("z")),))]
    machine.heard(said("x", "y"), now=5.0)
    assert not machine.finished
    machine.heard(said("z"), now=6.0)
    assert machine.finished


# --- on the pipe --------------------------------------------------------------------------------------


T = TypeVar("T")


def crossed(message: T) -> T:
    """`message` as the other process reads it."""
    copy: T = pickle.loads(pickle.dumps(message))  # noqa: S301 - pickled just here
    return copy


def test_a_refused_batch_crosses_with_its_error_class_and_details() -> None:
    error = Invalid.of([FieldProblem("goal", "no goal 'x' in this workspace", index=0)])
    (refused,) = crossed(Answers((result_of(error),))).results
    again = answer_of(refused)
    assert type(again) is Invalid
    assert (again.message, again.details) == (error.message, error.details)
    assert again.details == [{"index": 0, "field": "goal", "message": "no goal 'x' in this workspace"}]


def test_a_failed_batch_crosses_as_its_error_in_words() -> None:
    (failed,) = crossed(Answers((result_of(RuntimeError("disk on fire")),))).results
    again = answer_of(failed)
    assert type(again) is WriterProcessFailed
    assert str(again) == "RuntimeError: disk on fire"


def test_a_group_crosses_as_its_batches_pickled_one_by_one() -> None:
    batches = [Batch(uuid.uuid4(), [], datetime(2026, 11, 22, tzinfo=UTC)) for _ in range(3)]
    group = crossed(Handover(tuple(to_wire(batch) for batch in batches)))
    assert group.batches() == batches
    assert crossed(Committing()) == Committing()
