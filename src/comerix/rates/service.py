"""The rates a workspace converts with, as this process holds them (SPEC §11).

`RateIndex` keeps a `RateBook` per workspace, checked against its revision (`rate_revisions`) on every use,
as the goal index is checked against the goals' revision: a workspace's own rates changing, or reference
rates imported, move the revision on, and every process builds the book again on its next use. The
imported reference quotes are shared by all books, read again when they changed.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from comerix.auth.service import Principal
from comerix.db.bulk import codec_for, insert_rows
from comerix.errors import FieldProblem, Invalid
from comerix.rates.book import RateBook
from comerix.rates.models import RateChange, RateRevision, ReferenceRate, WorkspaceRate
from comerix.rates.reference import EcbRates, bundled, quote_of
from comerix.rates.schemas import RateChangeRead, RateIn, RateRead, RatesIn, RatesRead
from comerix.workspaces.models import Workspace


class RateIndex:
    """A per-process cache of the workspaces' rate books; safe to share between threads."""

    def __init__(self) -> None:
        self._books: dict[uuid.UUID, tuple[tuple[int, str, str], RateBook]] = {}
        self._reference: tuple[tuple[int, datetime | None], EcbRates] | None = None
        self._lock = threading.Lock()

    def for_workspace(
        self, session: Session, workspace_id: uuid.UUID, base_currency: str, timezone: str, revision: int
    ) -> RateBook:
        """The workspace's book at `revision`, for its base currency and time zone as they stand."""
        key = (revision, base_currency, timezone)
        held = self._books.get(workspace_id)
        if held is not None and held[0] == key:
            return held[1]
        own: defaultdict[str, dict[date, Decimal]] = defaultdict(dict)
        rows = session.execute(
            select(WorkspaceRate.currency, WorkspaceRate.day, WorkspaceRate.per_base).where(
                WorkspaceRate.workspace_id == workspace_id
            )
        )
        for currency, day, per_base in rows:
            own[currency][day] = per_base
        book = RateBook(base_currency, dict(own), self._reference_rates(session), timezone)
        with self._lock:
            self._books[workspace_id] = (key, book)
        return book

    def _reference_rates(self, session: Session) -> EcbRates:
        """The shipped history with the quotes imported since, read again when they changed."""
        stamp = session.execute(select(func.count(), func.max(ReferenceRate.imported_at))).one()
        version = (int(stamp[0]), stamp[1])
        held = self._reference
        if held is not None and held[0] == version:
            return held[1]
        imported: defaultdict[str, dict[date, Decimal]] = defaultdict(dict)
        for day, currency, per_euro in session.execute(
            select(ReferenceRate.day, ReferenceRate.currency, ReferenceRate.per_euro)
        ):
            imported[currency][day] = per_euro
        reference = EcbRates(dict(imported))
        with self._lock:
            self._reference = (version, reference)
        return reference


@dataclass(frozen=True)
class Imported:
    """What an import read and kept: the quotes of the file, those it stored (new to this service, or
    different from what it knew), and the dates the file spans."""

    quotes: int
    stored: int
    first_day: date | None
    last_day: date | None


def import_quotes(
    session: Session,
    quotes: Iterable[tuple[date, str, Decimal]],
    now: datetime,
    progress: Callable[[int], None] = lambda count: None,
) -> Imported:
    """Keep the ECB quotes this service does not know yet (or knows otherwise) in `reference_rates`, and
    move every workspace's rate revision on so that every process converts with them."""
    codec = codec_for(session.get_bind().dialect.name)
    history = bundled()
    known = {
        (day, currency): per_euro
        for day, currency, per_euro in session.execute(
            select(ReferenceRate.day, ReferenceRate.currency, ReferenceRate.per_euro)
        )
    }
    read, stored, days = 0, 0, set()
    chunk: list[tuple[Any, ...]] = []
    for day, currency, per_euro in quotes:
        read += 1
        days.add(day)
        current = known.get((day, currency))
        if current is None:
            current = quote_of(history, currency, day)
        if current != per_euro:
            chunk.append((codec.day(day), currency, codec.decimal(per_euro), codec.time(now)))
        if len(chunk) == _IMPORT_CHUNK:
            stored += insert_rows(
                session.connection(), codec, "reference_rates", _QUOTE_COLUMNS, chunk, tail=_NEWER
            )
            chunk = []
        if read % _IMPORT_CHUNK == 0:
            progress(_IMPORT_CHUNK)
    stored += insert_rows(session.connection(), codec, "reference_rates", _QUOTE_COLUMNS, chunk, tail=_NEWER)
    progress(read % _IMPORT_CHUNK)
    if stored:
        bump_revision(session)
    return Imported(read, stored, min(days, default=None), max(days, default=None))


_IMPORT_CHUNK = 5000
_QUOTE_COLUMNS = ("day", "currency", "per_euro", "imported_at")
_NEWER = (
    "ON CONFLICT (day, currency) DO UPDATE SET per_euro = excluded.per_euro, "
    "imported_at = excluded.imported_at"
)


RATES = RateIndex()
"""This process's rate books, which ingestion and the goal preview use."""


def revision_now(session: Session, workspace_id: uuid.UUID) -> int:
    """The workspace's rate revision as stored now."""
    revision = session.scalar(select(RateRevision.revision).where(RateRevision.workspace_id == workspace_id))
    return int(revision or 0)


def revision_of(workspace_id: Any) -> ColumnElement[int]:
    """The workspace's rate revision as a column of a query (0 when it never changed)."""
    revision = select(RateRevision.revision).where(RateRevision.workspace_id == workspace_id)
    return func.coalesce(revision.scalar_subquery(), 0)


