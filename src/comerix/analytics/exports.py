"""The CSV export of outcomes: one row per outcome of a report's range and filters, streamed.

Rows are read in chunks from a session of the export's own (the request's session is gone once the
answer starts), so memory stays constant whatever the size.

Formula injection: contact, conversation and flow ids arrive through the public key every widget
ships, and goal names are typed by designers, so a spreadsheet that opens the file must not take any
text cell for a formula. Every text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a leading `'` (OWASP's CSV-injection guidance). The two amount columns, `value` and
`base_value`, are written by the service from a Decimal and are never touched, so `-12.50` stays a
number; in a text column `-12` is an id and becomes `'-12`.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import select

from comerix.analytics.reports import ReportQuery
from comerix.analytics.sums import zone
from comerix.conversions import records
from comerix.conversions.models import Outcome
from comerix.conversions.records import OutcomeRecord
from comerix.db import Database
from comerix.goals.models import Goal

COLUMNS = (
    "id",
    "occurred_at",
    "local_date",
    "goal",
    "goal_name",
    "kind",
    "value",
    "currency",
    "base_value",
    "base_currency",
    "base_value_source",
    "fx_rate",
    "fx_date",
    "value_error",
    "attribution",
    "conversation_id",
    "flow_id",
    "contact_id",
    "source",
)
"""The file's columns: the outcome's as the API names them (`OutcomeRead`), with its local date and
the goal's name."""
CHUNK = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def file_name(query: ReportQuery) -> str:
    """The download's file name: the range it covers."""
    return f"outcomes-{query.start.isoformat()}-{query.end.isoformat()}.csv"


def utc_bounds(query: ReportQuery, timezone: str) -> tuple[datetime, datetime]:
    """The range's first local midnight and the midnight after its last day, as aware datetimes."""
    tz = zone(timezone)
    return (
        datetime.combine(query.start, time(), tz),
        datetime.combine(query.end + timedelta(days=1), time(), tz),
    )


def rows(database: Database, workspace_id: uuid.UUID, timezone: str, query: ReportQuery) -> Iterator[str]:
    """The CSV text, a chunk at a time: the header, then the outcomes oldest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    start, end = utc_bounds(query, timezone)
    statement = (
        select(*(Outcome.__table__.columns[name] for name in records.COLUMNS), Goal.name.label("goal_name"))
        .join(Goal, (Goal.workspace_id == Outcome.workspace_id) & (Goal.id == Outcome.goal_id))
        .where(Outcome.workspace_id == workspace_id, Outcome.occurred_at >= start, Outcome.occurred_at < end)
        .order_by(Outcome.occurred_at, Outcome.id)
        .execution_options(yield_per=CHUNK)
    )
    if query.goal is not None:
        statement = statement.where(Outcome.goal_id == query.goal.id)
    if query.kind is not None:
        statement = statement.where(Outcome.kind == query.kind)
    if query.flow is not None:
        statement = statement.where(Outcome.flow_id == query.flow)
    if query.attribution is not None:
        statement = statement.where(Outcome.attribution == query.attribution)
    tz = zone(timezone)
    with database.sessions() as session:
        for count, row in enumerate(session.execute(statement).mappings(), start=1):
            writer.writerow(cells(OutcomeRecord.of_row(row), row["goal_name"], tz))
            if count % CHUNK == 0:
                yield _drain(buffer)
    yield _drain(buffer)


def cells(outcome: OutcomeRecord, goal_name: str, tz: tzinfo) -> tuple[str, ...]:
    """One outcome's row of the file, in the order of `COLUMNS`."""
    return (
        str(outcome.id),
        outcome.occurred_at.isoformat().replace("+00:00", "Z"),
        outcome.occurred_at.astimezone(tz).date().isoformat(),
        safe_text(outcome.goal_code),
        safe_text(goal_name),
        outcome.kind.value,
        _number(outcome.value),
        safe_text(outcome.currency),
        _number(outcome.base_value),
        safe_text(outcome.base_currency),
        "" if outcome.base_value_source is None else outcome.base_value_source.value,
        _number(outcome.fx_rate),
        "" if outcome.fx_date is None else outcome.fx_date.isoformat(),
        safe_text(outcome.value_error),
        outcome.attribution.value,
        safe_text(outcome.conversation_id),
        safe_text(outcome.flow_id),
        safe_text(outcome.contact_id),
        outcome.source.value,
    )


def safe_text(text: str | None) -> str:
    """A text cell a spreadsheet shows as text: a leading `'` when it would start a formula."""
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _number(value: Decimal | None) -> str:
    """An amount, written as it is stored: a spreadsheet reads `-12.50` as the number it is."""
    return "" if value is None else str(value)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
