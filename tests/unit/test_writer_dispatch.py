"""How the serving process hands groups to the writer process (`IngestWriter._run_child`): the next group
goes as soon as the process says the last one is committing, answers settle the requests of the group
they belong to, in order, and a process that fails takes every group it holds down with it.

The process is scripted here, so that each step can be watched in between; the real one, with the same
protocol, is tried in tests/functional/test_writer_process.py."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from comerix.db.availability import StorageUnavailable
from comerix.goals.index import GoalIndex
from comerix.telemetry import writer
from comerix.telemetry.pipeline import Batch, Recorded, answer

WAIT = 5.0


class ScriptedChild:
    """Stands in for `writer._Child`: records what it is sent, and says what the test tells it to (each
    word also puts a byte in a pipe, which the dispatcher waits on as it does on the real one)."""

    def __init__(self) -> None:
        self.sent: queue.Queue[list[Batch]] = queue.Queue()
        self.words: queue.Queue[Any] = queue.Queue()
        self.replaced: list[BaseException] = []
        self._reading, self._writing = os.pipe()

    def say(self, word: Any) -> None:
        self.words.put(word)
        os.write(self._writing, b"w")

    def send(self, batches: list[Batch]) -> bool:
        self.sent.put(batches)
        return True

    def fileno(self) -> int:
        return self._reading

    def receive(self) -> Any:
        os.read(self._reading, 1)
        return self.words.get(timeout=WAIT)

    def replace(self, why: BaseException) -> None:
        self.replaced.append(why)

    def next_sent(self) -> list[Batch]:
        return self.sent.get(timeout=WAIT)


def batch() -> Batch:
    return Batch(uuid.uuid4(), [], datetime(2026, 11, 22, tzinfo=UTC))


def said(n: int) -> Recorded:
    """What the process might say it recorded of a batch, told apart by its number of duplicates."""
    return Recorded(frozenset(range(n)), {}, ())


def body(n: int) -> bytes:
    """The 202 body the serving process writes from `said(n)` for a batch (of no items)."""
    return answer(batch(), said(n)).to_json()


async def _wait_for(future: asyncio.Future[bytes]) -> Any:
    try:
        return await asyncio.wait_for(future, WAIT)
    except (writer.WriterProcessFailed, StorageUnavailable) as exc:
        return exc


class Preparing:
    """Stands in for `writer._Preparer` (no database here): notes each batch it prepares."""

    prepared: list[Batch]
    delay = 0.0  # seconds each batch takes

    def __init__(self, _database: Any, _index: Any) -> None:
        Preparing.prepared = []

    def next_group(self) -> None:
        pass

    def prepare(self, job: Any) -> Any:
        time.sleep(self.delay)
        Preparing.prepared.append(job.batch)
        return job


def run(scenario: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the dispatcher on a thread against a scripted child while `scenario(writer, child)` plays."""
    monkeypatch.setattr(writer, "_Preparer", Preparing)
    ingest = writer.IngestWriter(database=None, index=GoalIndex())  # type: ignore[arg-type]
    ingest._wakeup = writer._wakeup_pipe()
    child = ScriptedChild()
    dispatcher = threading.Thread(target=ingest._run_child, args=(child,), daemon=True)
    dispatcher.start()
    try:
        asyncio.run(scenario(ingest, child))
    finally:
        ingest._queue.put(None)
        ingest._wake(always=True)
        dispatcher.join(WAIT)
    assert not dispatcher.is_alive()


def test_the_next_group_goes_while_the_last_one_commits_and_answers_come_back_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        first, second = batch(), batch()
        answer_first = asyncio.ensure_future(ingest.submit(first))
        assert await asyncio.to_thread(child.next_sent) == [first]
        answer_second = asyncio.ensure_future(ingest.submit(second))
        await asyncio.sleep(0.2)
        assert child.sent.empty()  # the process holds a group and has not said it is committing

        child.say(writer._READY)
        assert await asyncio.to_thread(child.next_sent) == [second]  # before the first group's answer
        assert not answer_first.done()
        assert Preparing.prepared == [second]  # it came while the process was busy; the first did not

        child.say([said(1)])
        assert await _wait_for(answer_first) == body(1)
        assert not answer_second.done()
        child.say(writer._READY)
        child.say([said(2)])
        assert await _wait_for(answer_second) == body(2)

    run(scenario, monkeypatch)


