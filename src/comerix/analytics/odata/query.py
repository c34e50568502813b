"""The system query options of a request, read and checked: `$filter` (kept as text, translated by
`filters`), `$select`, `$orderby`, `$top`, `$skip`, `$count`, `$skiptoken`, `$format`, and the page size
asked with `Prefer: odata.maxpagesize=N`. Pure: no database, no HTTP objects.

Paging: a page holds at most `page_size` rows (1000 unless the client prefers fewer, or up to 5000
more). Without `$orderby` the rows come in key order and the next page starts after the last key
(`$skiptoken`), which stays right while new rows arrive; with `$orderby` (the key breaks ties) the next
page is an offset (`$skip`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from comerix.analytics.odata.entities import EntitySet, Property
from comerix.analytics.odata.errors import ODataQueryError

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 5000
MAX_INTEGER = 2**31 - 1
SUPPORTED = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$skiptoken", "$format"})
ORDER_ITEM = re.compile(r"^\s*([A-Za-z_]\w*)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
MAX_PAGE_SIZE_PREFERENCE = re.compile(r"^\s*(?:odata\.)?maxpagesize\s*=\s*\"?(\d+)\"?\s*$", re.IGNORECASE)
IEEE754 = re.compile(r"ieee754compatible\s*=\s*true", re.IGNORECASE)


@dataclass(frozen=True)
class Order:
    prop: Property
    descending: bool


@dataclass(frozen=True)
class QueryOptions:
    """What one request asks of an entity set, checked against its properties."""

    filter: str | None
    select: tuple[Property, ...]
    select_text: str | None  # as the client wrote it, for the context URL; None for every property
    orderby: tuple[Order, ...]
    top: int | None
    skip: int
    skiptoken: str | None
    count: bool
    page_size: int
    page_size_preferred: bool  # the client sent odata.maxpagesize: the answer says what was applied
    ieee754: bool  # decimals as JSON strings (IEEE754Compatible=true)


def parse(
    entity_set: EntitySet,
    params: Iterable[tuple[str, str]],
    *,
    prefer: str | None = None,
    accept: str | None = None,
) -> QueryOptions:
    """The options of `params` (the query string's pairs, in order), or `ODataQueryError`."""
    options = _system_options(params)
    page_size = preferred_page_size(prefer)
    select = _select(entity_set, options.get("$select"))
    return QueryOptions(
        filter=_filter(options.get("$filter")),
        select=select,
        select_text=None if select is entity_set.properties else ",".join(p.name for p in select),
        orderby=_orderby(entity_set, options.get("$orderby")),
        top=_integer("$top", options.get("$top")),
        skip=_integer("$skip", options.get("$skip")) or 0,
        skiptoken=options.get("$skiptoken"),
        count=_boolean("$count", options.get("$count")),
        page_size=page_size or DEFAULT_PAGE_SIZE,
        page_size_preferred=page_size is not None,
        ieee754=_ieee754(options.get("$format"), accept),
    )


def _system_options(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The `$` options, each at most once; parameters without `$` (such as apikey) are the client's."""
    options: dict[str, str] = {}
    for name, value in params:
        if not name.startswith("$"):
            continue
        if name not in SUPPORTED:
            raise ODataQueryError(f"the query option {name} is not supported by this feed", name)
        if name in options:
            raise ODataQueryError(f"the query option {name} is given twice", name)
        options[name] = value
    return options


def _filter(text: str | None) -> str | None:
    if text is None:
        return None
    if not text.strip():
        raise ODataQueryError("$filter is empty", "$filter")
    return text


def _select(entity_set: EntitySet, text: str | None) -> tuple[Property, ...]:
    if text is None:
        return entity_set.properties
    names = [item.strip() for item in text.split(",")]
    if not all(names):
        raise ODataQueryError("$select lists property names separated by commas", "$select")
    if "*" in names:
        return entity_set.properties
    selected: dict[str, Property] = {}
    for name in names:
        prop = entity_set.property_named(name)
        if prop is None:
            raise ODataQueryError(f"$select: {entity_set.name} has no property {name!r}", "$select")
        selected[name] = prop
    return tuple(selected.values())


def _orderby(entity_set: EntitySet, text: str | None) -> tuple[Order, ...]:
    if text is None:
        return ()
    orders = []
    for item in text.split(","):
        match = ORDER_ITEM.match(item)
        if match is None:
            raise ODataQueryError(f"$orderby: {item.strip()!r} is not `property [asc|desc]`", "$orderby")
        name, direction = match.groups()
        prop = entity_set.property_named(name)
        if prop is None:
            raise ODataQueryError(f"$orderby: {entity_set.name} has no property {name!r}", "$orderby")
        if not prop.queryable:
            raise ODataQueryError(f"$orderby: {name} holds JSON text and cannot be sorted", "$orderby")
        orders.append(Order(prop, descending=(direction or "asc").lower() == "desc"))
    return tuple(orders)


def _integer(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_INTEGER:
        raise ODataQueryError(f"{option} must be a whole number from 0 to {MAX_INTEGER}", option)
    return int(text)


def _boolean(option: str, text: str | None) -> bool:
    if text is None:
        return False
    if text.lower() not in ("true", "false"):
        raise ODataQueryError(f"{option} must be true or false", option)
    return text.lower() == "true"


def _ieee754(format_: str | None, accept: str | None) -> bool:
    if format_ is not None:
        media_type = format_.split(";")[0].strip().lower()
        if media_type not in ("json", "application/json"):
            raise ODataQueryError("$format: this feed answers in JSON only", "$format")
        return IEEE754.search(format_) is not None
    return accept is not None and IEEE754.search(accept) is not None


def preferred_page_size(prefer: str | None) -> int | None:
    """The page size asked by `Prefer: odata.maxpagesize=N`, at most `MAX_PAGE_SIZE`; None if not asked.

    A preference the service cannot read is ignored, as RFC 7240 says."""
    if not prefer:
        return None
    for preference in prefer.split(","):
        match = MAX_PAGE_SIZE_PREFERENCE.match(preference.split(";")[0])
        if match and int(match.group(1)) > 0:
            return min(int(match.group(1)), MAX_PAGE_SIZE)
    return None
