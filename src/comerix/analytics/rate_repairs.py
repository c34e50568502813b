"""Converting the outcomes whose base value is their display value for want of a rate, once rates exist
(`comerix rates apply`, SPEC §11), with the rollups following.

Each `display_fallback` outcome of the workspace (from a local date on, when asked) is looked up in the
workspace's rate book as ingestion would look it up now; one with a rate gets its converted base value,
`rate`, the rate and its date, and the rollups move by the difference: its base value in the outcome
rollups (daily, monthly, the series), and it leaves the fallback rollups. Counts and display values do
not change. An outcome converted once (`rate`) is never looked at again: a number once reported stays
explainable. The outcomes are read and changed a chunk at a time, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from msgspec.structs import replace
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from comerix.analytics.rollups import adjust_outcomes
from comerix.conversions import records
from comerix.conversions.models import Outcome
from comerix.conversions.records import OutcomeRecord
from comerix.conversions.valuation import converted
from comerix.db.bulk import codec_for
from comerix.rates.service import RATES, revision_now
from comerix.vocabulary import BaseValueSource
from comerix.workspaces.models import Workspace


@dataclass(frozen=True)
class Applied:
    """What an application of rates did: the outcomes it looked at, converted, and left as they were
    (still no rate for their date)."""

    looked_at: int
    converted: int

    @property
    def left(self) -> int:
        return self.looked_at - self.converted


def apply_rates(
    session: Session,
    workspace: Workspace,
    since: date | None = None,
    progress: Callable[[int], None] = lambda count: None,
) -> Applied:
    """Convert the workspace's `display_fallback` outcomes that a rate now explains (from the local date
    `since` on, when given)."""
    codec = codec_for(session.get_bind().dialect.name)
    book = RATES.for_workspace(
        session,
        workspace.id,
        workspace.base_currency,
        workspace.timezone,
        revision_now(session, workspace.id),
    )
    columns = [Outcome.__table__.columns[name] for name in records.COLUMNS]
    query = select(*columns).where(
        Outcome.workspace_id == workspace.id,
        Outcome.base_value_source == BaseValueSource.DISPLAY_FALLBACK,
    )
    if since is not None:
        start = datetime.combine(since, time(), ZoneInfo(workspace.timezone))
        query = query.where(Outcome.occurred_at >= start)
    found = [
        OutcomeRecord.of_row(row) for row in session.execute(query.order_by(Outcome.occurred_at)).mappings()
    ]
    changed = 0
    for low in range(0, len(found), CHUNK):
        chunk = found[low : low + CHUNK]
        before, after = [], []
        for record in chunk:
            # a display_fallback outcome has a value, its currency and a base currency
            assert record.value is not None
            assert record.currency is not None
            assert record.base_currency is not None
            rate = book.rate_at(record.currency, record.base_currency, record.occurred_at)
            base = None if rate is None else converted(record.value, rate)
            if rate is not None and base is not None:  # a base beyond SPEC §2's range stays as it is
                before.append(record)
                after.append(
                    replace(
                        record,
                        base_value=base,
                        base_value_source=BaseValueSource.RATE,
                        fx_rate=rate.per_base,
                        fx_date=rate.day,
                    )
                )
        if after:
            session.connection().execute(
                _CONVERT.where(Outcome.workspace_id == workspace.id),
                [
                    {
                        "outcome": o.id,
                        "new_base": o.base_value,
                        "new_source": BaseValueSource.RATE.value,
                        "new_rate": o.fx_rate,
                        "new_date": o.fx_date,
                    }
                    for o in after
                ],
            )
            adjust_outcomes(session.connection(), codec, workspace.id, workspace.timezone, before, after)
        changed += len(after)
        progress(len(chunk))
    return Applied(len(found), changed)


CHUNK = 1000
_CONVERT = (
    update(Outcome)
    .where(
        Outcome.id == bindparam("outcome"),
        Outcome.base_value_source == BaseValueSource.DISPLAY_FALLBACK,  # never a stored rate
    )
    .values(
        base_value=bindparam("new_base"),
        base_value_source=bindparam("new_source"),
        fx_rate=bindparam("new_rate"),
        fx_date=bindparam("new_date"),
    )
)