def test_batches_queued_meanwhile_go_together_as_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        first, *later = batch(), batch(), batch()
        answers = [asyncio.ensure_future(ingest.submit(first))]
        await asyncio.to_thread(child.next_sent)
        answers += [asyncio.ensure_future(ingest.submit(b)) for b in later]
        await asyncio.sleep(0.1)
        child.say(writer._READY)
        assert await asyncio.to_thread(child.next_sent) == later
        child.say([said(1)])
        child.say([said(2), said(3)])  # no READY: the group failed before its commit, each alone
        assert [await _wait_for(a) for a in answers] == [body(1), body(2), body(3)]

    run(scenario, monkeypatch)


def test_a_failed_process_fails_every_group_it_holds_and_the_next_one_goes_to_its_successor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        first, second, third = batch(), batch(), batch()
        answer_first = asyncio.ensure_future(ingest.submit(first))
        await asyncio.to_thread(child.next_sent)
        answer_second = asyncio.ensure_future(ingest.submit(second))
        await asyncio.sleep(0.1)  # queued before the word comes (later, it would wait for the answers)
        child.say(writer._READY)
        await asyncio.to_thread(child.next_sent)

        child.say(None)  # died or timed out: `_Child.receive` has already started a new one
        assert isinstance(await _wait_for(answer_first), StorageUnavailable)
        assert isinstance(await _wait_for(answer_second), StorageUnavailable)

        answer_third = asyncio.ensure_future(ingest.submit(third))
        assert await asyncio.to_thread(child.next_sent) == [third]
        child.say([said(3)])
        assert await _wait_for(answer_third) == body(3)

    run(scenario, monkeypatch)


def test_an_unexpected_error_replaces_the_process_so_no_stale_answer_can_arrive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        answer = asyncio.ensure_future(ingest.submit(batch()))
        await asyncio.to_thread(child.next_sent)
        child.say([said(1), said(2)])  # two answers to a group of one batch: settling it fails
        assert isinstance(await _wait_for(answer), StorageUnavailable)
        assert len(child.replaced) == 1

    run(scenario, monkeypatch)


def test_a_silent_process_is_replaced_in_time_however_many_batches_are_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "WRITE_TIMEOUT", 0.5)

    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        held = asyncio.ensure_future(ingest.submit(batch()))
        await asyncio.to_thread(child.next_sent)
        monkeypatch.setattr(Preparing, "delay", 0.05)  # 40 batches: 2 s of preparing, queue never empty
        started = time.monotonic()
        later = [asyncio.ensure_future(ingest.submit(batch())) for _ in range(40)]
        assert isinstance(await _wait_for(held), StorageUnavailable)
        assert time.monotonic() - started < 1.5  # the timeout, not the end of the queue
        assert [type(why) for why in child.replaced] == [TimeoutError]
        for pending in later:
            pending.cancel()

    run(scenario, monkeypatch)


def test_batches_not_prepared_yet_go_with_the_group_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ingest: writer.IngestWriter, child: ScriptedChild) -> None:
        first, second, third = batch(), batch(), batch()
        answers = [asyncio.ensure_future(ingest.submit(first))]
        await asyncio.to_thread(child.next_sent)
        monkeypatch.setattr(Preparing, "delay", 0.3)
        answers += [asyncio.ensure_future(ingest.submit(b)) for b in (second, third)]
        await asyncio.sleep(0.1)  # the second is being prepared
        child.say(writer._READY)
        assert await asyncio.to_thread(child.next_sent) == [second, third]
        assert Preparing.prepared == [second]  # the third did not wait for its turn
        child.say([said(1)])
        child.say(writer._READY)
        child.say([said(2), said(3)])
        assert [await _wait_for(a) for a in answers] == [body(1), body(2), body(3)]

    run(scenario, monkeypatch)
