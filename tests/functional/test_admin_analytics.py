"""Insights → Analytics, the Analytics Hub page over HTTP, on each backend: its figures are the JSON
summary's, its filters live in the URL, bad filters are named inline, and its CSV download carries them."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import make_engine_key, make_member, send_sales_day
from tests.pages import inner, sign_in, text

PAGE = "/admin/insights/analytics"


@pytest.fixture
def shop(pages: TestClient, db: Database, clock: FixedClock) -> dict[str, Any]:
    """A workspace with a primary paid goal and an engagement goal, one chat on `day` with a reply and
    sales of 0.10 and 0.20 EUR, and a sale of 5 USD the next day that no chat drove."""
    with db.transaction() as session:
        admin = make_member(session, clock.now())
        viewer = make_member(session, clock.now(), role=Role.VIEWER, workspace=admin.workspace)
        key = make_engine_key(session, admin.workspace, clock.now(), EngineKeyKind.SECRET)
    day = (clock.now() - timedelta(days=3)).replace(hour=10)
    send_sales_day(pages, admin, key, day)
    first, last = day.date() - timedelta(days=1), day.date() + timedelta(days=2)
    return {
        "admin": admin,
        "viewer": viewer,
        "key": key,
        "day": day,
        "range": {"range": "custom", "from": str(first), "to": str(last)},
    }


def element(page: str, element_id: str) -> str:
    return text(inner(page, element_id))


def footer(page: str, table_id: str) -> str:
    """The figures of a table's Total row."""
    found = re.search(r"<tfoot>(.*?)</tfoot>", inner(page, table_id), re.S)
    assert found is not None
    return text(found.group(1)).removeprefix("Total ")


def tile(page: str, key: str) -> str:
    return element(page, f"tile-{key}")


def test_the_page_shows_the_json_summary_of_the_same_range(pages: TestClient, shop: dict[str, Any]) -> None:
    summary = pages.get("/api/v1/reports/summary", params=shop["range"], headers=shop["admin"].headers).json()
    totals = summary["totals"]
    assert sign_in(pages, shop["viewer"].user.email).status_code == 303  # a viewer may read it
    page = pages.get(PAGE, params=shop["range"])
    assert page.status_code == 200
    body = page.text

    sale = "Primary Sale 3 ▲ from none conversions · base revenue €4.78"  # sums: to the cent
    assert tile(body, "goal-sale") == sale
    # Nothing happened in the four days before: every change is from none.
    assert (
        tile(body, "conversations")
        == f"Conversations {totals['conversations']} ▲ from none started in the range"
    )
    assert tile(body, "converting").startswith(
        f"Converting conversations {totals['converting_conversations']}"
    )
    assert tile(body, "conversion-rate").startswith("Conversion rate 100.0%")
    assert totals["conversion_rate"] == 1.0
    assert tile(body, "revenue") == "Revenue €0.30 $5.00 per display currency"
    assert totals["revenue"] == [{"currency": "EUR", "value": "0.30"}, {"currency": "USD", "value": "5.00"}]
    assert tile(body, "base-revenue").startswith("Base revenue €4.78")
    assert tile(body, "chat-driven") == "Chat-driven base revenue €0.30 ▲ from none 6.3% of base revenue"
    assert tile(body, "unattributed") == "Unattributed €4.48 ▲ from none 93.7% of base revenue"
    assert (totals["chat_driven_base_revenue"], totals["unattributed_base_revenue"]) == (
        [{"currency": "EUR", "value": "0.30"}],
        [{"currency": "EUR", "value": "4.475474"}],  # USD 5.00 at the ECB's 1.1172 of 30 October 2026
    )

    outcomes = totals["conversions"] + totals["engagements"] + totals["custom"]
    assert footer(body, "by-goal") == f"{outcomes} — €0.30 $5.00 €4.78"
    assert 'title="€4.775474 exactly">€4.78</span>' in inner(body, "by-goal")  # the exact sum, on hover
    assert footer(body, "by-flow") == f"{totals['conversations']} 1 100.0% — {outcomes} €0.30 $5.00 €4.78"
    assert footer(body, "by-attribution") == f"{outcomes} €4.78"
    assert element(body, "by-currency").endswith("EUR 2 €0.30 USD 1 $5.00 Total 3 €0.30 $5.00")
    assert [(row["currency"], row["outcomes"], row["revenue"]) for row in summary["by_currency"]] == [
        ("EUR", 2, "0.30"),
        ("USD", 1, "5.00"),
    ]
    goal_rows = element(body, "by-goal")
    assert goal_rows.index("Sale") < goal_rows.index("Reply")  # primary first
    assert "Sale Primary sale Conversion active 3 1 €0.30 $5.00 €4.78" in goal_rows
    # Which flow works: its one chat converted, and brought €0.30 (the dollar sale had no chat).
    assert "sales-bot 1 1 100.0% €0.30 3 €0.30 €0.30" in element(body, "by-flow")
    assert "No flow 0 0 — — 1 $5.00 €4.48" in element(body, "by-flow")
    assert [
        (
            row["flow"],
            row["converting_conversations"],
            row["conversion_rate"],
            row["base_revenue_per_conversation"],
        )
        for row in summary["by_flow"]
    ] == [("sales-bot", 1, 1.0, [{"currency": "EUR", "value": "0.30"}]), (None, 0, 0.0, [])]
    link = re.search(r'<a href="\?([^"]+)" title="Only this flow">sales-bot</a>', inner(body, "by-flow"))
    assert link is not None
    narrowed = pages.get(PAGE + "?" + html.unescape(link.group(1))).text
    assert '<option value="sales-bot" selected>sales-bot</option>' in narrowed
    assert tile(narrowed, "conversions").startswith("Conversions 2")  # the chat's two sales
    assert "In the conversation 3 €0.30" in element(body, "by-attribution")
    assert "Not attributed 1 €4.48" in element(body, "by-attribution")

    series = element(body, "series")
    assert len(re.findall(r"<time datetime=", body)) == len(summary["series"]) == 4
    assert series.endswith(f"Total {totals['conversions']} {totals['engagements']} 0 €4.78")


