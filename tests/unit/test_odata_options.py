"""The OData feed's pure parts: query options, page-size preference, exact JSON, next links, nesting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from odata_query.grammar import ODataLexer, ODataParser

from comerix.analytics.odata import filters, payload, query
from comerix.analytics.odata.entities import OUTCOMES, timestamp_text
from comerix.analytics.odata.errors import ODataQueryError
from comerix.analytics.odata.service import Continuation


def test_options_are_read_and_checked_against_the_properties() -> None:
    options = query.parse(
        OUTCOMES,
        [("$select", "goal, value"), ("$orderby", "value desc,goal"), ("$top", "5"), ("apikey", "k")],
        prefer="return=minimal, odata.maxpagesize=50",
    )
    assert [p.name for p in options.select] == ["goal", "value"]
    assert options.select_text == "goal,value"
    assert [(o.prop.name, o.descending) for o in options.orderby] == [("value", True), ("goal", False)]
    assert (options.top, options.skip, options.count, options.page_size) == (5, 0, False, 50)
    assert options.page_size_preferred


def test_no_options_select_everything_in_pages_of_a_thousand() -> None:
    options = query.parse(OUTCOMES, [])
    assert options.select == OUTCOMES.properties
    assert options.select_text is None
    assert (options.page_size, options.page_size_preferred) == (1000, False)


@pytest.mark.parametrize(
    ("prefer", "size"),
    [
        (None, None),
        ("odata.maxpagesize=25", 25),
        ('respond-async, odata.maxpagesize="7"', 7),
        ("maxpagesize=3", 3),
        ("odata.maxpagesize=999999", query.MAX_PAGE_SIZE),
        ("odata.maxpagesize=0", None),
        ("odata.maxpagesize=lots", None),
    ],
)
def test_the_page_size_preference(prefer: str | None, size: int | None) -> None:
    assert query.preferred_page_size(prefer) == size


def test_ieee754_compatible_is_read_from_format_or_accept() -> None:
    assert query.parse(OUTCOMES, [("$format", "application/json;IEEE754Compatible=true")]).ieee754
    assert query.parse(
        OUTCOMES, [], accept="application/json;odata.metadata=minimal;IEEE754Compatible=true"
    ).ieee754
    assert not query.parse(OUTCOMES, [("$format", "json")]).ieee754


def test_decimals_are_written_exactly() -> None:
    body = {
        "a": Decimal("0.1000000000000000000001"),
        "b": Decimal("1E+2"),
        "c": [Decimal("-0.50"), None, "x"],
    }
    assert payload.dumps(body) == b'{"a":0.1000000000000000000001,"b":100,"c":[-0.50,null,"x"]}'
    assert (
        payload.dumps(body, ieee754=True)
        == b'{"a":"0.1000000000000000000001","b":"100","c":["-0.50",null,"x"]}'
    )


def test_the_next_link_keeps_the_query_and_replaces_the_paging() -> None:
    params = [
        ("$filter", "name eq 'a b' and value gt 1+2"),
        ("apikey", "cx_pat_x"),
        ("$skip", "3"),
        ("$top", "20"),
    ]
    link = payload.next_link(
        "http://h/odata/v4/Events", params, Continuation(skip=None, skiptoken="k-1", top=15)
    )
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "h", "/odata/v4/Events")
    assert parse_qsl(parts.query) == [
        ("$filter", "name eq 'a b' and value gt 1+2"),
        ("apikey", "cx_pat_x"),
        ("$skiptoken", "k-1"),
        ("$top", "15"),
    ]
    assert "%24" not in link
    assert "%2B" in link  # a plus is a plus, not a space


def test_timestamps_are_utc_with_z() -> None:
    moment = datetime(2026, 11, 2, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp_text(moment) == "2026-11-02T09:30:00Z"
    assert timestamp_text(moment.replace(microsecond=5)) == "2026-11-02T09:30:00.000005Z"


def test_nesting_counts_a_chain_of_one_operator_as_one_level() -> None:
    def tree(text: str) -> object:
        return ODataParser().parse(ODataLexer().tokenize(text))

    assert filters.nesting(tree(" or ".join(["a eq 1"] * 50))) == 3
    assert filters.nesting(tree("not (not (a eq 1))")) == 4
    assert filters.nesting(tree("a eq 1 and (b eq 2 or c eq 3)")) == 4
    # A chain of more than CHAIN conditions is sent in groups of CHAIN: one level more per level of
    # groups. Equalities of an `or` chain on one property are one condition (an IN).
    assert filters.nesting(tree(" or ".join(f"a eq {n}" for n in range(5000)))) == 3
    assert filters.nesting(tree(" and ".join(f"a eq {n}" for n in range(filters.CHAIN)))) == 3
    assert filters.nesting(tree(" and ".join(f"a eq {n}" for n in range(filters.CHAIN + 1)))) == 4
    texts = [f"endswith(a, '{n}')" for n in range(filters.CHAIN**2 + 1)]
    assert filters.nesting(tree(" or ".join(texts[:-1]))) == 4  # in CHAIN groups of CHAIN
    assert filters.nesting(tree(" or ".join(texts))) == 5  # in 2 groups of groups


@pytest.mark.parametrize("text", ["a eq", "value eq 1.2.3", "goal eq 'x' and", "contains(goal)"])
def test_unreadable_filters_are_query_errors(text: str) -> None:
    with pytest.raises(ODataQueryError) as caught:
        filters.condition(OUTCOMES, text, "sqlite")
    assert caught.value.option == "$filter"
