"""Reading the feed's entity sets: one page of a collection, its count, one entity by key.

Every statement is scoped to the caller's workspace: another workspace's rows never appear, and the key
of another workspace's entity is `EntityNotFound`, like a key that does not exist.

`filters` keeps a `$filter` within what both databases take; should one still find it too complex
(SQLite's parser stack or expression depth, PostgreSQL's stack depth), the answer is the same 400 as
for a filter nested too deeply, never a 500.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Select, func, select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from comerix.analytics.odata import filters
from comerix.analytics.odata.entities import EntitySet, Property
from comerix.analytics.odata.errors import EntityNotFound, ODataQueryError
from comerix.analytics.odata.query import Order, QueryOptions


@dataclass(frozen=True)
class Continuation:
    """Where the next page starts: after a key (`skiptoken`) or at an offset (`skip`); `top` is what
    remains of the client's `$top`."""

    skip: int | None
    skiptoken: str | None
    top: int | None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    count: int | None
    next: Continuation | None


def read_page(
    session: Session, workspace_id: uuid.UUID, entity_set: EntitySet, options: QueryOptions
) -> Page:
    """One page of the entity set, as JSON objects of the selected properties."""
    dialect = session.get_bind().dialect.name
    conditions = _conditions(entity_set, workspace_id, options, dialect)
    key = entity_set.key
    if options.skiptoken is not None:
        conditions.append(key.column > _stored_key(entity_set, options.skiptoken))
    take = options.page_size if options.top is None else min(options.page_size, options.top)
    may_continue = options.top is None or options.top > take
    statement = (
        _columns(entity_set, options.select)
        .where(*conditions)
        .order_by(*(_order(order, dialect) for order in options.orderby), key.column.asc())
        .offset(options.skip or None)
        .limit(take + 1 if may_continue else take)
    )
    with _complexity_refused():
        rows = session.execute(statement).mappings().all()
    more = may_continue and len(rows) > take
    rows = rows[:take]
    total = count(session, workspace_id, entity_set, options) if options.count else None
    following = _continuation(entity_set, options, take, key.to_json(rows[-1][key.name])) if more else None
    return Page([entity_set.row_json(row, options.select) for row in rows], total, following)


def count(session: Session, workspace_id: uuid.UUID, entity_set: EntitySet, options: QueryOptions) -> int:
    """How many rows match `$filter`, whatever the page, `$top` and `$skip`."""
    dialect = session.get_bind().dialect.name
    statement = (
        select(func.count())
        .select_from(entity_set.from_clause)
        .where(*_conditions(entity_set, workspace_id, options, dialect))
    )
    with _complexity_refused():
        return int(session.scalar(statement) or 0)


def get_or_raise(
    session: Session, workspace_id: uuid.UUID, entity_set: EntitySet, key: str, options: QueryOptions
) -> dict[str, Any]:
    """The entity with `key` in the caller's workspace, or `EntityNotFound`."""
    stored = entity_set.parse_key(key)
    if stored is None or "\x00" in key:
        raise EntityNotFound(entity_set.name, key)
    statement = _columns(entity_set, options.select).where(
        entity_set.workspace_column == workspace_id, entity_set.key.column == stored
    )
    row = session.execute(statement).mappings().first()
    if row is None:
        raise EntityNotFound(entity_set.name, key)
    return entity_set.row_json(row, options.select)


def _columns(entity_set: EntitySet, selected: tuple[Property, ...]) -> Select[Any]:
    """The selected properties' columns labelled by property name, and the key, which paging needs."""
    wanted = {prop.name: prop for prop in (entity_set.key, *selected)}
    columns = (prop.column.label(name) for name, prop in wanted.items())
    return select(*columns).select_from(entity_set.from_clause)


def _conditions(
    entity_set: EntitySet, workspace_id: uuid.UUID, options: QueryOptions, dialect: str
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [entity_set.workspace_column == workspace_id]
    if options.filter is not None:
        conditions.append(filters.condition(entity_set, options.filter, dialect))
    return conditions


# What the databases say of a statement too complex to parse or plan: SQLite's messages (the error
# code is the generic SQLITE_ERROR), PostgreSQL's SQLSTATE 54001 (statement_too_complex).
_SQLITE_TOO_COMPLEX = ("parser stack overflow", "Expression tree is too large", "too many SQL variables")
_POSTGRES_TOO_COMPLEX = "54001"


@contextmanager
def _complexity_refused() -> Iterator[None]:
    try:
        yield
    except DataError:
        # A read binds no value but the query's own, checked in `filters`: should one still be beyond
        # what the database takes (PostgreSQL: SQLSTATE class 22), it is the client's value.
        raise ODataQueryError("$filter: a value is beyond what the database can compare", "$filter") from None
    except (OperationalError, RecursionError) as exc:
        original = exc.orig if isinstance(exc, OperationalError) else exc
        too_complex = (
            isinstance(original, RecursionError)
            or (isinstance(original, sqlite3.Error) and str(original).startswith(_SQLITE_TOO_COMPLEX))
            or (isinstance(original, psycopg.Error) and original.sqlstate == _POSTGRES_TOO_COMPLEX)
        )
        if not too_complex:
            raise
        raise ODataQueryError(
            "$filter: too complex for the database; nest it less deeply or split it", "$filter"
        ) from None


def _order(order: Order, dialect: str) -> ColumnElement[Any]:
    """OData sorts null before any value: first ascending, last descending, on both backends."""
    expression = order.prop.sort_expression(dialect)
    if order.descending:
        return expression.desc().nulls_last() if order.prop.nullable else expression.desc()
    return expression.asc().nulls_first() if order.prop.nullable else expression.asc()


def _stored_key(entity_set: EntitySet, skiptoken: str) -> Any:
    stored = entity_set.parse_key(skiptoken)
    if stored is None or "\x00" in skiptoken:
        raise ODataQueryError("$skiptoken is not one this feed gave", "$skiptoken")
    return stored


def _continuation(entity_set: EntitySet, options: QueryOptions, taken: int, last_key: str) -> Continuation:
    top = None if options.top is None else options.top - taken
    if options.orderby:
        return Continuation(skip=options.skip + taken, skiptoken=options.skiptoken, top=top)
    # In key order, the next page starts after the last key: rows that arrive meanwhile cannot shift it.
    return Continuation(skip=None, skiptoken=last_key, top=top)