def bump_revision(session: Session, workspace_id: uuid.UUID | None = None) -> None:
    """Mark the rates of one workspace (or, for imported reference rates, of all) as changed: an upsert
    adding 1, so that two writers never lose a change. (`WHERE true`: SQLite's parser would read the
    ON CONFLICT as part of the SELECT's join without a WHERE.)"""
    if workspace_id is None:
        session.execute(text(_BUMP.format(chosen="true")))
        return
    codec = codec_for(session.get_bind().dialect.name)
    session.execute(text(_BUMP.format(chosen="id = :workspace")), {"workspace": codec.id(workspace_id)})


_BUMP = (
    "INSERT INTO rate_revisions (workspace_id, revision) SELECT id, 1 FROM workspaces WHERE {chosen} "
    "ON CONFLICT (workspace_id) DO UPDATE SET revision = rate_revisions.revision + 1"
)


def rates_of(session: Session, workspace: Workspace) -> RatesRead:
    """The workspace's own rates and their latest changes."""
    rates = session.scalars(
        select(WorkspaceRate)
        .where(WorkspaceRate.workspace_id == workspace.id)
        .order_by(WorkspaceRate.currency, WorkspaceRate.day)
    )
    changes = session.scalars(
        select(RateChange)
        .where(RateChange.workspace_id == workspace.id)
        .order_by(RateChange.at.desc(), RateChange.id.desc())  # ids are time-ordered (UUIDv7)
        .limit(CHANGES_SHOWN)
    )
    return RatesRead(
        base_currency=workspace.base_currency,
        rates=[RateRead(currency=r.currency, date=r.day, per_base=r.per_base) for r in rates],
        changes=[
            RateChangeRead(
                currency=c.currency, date=c.day, before=c.before, after=c.after, actor=c.actor_email, at=c.at
            )
            for c in changes
        ],
    )


CHANGES_SHOWN = 100


def replace_rates(
    session: Session, workspace: Workspace, data: RatesIn, *, actor: Principal, now: datetime
) -> RatesRead:
    """Make `data` the workspace's own rates: each rate added, changed or removed goes into the audit
    trail, and every process's book is rebuilt. `Invalid`, naming the rate, for a rate of the base
    currency or two rates of one currency on one date."""
    _take_rates(session, workspace)
    return _replace(session, workspace, data, actor=actor, now=now)


def _take_rates(session: Session, workspace: Workspace) -> None:
    """Move the workspace's rate revision on first, before reading its rates: the upsert takes the
    revision row's lock (SQLite's write lock), so two admins saving at once take turns, and the second
    reads what the first saved instead of adding the same rate again."""
    bump_revision(session, workspace.id)


def _replace(
    session: Session, workspace: Workspace, data: RatesIn, *, actor: Principal, now: datetime
) -> RatesRead:
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, date], int] = {}
    for index, rate in enumerate(data.rates):
        if rate.currency == workspace.base_currency:
            problems.append(
                FieldProblem(
                    f"rates[{index}].currency", f"{rate.currency} is the base currency: it needs no rate"
                )
            )
        elif (earlier := seen.setdefault((rate.currency, rate.date), index)) != index:
            problems.append(
                FieldProblem(
                    f"rates[{index}].date",
                    f"{rate.currency} already has a rate on {rate.date} (rates[{earlier}])",
                )
            )
    if problems:
        raise Invalid.of(problems)
    stored = {
        (r.currency, r.day): r
        for r in session.scalars(select(WorkspaceRate).where(WorkspaceRate.workspace_id == workspace.id))
    }
    wanted = {(r.currency, r.date): r.per_base for r in data.rates}
    for key in sorted(stored.keys() | wanted.keys()):
        held, per_base = stored.get(key), wanted.get(key)
        before = None if held is None else held.per_base
        if before == per_base:
            continue
        session.add(
            RateChange(
                workspace_id=workspace.id,
                currency=key[0],
                day=key[1],
                before=before,
                after=per_base,
                actor_email=actor.email,
                at=now,
            )
        )
        if held is None:
            session.add(
                WorkspaceRate(
                    workspace_id=workspace.id, currency=key[0], day=key[1], per_base=per_base, set_at=now
                )
            )
        elif per_base is None:
            session.delete(held)
        else:
            held.per_base, held.set_at = per_base, now
    session.flush()
    return rates_of(session, workspace)


def set_rate(
    session: Session, workspace: Workspace, rate: RateIn, *, actor: Principal, now: datetime
) -> None:
    """Add `rate`, or change the one of its currency and date, keeping the others (`replace_rates`)."""
    _take_rates(session, workspace)
    kept = [r for r in _own(session, workspace) if (r.currency, r.date) != (rate.currency, rate.date)]
    _replace(session, workspace, RatesIn(rates=[*kept, rate]), actor=actor, now=now)


def remove_rate(
    session: Session, workspace: Workspace, currency: str, day: date, *, actor: Principal, now: datetime
) -> bool:
    """Remove the rate of `currency` on `day` (`replace_rates`); whether there was one."""
    _take_rates(session, workspace)
    own = _own(session, workspace)
    kept = [r for r in own if (r.currency, r.date) != (currency, day)]
    if len(kept) < len(own):
        _replace(session, workspace, RatesIn(rates=kept), actor=actor, now=now)
    return len(kept) < len(own)


def _own(session: Session, workspace: Workspace) -> list[RateIn]:
    rows = session.scalars(select(WorkspaceRate).where(WorkspaceRate.workspace_id == workspace.id))
    return [RateIn(currency=r.currency, date=r.day, per_base=r.per_base) for r in rows]
