"""SPEC §2's range of amounts over HTTP, on each backend: every amount from -999,999,999,999,999.999999
to 999,999,999,999,999.999999 is recorded and summed exactly; an amount outside it records the outcome
with a null value and a `value_error` naming the limit; a goal cannot be saved with a fixed value
outside it (the API and the admin form)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from comerix.analytics import rollups
from comerix.clock import FixedClock
from comerix.conversions.models import Outcome
from comerix.db import Database
from comerix.db.bulk import codec_for
from comerix.goals.models import Goal
from comerix.money import MAX_AMOUNT, to_micros
from tests.factories import Member, Shop, make_member
from tests.pages import post_form, sign_in

LIMIT = "999,999,999,999,999.999999"
SALE = {
    "code": "sale",
    "name": "Sale",
    "kind": "conversion",
    "trigger_event": "sale",
    "value_mode": "from_property",
    "value_property": "total",
    "base_value_property": "base",
}


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(client, db, clock)


def sale(shop: Shop, day: float, **properties: Any) -> dict[str, Any]:
    """One sale sent to /conversions; its one outcome."""
    answer = shop.send("/conversions", {"event": "sale", "timestamp": shop.at(day), "properties": properties})
    assert answer["accepted"] == 1
    [outcome] = answer["results"][0]["outcomes"]
    return dict(outcome)


def totals(shop: Shop) -> dict[str, Any]:
    today = shop.clock.now().date()
    params = {"from": f"{today.year - 1}-01-01", "to": today.isoformat()}
    response = shop.client.get("/api/v1/reports/summary", params=params, headers=shop.admin.headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["totals"])


def amounts(money: list[dict[str, str]]) -> dict[str, Decimal]:
    return {m["currency"]: Decimal(m["value"]) for m in money}


@pytest.mark.parametrize(
    "total",
    ["9300000000000", "-9300000000000", "999999999999999.999999", "-999999999999999.999999", "0.000001"],
)
def test_amounts_inside_the_range_are_recorded_and_summed_exactly(shop: Shop, total: str) -> None:
    shop.goal(**SALE)
    for day in (1, 1, 2):
        outcome = sale(shop, day, total=total)
        assert (outcome["value"], outcome["base_value"], outcome["value_error"]) == (total, total, None)
    found = totals(shop)
    assert amounts(found["revenue"]) == {"EUR": 3 * Decimal(total)}
    assert amounts(found["base_revenue"]) == {"EUR": 3 * Decimal(total)}


def test_two_sales_near_the_old_64_bit_limit_add_up_to_the_exact_sum(shop: Shop) -> None:
    shop.goal(**SALE)
    sale(shop, 1, total="9223372036854")
    sale(shop, 1, total="9223372036854")
    [revenue] = totals(shop)["revenue"]
    assert revenue == {"currency": "EUR", "value": "18446744073708.00"}


@pytest.mark.parametrize(
    ("properties", "shown", "field"),
    [
        ({"total": "1e17"}, "1E+17", "total"),
        ({"total": 1e17}, "1E+17", "total"),
        ({"total": "-1000000000000000"}, "-1000000000000000", "total"),
        ({"total": "999999999999999.9999995"}, "999999999999999.9999995", "total"),
        ({"total": 10**30}, "1000000000000000000000000000000", "total"),
        ({"total": "5", "base": "9300000000000000.5"}, "9300000000000000.5", "base"),
    ],
)
def test_an_amount_outside_the_range_records_the_outcome_with_a_null_value_naming_the_limit(
    shop: Shop, properties: dict[str, Any], shown: str, field: str
) -> None:
    shop.goal(**SALE)
    outcome = sale(shop, 1, **properties)
    assert (outcome["value"], outcome["currency"], outcome["base_value"]) == (None, None, None)
    error = outcome["value_error"]
    assert f"property {field!r} is {shown}" in error
    assert f"-{LIMIT} to {LIMIT}" in error
    found = totals(shop)
    assert (found["conversions"], found["revenue"], found["base_revenue"]) == (1, [], [])


@pytest.mark.parametrize(
    "total",
    ["1e-16384", "1E-20000", "1e-100000", "0." + "1" * 5000, "0." + "0" * 28 + "1"],
    ids=["1e-16384", "1E-20000", "1e-100000", "5000-digits", "29-places"],
)
def test_an_amount_with_more_than_28_decimal_places_records_the_outcome_with_a_null_value(
    shop: Shop, total: str
) -> None:
    """In range, but PostgreSQL's NUMERIC holds at most 16,383 decimal places: the first three were a
    500 there on every retry. Nobody means more than 28 (SPEC §2 amounts have 6)."""
    shop.goal(**SALE)
    for day, properties, field in (
        (1, {"total": total}, "total"),
        (2, {"total": "5", "base": total}, "base"),
    ):
        outcome = sale(shop, day, **properties)
        assert (outcome["value"], outcome["currency"], outcome["base_value"]) == (None, None, None)
        error = outcome["value_error"]
        assert error.startswith(f"property {field!r} is {str(Decimal(total))[:20]}")
        assert error.endswith(", written with more than 28 decimal places")
    found = totals(shop)
    assert (found["conversions"], found["revenue"], found["base_revenue"]) == (2, [], [])


@pytest.mark.parametrize(
    ("total", "kept"),
    [
        ("0." + "0" * 27 + "1", "1E-28"),
        ("59.97000000000001", "59.97000000000001"),
        ("129.50", "129.50"),
        ("1." + "0" * 8000, "1." + "0" * 28),
        ("0E-20000", "0E-28"),
        ("-0E-100000", "0E-28"),
        ("-0.00", "0.00"),
        ("2E+3", "2000"),
        ("0E+100000", "0"),
    ],
    ids=[
        "28-places",
        "float",
        "cents",
        "8000-zeros",
        "0E-20000",
        "-0E-100000",
        "-0.00",
        "2E+3",
        "0E+100000",
    ],
)
def test_an_amount_is_kept_with_its_digits_and_at_most_28_decimal_places(
    shop: Shop, db: Database, total: str, kept: str
) -> None:
    """Zeros beyond the 28th decimal place are dropped, a positive exponent is written out and a zero
    loses its sign (PostgreSQL's NUMERIC has no -0), so that each backend stores and reads back the
    same amount; every other digit is kept."""
    shop.goal(**SALE)
    outcome = sale(shop, 1, total=total, base=total)
    assert (outcome["value"], outcome["base_value"], outcome["value_error"]) == (kept, kept, None)
    with db.sessions() as session:
        stored = session.execute(select(Outcome.value, Outcome.base_value)).one()
    assert tuple(map(str, stored)) == (kept, kept)
    found = totals(shop)
    assert amounts(found["revenue"]) == {"EUR": Decimal(total).quantize(Decimal("0.000001"))}


@pytest.mark.parametrize(
    ("fixed", "kept"),
    [("0E-20000", "0E-28"), ("1." + "0" * 20000, "1." + "0" * 28)],
    ids=["0E-20000", "20000-zeros"],
)
def test_a_fixed_value_with_zeros_beyond_any_storable_place_is_kept_to_28_places(
    shop: Shop, fixed: str, kept: str
) -> None:
    """At most 6 decimal places count (trailing zeros do not): PostgreSQL refused the rest at save."""
    goal = shop.goal(
        code="lead",
        name="Lead",
        kind="conversion",
        trigger_event="lead",
        value_mode="fixed",
        fixed_value=fixed,
    )
    assert goal["fixed_value"] == kept
    [result] = shop.send("/conversions", {"event": "lead", "timestamp": shop.at(1)})["results"]
    assert result["outcomes"][0]["value"] == kept


@pytest.mark.parametrize(
    "fixed", ["999999999999999999.999999", "1000000000000000", "-1000000000000000", "1e20"]
)
def test_a_goal_with_a_fixed_value_outside_the_range_is_refused(shop: Shop, fixed: str) -> None:
    body = {
        "code": "lead",
        "name": "Lead",
        "kind": "conversion",
        "trigger_event": "lead",
        "value_mode": "fixed",
    }
    response = shop.client.post(
        "/api/v1/goals", json=body | {"fixed_value": fixed}, headers=shop.admin.headers
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["error"]["details"]
    assert problem["field"] == "fixed_value"
    assert LIMIT in problem["message"]
    goal = shop.goal(**body, fixed_value="999999999999999.999999")
    path = f"/api/v1/goals/{goal['id']}"
    patched = shop.client.patch(path, json={"fixed_value": fixed}, headers=shop.admin.headers)
    assert patched.status_code == 422, patched.text
    assert [p["field"] for p in patched.json()["error"]["details"]] == ["fixed_value"]
    stored = shop.client.get(path, headers=shop.admin.headers).json()
    assert stored["fixed_value"] == "999999999999999.999999"


def test_a_stored_fixed_value_outside_the_range_stops_nothing(shop: Shop, db: Database) -> None:
    """A goal saved before the range was checked: its outcomes say why they have no value, and every
    other event of the batch is recorded as usual."""
    lead = shop.goal(
        code="lead", name="Lead", kind="conversion", trigger_event="lead", value_mode="fixed", fixed_value="1"
    )
    shop.goal(**SALE)
    with db.transaction() as session:
        too_big = Decimal("999999999999999999.999999")
        session.execute(update(Goal).where(Goal.code == lead["code"]).values(fixed_value=too_big))
    items = [
        {"event": "lead", "timestamp": shop.at(1)},
        {"event": "sale", "timestamp": shop.at(1), "properties": {"total": "10"}},
    ]
    answer = shop.send("/conversions", {"conversions": items})
    assert answer["accepted"] == 2
    [lead_outcome], [sale_outcome] = (result["outcomes"] for result in answer["results"])
    assert lead_outcome["value"] is None
    assert (
        f"fixed_value 999999999999999999.999999 is outside the accepted range -{LIMIT} to {LIMIT}"
        == (lead_outcome["value_error"])
    )
    assert sale_outcome["value"] == "10"


def test_the_goal_form_refuses_a_fixed_value_outside_the_range(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        designer: Member = make_member(session, clock.now())
    assert sign_in(pages, designer.user.email).status_code == 303
    form = {
        "name": "Lead",
        "code": "lead",
        "kind": "conversion",
        "trigger_event": "lead",
        "match_conditions": "",
        "value_mode": "fixed",
        "fixed_value": "999999999999999999.999999",
        "attribution_window_hours": "168",
    }
    response = post_form(pages, "/admin/insights/goals/new", form)
    assert response.status_code == 422
    assert 'id="fixed_value-error"' in response.text
    assert LIMIT in response.text


def test_the_analytics_page_shows_sums_with_more_digits_than_a_decimal_context_holds(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    """A hundred million sales at the limit and one of a millionth: 29 digits, one more than Python's
    default decimal context, which Babel formats in."""
    day = clock.now().date() - timedelta(days=1)
    with db.transaction() as session:
        admin: Member = make_member(session, clock.now())
        cell = rollups.OutcomeKey(day, uuid.uuid4().hex, "conversion", "", "none", "IDR", "IDR")
        micros = 10**8 * to_micros(MAX_AMOUNT) + 1
        codec = codec_for(db.engine.dialect.name)
        rollups._add_money(
            session.connection(), codec, admin.workspace.id, {cell: [10**8 + 1, micros, micros]}
        )
    assert sign_in(pages, admin.user.email).status_code == 303
    response = pages.get(
        "/admin/insights/analytics", params={"range": "custom", "from": str(day), "to": str(day)}
    )
    assert response.status_code == 200
    assert "IDR99,999,999,999,999,999,999,900.000001" in response.text
