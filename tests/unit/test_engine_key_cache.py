"""The Engine API key cache (`telemetry.engine_auth.EngineKeyCache`): a key is looked up once for every
request that needs it while it is being looked up, including when its entry has run out under load."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from comerix.auth import credentials
from comerix.auth.credentials import CredentialKind
from comerix.auth.errors import InvalidCredential
from comerix.auth.models import EngineKeyKind
from comerix.auth.service import EngineClient
from comerix.telemetry.engine_auth import EngineKeyCache
from tests import aio

WORKSPACE = uuid.uuid4()
KEY, _ = credentials.issue(CredentialKind.PUBLIC_KEY, WORKSPACE)
CLIENT = EngineClient(workspace_id=WORKSPACE, key_id=uuid.uuid4(), kind=EngineKeyKind.PUBLIC)


class Lookups:
    """Stands in for the database look-up: counts the calls, takes `delay` seconds, answers `answer`."""

    def __init__(self, answer: EngineClient | Exception, delay: float = 0.1) -> None:
        self.answer, self.delay, self.calls = answer, delay, 0
        self._lock = threading.Lock()

    def __call__(self, _bearer: str) -> EngineClient:
        with self._lock:
            self.calls += 1
            answer = self.answer  # what the database holds when the query runs
        time.sleep(self.delay)
        if isinstance(answer, Exception):
            raise answer
        return answer


def cache_with(lookups: Lookups, ttl: float) -> EngineKeyCache:
    cache = EngineKeyCache(database=None, ttl=ttl)  # type: ignore[arg-type]
    cache._lookup = lookups  # type: ignore[method-assign]
    return cache


async def together(cache: EngineKeyCache, n: int) -> list[Any]:
    return await asyncio.gather(*(cache.authenticate(KEY) for _ in range(n)), return_exceptions=True)


def test_requests_that_come_while_a_key_is_looked_up_wait_for_that_look_up() -> None:
    lookups = Lookups(CLIENT)
    cache = cache_with(lookups, ttl=0.0)  # every entry has run out at once: the load's worst case

    async def scenario() -> None:
        assert await together(cache, 20) == [CLIENT] * 20
        assert lookups.calls == 1
        assert await cache.authenticate(KEY) == CLIENT  # run out again: a new look-up
        assert lookups.calls == 2

    aio.run(scenario())


def test_a_refused_key_is_refused_to_every_request_that_waited_and_looked_up_again_next_time() -> None:
    lookups = Lookups(InvalidCredential("the key is not a valid Engine API key"))
    cache = cache_with(lookups, ttl=10.0)

    async def scenario() -> None:
        answers = await together(cache, 5)
        assert all(isinstance(answer, InvalidCredential) for answer in answers)
        assert lookups.calls == 1
        with pytest.raises(InvalidCredential):
            await cache.authenticate(KEY)
        assert lookups.calls == 2  # a refusal is not remembered

    aio.run(scenario())


def test_a_request_that_goes_away_does_not_cancel_the_look_up_others_wait_for() -> None:
    lookups = Lookups(CLIENT, delay=0.2)
    cache = cache_with(lookups, ttl=10.0)

    async def scenario() -> None:
        first = asyncio.ensure_future(cache.authenticate(KEY))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(cache.authenticate(KEY))
        await asyncio.sleep(0.01)
        first.cancel()
        assert await second == CLIENT
        assert lookups.calls == 1
        assert await cache.authenticate(KEY) == CLIENT  # remembered now
        assert lookups.calls == 1

    aio.run(scenario())


def test_a_key_forgotten_while_it_is_looked_up_is_looked_up_again_and_the_old_answer_is_not_kept() -> None:
    """Revoking a key forgets it (`forget`); a look-up already under way may have read it unrevoked."""
    lookups = Lookups(CLIENT, delay=0.2)
    cache = cache_with(lookups, ttl=10.0)

    async def scenario() -> None:
        before = asyncio.ensure_future(cache.authenticate(KEY))
        await asyncio.sleep(0.05)
        cache.forget(credentials.digest(KEY))  # the key is revoked now
        lookups.answer = InvalidCredential("the key is not a valid Engine API key")
        with pytest.raises(InvalidCredential):
            await cache.authenticate(KEY)  # a look-up of its own, not the one under way
        assert await before == CLIENT  # it came before the revocation
        assert lookups.calls == 2
        with pytest.raises(InvalidCredential):
            await cache.authenticate(KEY)  # the answer read before the revocation was not kept
        assert lookups.calls == 3

    aio.run(scenario())