def test_each_tile_says_how_it_changed_from_the_previous_period(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    """The two days after the chat day, against the two days that end with it: the chat and its two
    sales were before, the dollar sale is now."""
    sign_in(pages, shop["admin"].user.email)
    day = shop["day"].date()
    after = {"range": "custom", "from": str(day + timedelta(days=1)), "to": str(day + timedelta(days=2))}
    body = pages.get(PAGE, params=after).text
    before = f"{(day - timedelta(days=1)).day} Oct 2026 \N{EN DASH} {day.day} Oct 2026"
    assert (
        element(body, "compare-note")
        == f"Changes compare with the previous period of as many days: {before}."
    )
    assert tile(body, "conversations") == "Conversations 0 ▼ 100.0% started in the range"
    assert tile(body, "conversion-rate").startswith("Conversion rate 0.0% ▼ 100.0 pp")
    assert tile(body, "conversions").startswith("Conversions 1 ▼ 50.0%")  # 2 sales in the chat before
    assert tile(body, "goal-sale").startswith("Primary Sale 1 ▼ 50.0%")  # the primary goal's own change
    assert tile(body, "base-revenue").startswith("Base revenue €4.48 ▲ 1,391.8%")  # from €0.30
    assert tile(body, "unattributed").startswith("Unattributed €4.48 ▲ from none")
    assert tile(body, "chat-driven").startswith("Chat-driven base revenue €0.00 ▼ 100.0%")
    assert 'class="change change-down"' in inner(body, "tile-conversations")
    assert 'class="change change-up"' in inner(body, "tile-base-revenue")

    block = re.search(r'<script type="application/json" id="analytics-chart-data">(.*?)</script>', body, re.S)
    assert block is not None
    previous = orjson.loads(block.group(1))["previous"]
    assert previous["label"] == before
    assert previous["outcomes"] == [0, 3]  # the day before the chat, and the chat's day
    assert previous["revenue"] == {"currency": "EUR", "values": ["0", "0.30"]}


def test_the_chart_gets_the_summary_series_as_json(pages: TestClient, shop: dict[str, Any]) -> None:
    sign_in(pages, shop["admin"].user.email)
    page = pages.get(PAGE, params=shop["range"] | {"to": "2026-11-02", "interval": "week"}).text
    block = re.search(r'<script type="application/json" id="analytics-chart-data">(.*?)</script>', page, re.S)
    assert block is not None
    chart = orjson.loads(block.group(1))
    assert chart["labels"] == ["Week of 26 Oct (partial)", "Week of 2 Nov (partial)"]  # 29 Oct to 2 Nov
    whole = pages.get(
        PAGE, params={"range": "custom", "from": "2026-10-26", "to": "2026-11-08", "interval": "week"}
    )
    assert "(partial)" not in whole.text
    assert chart["counts"]["Conversions"] == [3, 0]
    assert chart["revenue"] == [{"currency": "EUR", "values": ["4.775474", "0"]}]
    assert "vendor/chart.js/chart.umd.min.js" in page
    assert page.index("chart.umd.min.js") < page.index("js/analytics.js")


def test_conversion_figures_say_when_the_filters_leave_nothing_to_count(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    sign_in(pages, shop["admin"].user.email)
    engaged = pages.get(PAGE, params=shop["range"] | {"kind": "engagement"}).text
    assert (
        tile(engaged, "converting") == "Converting conversations — only engagements are shown (Kind filter)"
    )
    assert tile(engaged, "conversion-rate") == "Conversion rate — only engagements are shown (Kind filter)"
    assert tile(engaged, "conversions").startswith("Engagements 1 ")  # the reply, instead of "Conversions 0"
    assert 'class="value not-counted"' in inner(engaged, "tile-converting")
    unattributed = pages.get(PAGE, params=shop["range"] | {"attribution": "none"}).text
    assert tile(unattributed, "conversion-rate").endswith("— unattributed outcomes credit no conversation")
    everything = pages.get(PAGE, params=shop["range"]).text
    assert "not-counted" not in everything
    assert "goal-tiles" in everything  # the primary goals in a row of their own, above the eight
    assert everything.index('id="tile-goal-sale"') < everything.index('class="tiles headline-tiles"')


def test_a_wrong_range_is_explained_in_words(pages: TestClient, shop: dict[str, Any]) -> None:
    sign_in(pages, shop["admin"].user.email)
    page = pages.get(PAGE, params={"range": "custom", "from": "2026-11-02", "to": "2026-11-01"})
    assert page.status_code == 422
    assert "<strong>to</strong> is before <code>from</code>" in page.text
    assert "is before `from`" not in page.text


def test_filters_in_the_url_narrow_the_figures_and_stay_in_the_form(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    sign_in(pages, shop["admin"].user.email)
    replies = pages.get(PAGE, params=shop["range"] | {"goal": "reply"}).text
    assert tile(replies, "conversions").startswith("Conversions 0 no change 1 engagements")
    assert "Sale" not in element(replies, "by-goal")
    assert '<option value="reply" selected>Reply</option>' in replies

    elsewhere = pages.get(PAGE, params=shop["range"] | {"flow": "support", "attribution": "none"}).text
    assert tile(elsewhere, "conversations").startswith("Conversations 0")
    assert '<option value="support" selected>support</option>' in elsewhere  # the flow asked for
    assert '<option value="sales-bot">sales-bot</option>' in elsewhere  # and the flows seen
    assert '<option value="none" selected>Not attributed</option>' in elsewhere

    unattributed = pages.get(PAGE, params=shop["range"] | {"attribution": "none"}).text
    assert tile(unattributed, "base-revenue").startswith("Base revenue €4.48")


@pytest.mark.parametrize(
    ("params", "first", "last"),
    [
        ({}, date(2026, 10, 4), date(2026, 11, 2)),  # the last 30 days, ending today in Berlin
        ({"range": "7d"}, date(2026, 10, 27), date(2026, 11, 2)),
        ({"range": "90d"}, date(2026, 8, 5), date(2026, 11, 2)),
        ({"range": "this_month"}, date(2026, 11, 1), date(2026, 11, 2)),
        ({"range": "last_month"}, date(2026, 10, 1), date(2026, 10, 31)),
        ({"range": "7d", "from": "2020-01-01", "to": "2020-01-02"}, date(2026, 10, 27), date(2026, 11, 2)),
        ({"from": "2026-10-30", "to": "2026-10-31"}, date(2026, 10, 30), date(2026, 10, 31)),
    ],
)
def test_range_presets_are_days_of_the_workspace_time_zone(
    pages: TestClient, shop: dict[str, Any], params: dict[str, str], first: date, last: date
) -> None:
    sign_in(pages, shop["admin"].user.email)
    page = pages.get(PAGE, params=params).text
    assert f'id="from" name="from" type="date" value="{first}"' in page
    assert f'id="to" name="to" type="date" value="{last}"' in page
    assert f'from={first}&amp;to={last}"' in page  # the CSV link covers the same days
    assert len(re.findall(r"<time datetime=", page)) == (last - first).days + 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "custom", "from": "2026-13-01", "to": "2026-11-02"}, "from"),
        ({"range": "custom", "from": "2026-11-05", "to": "2026-11-01"}, "to"),
        ({"range": "custom", "to": "2026-11-01"}, "from"),
        ({"interval": "year"}, "interval"),
        ({"range": "forever"}, "range"),
        ({"goal": "nope"}, "goal"),
        ({"kind": "sale"}, "kind"),
    ],
)
def test_bad_filters_are_named_next_to_their_field(
    pages: TestClient, shop: dict[str, Any], params: dict[str, str], field: str
) -> None:
    sign_in(pages, shop["admin"].user.email)
    page = pages.get(PAGE, params=params)
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert f'id="{field}-error"' in page.text
    assert f'aria-describedby="{field}-error"' in page.text or f'{field}-help {field}-error"' in page.text
    assert "The report cannot be shown" in page.text
    assert 'id="tile-conversations"' not in page.text
    assert "Download CSV" not in page.text


