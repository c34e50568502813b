"""Which constraint did an IntegrityError break? The database is the source of truth for uniqueness.

PostgreSQL names the constraint; SQLite only names the columns ("UNIQUE constraint failed: goals.
workspace_id, goals.code"), so those are matched against the unique constraints in the metadata.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sqlalchemy import MetaData, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>.+)$")


def violated_constraint(error: IntegrityError, metadata: MetaData) -> str | None:
    """The name of the unique constraint behind `error`, or None if it cannot be told."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    match = _SQLITE_UNIQUE.search(str(error.orig))
    if match is None:
        return None
    qualified = [part.strip() for part in match.group("columns").split(",")]
    table_name = qualified[0].split(".")[0]
    columns = {part.split(".", 1)[1] for part in qualified}
    table = metadata.tables.get(table_name)
    if table is None:
        return None
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == columns:
            return str(constraint.name)
    return None


def insert(session: Session, row: object, conflicts: Mapping[str, Callable[[], Exception]]) -> None:
    """Add `row` and flush it in a savepoint. A broken unique constraint named in `conflicts` raises the
    error made for it, leaving the session usable and without the row; any other failure propagates."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        make_error = conflicts.get(violated_constraint(exc, _metadata_of(row)) or "")
        if make_error is None:
            raise
        raise make_error() from None


def _metadata_of(row: object) -> MetaData:
    table = getattr(row, "__table__", None)
    if table is None:
        raise TypeError(f"{row!r} is not a mapped row")
    return table.metadata  # type: ignore[no-any-return]
