"""Authenticating Engine API callers without a database round trip per request.

Keys are looked up once and remembered for a short time (`TTL`): a revoked key stops working within
that time in every process, and at once in the process that revoked it (`forget_after_commit`).
When a key's entry runs out under load, the requests that come while it is looked up again wait for
that one look-up instead of each making its own (a thread-pool hop and a query each, all at once,
every `TTL` seconds).
"""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial

from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from comerix.auth import credentials
from comerix.auth.errors import InvalidCredential
from comerix.auth.service import EngineClient, authenticate_engine_key
from comerix.db import Database

TTL_SECONDS = 10.0
MAX_ENTRIES = 10_000


class EngineKeyCache:
    def __init__(self, database: Database, ttl: float = TTL_SECONDS) -> None:
        self._database = database
        self._ttl = ttl
        self._entries: dict[str, tuple[float, EngineClient]] = {}
        self._lock = threading.Lock()
        self._lookups: dict[str, asyncio.Task[EngineClient]] = {}  # by digest, while under way

    async def authenticate(self, bearer: str) -> EngineClient:
        parsed = credentials.parse(bearer)
        if parsed is None:
            raise InvalidCredential("the key is not a valid Engine API key")
        cached = self._entries.get(parsed.digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._lookups.get(parsed.digest)
        if lookup is None or lookup.get_loop() is not asyncio.get_running_loop():
            lookup = asyncio.ensure_future(self._look_up(bearer, parsed.digest))
            self._lookups[parsed.digest] = lookup
            lookup.add_done_callback(partial(self._looked_up, parsed.digest))
        # shielded: a request that goes away does not cancel the look-up the others wait for
        return await asyncio.shield(lookup)

    async def _look_up(self, bearer: str, digest: str) -> EngineClient:
        client = await run_in_threadpool(self._lookup, bearer)
        with self._lock:
            if self._lookups.get(digest) is asyncio.current_task():  # not forgotten meanwhile
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[digest] = (time.monotonic() + self._ttl, client)
        return client

    def _looked_up(self, digest: str, lookup: asyncio.Task[EngineClient]) -> None:
        if self._lookups.get(digest) is lookup:
            del self._lookups[digest]
        if not lookup.cancelled():
            lookup.exception()  # raised to every request that waited; none left to log it as unheard

    def _lookup(self, bearer: str) -> EngineClient:
        with self._database.sessions() as session:
            return authenticate_engine_key(session, bearer)

    def forget(self, key_hash: str) -> None:
        """Drop a key (by the digest stored as `EngineKey.key_hash`): the next request looks it up again."""
        with self._lock:
            self._entries.pop(key_hash, None)
            # a look-up under way may have read the key before it was revoked: requests from now on
            # start their own, and that one's answer is not remembered
            self._lookups.pop(key_hash, None)

    def forget_after_commit(self, session: Session, key_hash: str) -> None:
        """Drop a key that `session` revokes, now and again when the revocation commits: a request that
        looked the key up in between read it unrevoked and would otherwise keep it for `TTL`."""
        self.forget(key_hash)
        event.listen(session, "after_commit", lambda _session: self.forget(key_hash), once=True)