def test_the_csv_download_uses_the_session_and_carries_the_filters(
    pages: TestClient, shop: dict[str, Any]
) -> None:
    assert pages.get(PAGE + "/outcomes.csv", follow_redirects=False).status_code == 303  # no session
    sign_in(pages, shop["viewer"].user.email)
    page = pages.get(PAGE, params=shop["range"] | {"goal": "sale", "attribution": "conversation"}).text
    link = re.search(r'<a class="button" href="([^"]+)" download>Download CSV</a>', page)
    assert link is not None
    href = html.unescape(link.group(1))
    assert href == (
        f"{PAGE}/outcomes.csv?from={shop['range']['from']}&to={shop['range']['to']}"
        "&goal=sale&attribution=conversation"
    )
    answer = pages.get(href)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="outcomes-' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["goal"], r["value"], r["attribution"]) for r in rows] == [
        ("sale", "0.10", "conversation"),
        ("sale", "0.20", "conversation"),
    ]
    everything = pages.get(f"{PAGE}/outcomes.csv", params=shop["range"])
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 4
    bad = pages.get(f"{PAGE}/outcomes.csv", params={"range": "custom", "from": "nope", "to": "2026-11-01"})
    assert bad.status_code == 422
    assert "text/html" in bad.headers["content-type"]


