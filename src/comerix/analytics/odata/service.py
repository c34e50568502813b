"""Reading the feed's entity sets: one page of a collection, its count, one entity by key.

Every statement is scoped to the caller's workspace: another workspace's rows never appear, and the key
of another workspace's entity is `EntityNotFound`, like a key that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
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
        .select_from(entity_set.model)
        .where(*_conditions(entity_set, workspace_id, options, dialect))
    )
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
    return select(*(prop.column.label(name) for name, prop in wanted.items()))


def _conditions(
    entity_set: EntitySet, workspace_id: uuid.UUID, options: QueryOptions, dialect: str
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [entity_set.workspace_column == workspace_id]
    if options.filter is not None:
        conditions.append(filters.condition(entity_set, options.filter, dialect))
    return conditions


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
