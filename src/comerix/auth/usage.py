"""When each Engine API key and personal access token was last used (`CredentialUse`), for the pages
and the API that list them.

A use is noted in memory (`CredentialUses.used`, on the request's path: a dictionary write) and written
later by the serving process (`flush`: every `FLUSH_SECONDS` from the app's lifespan, and once more when
it stops), so that using a credential never waits for a write; on SQLite such a write would queue
behind the ingestion writer's. What the pages show is therefore up to `FLUSH_SECONDS` behind. Each
serving process writes the uses it saw; the newest time wins.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from comerix.auth.models import CredentialUse
from comerix.db import Database
from comerix.db.bulk import Codec

FLUSH_SECONDS = 60.0
# A generator of its own: drawing from the `random` module's shared one would move the state that the
# rest of the process (a seeded simulation, Hypothesis) counts on staying where it left it.
_SPREAD = random.Random()  # noqa: S311 - spreading, not secrecy
log = logging.getLogger(__name__)

Used = tuple[uuid.UUID, uuid.UUID]
"""A workspace and a credential of it (an Engine API key's or a personal access token's id)."""


class CredentialUses:
    """The uses of credentials seen by this process and not written yet."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._pending: dict[Used, datetime] = {}
        self._lock = threading.Lock()  # uses arrive on the event loop and in the thread pool

    def used(self, workspace_id: uuid.UUID, credential_id: uuid.UUID, at: datetime) -> None:
        """Note that the credential was used at `at`."""
        key = (workspace_id, credential_id)
        with self._lock:
            seen = self._pending.get(key)
            if seen is None or seen < at:
                self._pending[key] = at

    def flush(self) -> int:
        """Write the uses noted since the last flush, in one transaction; how many. A write that fails
        keeps them for the next flush (as uses noted again), and raises."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with self._database.transaction() as session:
                record(session, pending)
        except SQLAlchemyError:
            for (workspace_id, credential_id), at in pending.items():
                self.used(workspace_id, credential_id, at)
            raise
        return len(pending)

    async def flush_every(self, seconds: float = FLUSH_SECONDS) -> None:
        """Flush, every `seconds` give or take a tenth (processes started together then part: their
        writes of the same rows do not meet each time), until cancelled. A write that fails is logged and
        tried again next time: "last used" must never take the service down with it."""
        while True:
            await asyncio.sleep(seconds * _SPREAD.uniform(0.9, 1.1))
            try:
                await run_in_threadpool(self.flush)
            except Exception:
                log.warning(
                    "could not write when credentials were last used; trying again later", exc_info=True
                )


def record(session: Session, uses: Mapping[Used, datetime]) -> None:
    """Upsert the uses: a credential's time moves only forward (another process may have written a
    newer one)."""
    if not uses:
        return
    # In key order: two processes writing the same rows take their locks in the same order (PostgreSQL).
    rows = [
        {"workspace_id": ws, "id": credential, "last_used_at": at}
        for (ws, credential), at in sorted(uses.items())
    ]
    dialect = session.get_bind().dialect.name
    greatest = getattr(func, Codec(dialect).greatest)
    for start in range(0, len(rows), _ROWS_A_STATEMENT):
        insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(CredentialUse)
        session.execute(
            insert.values(rows[start : start + _ROWS_A_STATEMENT]).on_conflict_do_update(
                index_elements=[CredentialUse.workspace_id, CredentialUse.id],
                set_={"last_used_at": greatest(CredentialUse.last_used_at, insert.excluded.last_used_at)},
            )
        )


_ROWS_A_STATEMENT = 1_000  # 3,000 parameters: far under what either database takes in one statement


def last_used(
    session: Session, workspace_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each of `ids` was last used, as written so far (those never used are left out)."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(CredentialUse.id, CredentialUse.last_used_at).where(
            CredentialUse.workspace_id == workspace_id, CredentialUse.id.in_(wanted)
        )
    )
    return {row.id: row.last_used_at for row in rows}