def test_another_workspace_sees_none_of_it(
    pages: TestClient, shop: dict[str, Any], db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        stranger = make_member(session, clock.now(), role=Role.ANALYST)
    sign_in(pages, stranger.user.email)
    page = pages.get(PAGE, params=shop["range"]).text
    # Zeros and a note, not an error; and to the stranger's workspace, the shop's events are not its own.
    assert "Nothing has arrived in this workspace yet." in page
    assert tile(page, "conversations").startswith("Conversations 0")
    assert tile(page, "revenue").startswith("Revenue €0.00")
    assert tile(page, "conversion-rate").startswith("Conversion rate 0.0%")
    for theirs in ("sales-bot", ">Sale<", ">Reply<", "tile-goal-sale"):
        assert theirs not in page
    assert pages.get(PAGE, params=shop["range"] | {"goal": "sale"}).status_code == 422
    export = pages.get(f"{PAGE}/outcomes.csv", params=shop["range"])
    assert list(csv.DictReader(io.StringIO(export.text))) == []


def test_amounts_without_an_exchange_rate_are_shown_apart(pages: TestClient, shop: dict[str, Any]) -> None:
    """A sale in pesos, a currency the ECB does not publish: its base value is its display value, and
    the page says so above the tiles, as the JSON summary does."""
    assert sign_in(pages, shop["admin"].user.email).status_code == 303
    assert 'id="fallback-warning"' not in pages.get(PAGE, params=shop["range"]).text  # every sale converted
    sale = {
        "event": "sale",
        "contact_id": "cy",
        "timestamp": shop["day"].isoformat(),
        "properties": {"total": "1500", "currency": "ARS"},
    }
    headers = {"Authorization": f"Bearer {shop['key']}"}
    assert pages.post("/conversions", json=sale, headers=headers).status_code == 202
    warning = element(pages.get(PAGE, params=shop["range"]).text, "fallback-warning")
    assert "not converted to EUR" in warning
    assert "ARS" in warning
    assert "1,500.00 (1 outcome)" in warning
    summary = pages.get(
        "/api/v1/reports/summary",
        params={"from": shop["range"]["from"], "to": shop["range"]["to"]},
        headers=shop["admin"].headers,
    ).json()
    assert summary["totals"]["display_fallback"] == [{"currency": "ARS", "value": "1500.00", "outcomes": 1}]


def test_an_empty_range_of_a_busy_workspace_says_to_widen_it(pages: TestClient, shop: dict[str, Any]) -> None:
    sign_in(pages, shop["admin"].user.email)
    page = pages.get(PAGE, params={"range": "custom", "from": "2020-01-01", "to": "2020-01-31"}).text
    assert "Nothing was recorded from 1 Jan 2020 \N{EN DASH} 31 Jan 2020 with these filters" in page
    assert 'id="get-started-note"' not in page
