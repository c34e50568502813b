"""The CSV export of outcomes: one row per outcome of a report's range and filters, streamed.

Rows are read in chunks from a session of the export's own (the request's session is gone once the
answer starts), so memory stays constant whatever the size.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from sqlalchemy import select

from comerix.analytics.reports import ReportQuery
from comerix.analytics.rollups import zone
from comerix.conversions.models import Outcome
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
    "value_error",
    "attribution",
    "conversation_id",
    "flow_id",
    "contact_id",
    "source",
)
CHUNK = 1000


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
        select(Outcome, Goal.name)
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
        for count, (outcome, goal_name) in enumerate(session.execute(statement), start=1):
            writer.writerow(
                (
                    outcome.id,
                    outcome.occurred_at.isoformat().replace("+00:00", "Z"),
                    outcome.occurred_at.astimezone(tz).date().isoformat(),
                    outcome.goal_code,
                    goal_name,
                    outcome.kind.value,
                    _text(outcome.value),
                    outcome.currency or "",
                    _text(outcome.base_value),
                    outcome.base_currency or "",
                    outcome.value_error or "",
                    outcome.attribution.value,
                    outcome.conversation_id or "",
                    outcome.flow_id or "",
                    outcome.contact_id or "",
                    outcome.source.value,
                )
            )
            if count % CHUNK == 0:
                yield _drain(buffer)
    yield _drain(buffer)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
