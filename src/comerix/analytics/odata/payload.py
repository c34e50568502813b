"""The feed's answers as bytes: OData JSON (minimal metadata) with exact decimals, context URLs, the
`@odata.nextLink` of a page, the service document and the OData error body. Pure: URLs come in as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from comerix.analytics.odata.entities import ENTITY_SETS, EntitySet, Int64
from comerix.analytics.odata.service import Continuation, Page

JSON = "application/json;odata.metadata=minimal;odata.streaming=true"
PAGING_OPTIONS = frozenset({"$skip", "$skiptoken", "$top"})
# Characters a query value may hold as they are (RFC 3986); OData's own punctuation stays readable.
QUERY_SAFE = "$'(),:/@!*"


def media_type(ieee754: bool) -> str:
    return f"{JSON};IEEE754Compatible={'true' if ieee754 else 'false'}"


def dumps(value: Any, *, ieee754: bool = False) -> bytes:
    """JSON with every Decimal exact: a number as written (`129.50`), or a string when `ieee754` (as is
    an `Int64`).

    orjson (and the standard library) would write a Decimal through a float, which loses digits."""
    return _encode(value, ieee754).encode()


def _encode(value: Any, ieee754: bool) -> str:
    if isinstance(value, Decimal | Int64):
        text = format(value, "f") if isinstance(value, Decimal) else str(int(value))
        return f'"{text}"' if ieee754 else text
    if isinstance(value, dict):
        members = (f"{_string(key)}:{_encode(item, ieee754)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(item, ieee754) for item in value) + "]"
    return orjson.dumps(value).decode()


def _string(text: str) -> str:
    return orjson.dumps(text).decode()


def service_document(root: str) -> dict[str, Any]:
    """The service document: where `$metadata` is, and each entity set's URL relative to the root."""
    return {
        "@odata.context": f"{root}$metadata",
        "value": [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in ENTITY_SETS],
    }


def context_url(root: str, entity_set: EntitySet, select_text: str | None, *, entity: bool = False) -> str:
    """`…/$metadata#Outcomes`, with the selected properties in brackets, and `/$entity` for one entity."""
    target = entity_set.name if select_text is None else f"{entity_set.name}({select_text})"
    return f"{root}$metadata#{target}{'/$entity' if entity else ''}"


def collection(context: str, page: Page, next_link: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": context}
    if page.count is not None:
        body["@odata.count"] = page.count
    body["value"] = page.rows
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return body


def entity(context: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": context, **row}


def next_link(url: str, params: Iterable[tuple[str, str]], following: Continuation) -> str:
    """The absolute URL of the next page: the request's URL and query (filters, apikey, anything else)
    with its paging options replaced by those of `following`."""
    kept = [(name, value) for name, value in params if name not in PAGING_OPTIONS]
    paging = [("$skip", following.skip), ("$skiptoken", following.skiptoken), ("$top", following.top)]
    kept += [(name, str(value)) for name, value in paging if value is not None]
    return f"{url}?{urlencode(kept, quote_via=quote, safe=QUERY_SAFE)}"


def error(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    """The OData error body (JSON format §21)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        body["target"] = target
    return {"error": body}
