"""Settings → Rates over HTTP (SPEC §11), on each backend: a workspace's own rates replaced as a set and
audited, bad rates named, the settings permission and the workspace bounding them, and a sale converted
with them as soon as they are saved."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from tests.factories import Shop, make_member

RATES = "/api/v1/settings/rates"


@pytest.fixture
def shop(client: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(client, db, clock)


def put(shop: Shop, rates: list[dict[str, Any]], expect: int = 200) -> Any:
    response = shop.client.put(RATES, json={"rates": rates}, headers=shop.admin.headers)
    assert response.status_code == expect, response.text
    return response.json()


def test_rates_are_replaced_as_a_set_and_every_change_is_audited(shop: Shop) -> None:
    assert shop.client.get(RATES, headers=shop.admin.headers).json() == {
        "base_currency": "EUR",
        "rates": [],
        "changes": [],
    }
    saved = put(
        shop,
        [
            {"currency": "usd", "date": "2026-11-02", "per_base": "1.25"},
            {"currency": "GBP", "date": "2026-11-01", "per_base": 0.84},
        ],
    )
    assert saved["rates"] == [
        {"currency": "GBP", "date": "2026-11-01", "per_base": "0.84"},
        {"currency": "USD", "date": "2026-11-02", "per_base": "1.25"},
    ]
    assert [(c["currency"], c["before"], c["after"]) for c in saved["changes"]] == [  # newest first
        ("USD", None, "1.25"),
        ("GBP", None, "0.84"),
    ]
    again = put(shop, [{"currency": "USD", "date": "2026-11-02", "per_base": "1.3"}])
    assert again["rates"] == [{"currency": "USD", "date": "2026-11-02", "per_base": "1.3"}]
    latest = [(c["currency"], c["before"], c["after"], c["actor"]) for c in again["changes"][:2]]
    assert latest == [
        ("USD", "1.25", "1.3", shop.admin.user.email),
        ("GBP", "0.84", None, shop.admin.user.email),
    ]
    # 1.30 is 1.3: nothing changes, nothing is audited
    assert len(put(shop, [{"currency": "USD", "date": "2026-11-02", "per_base": "1.30"}])["changes"]) == 4


@pytest.mark.parametrize(
    ("rates", "field"),
    [
        ([{"currency": "EUR", "date": "2026-11-02", "per_base": "1"}], "rates[0].currency"),
        ([{"currency": "XX", "date": "2026-11-02", "per_base": "1"}], "rates[0].currency"),
        ([{"currency": "USD", "date": "2026-11-02", "per_base": "0"}], "rates[0].per_base"),
        ([{"currency": "USD", "date": "2026-11-02", "per_base": "-1.2"}], "rates[0].per_base"),
        ([{"currency": "USD", "date": "2026-11-02", "per_base": "1.23456789012345"}], "rates[0].per_base"),
        ([{"currency": "USD", "date": "2026-11-02", "per_base": "NaN"}], "rates[0].per_base"),
        ([{"currency": "USD", "date": "2 Nov", "per_base": "1.2"}], "rates[0].date"),
        ([{"currency": "USD", "date": "2026-11-02", "per_base": "1.2", "source": "me"}], "rates[0].source"),
        (
            [
                {"currency": "USD", "date": "2026-11-02", "per_base": "1.2"},
                {"currency": "usd", "date": "2026-11-02", "per_base": "1.3"},
            ],
            "rates[1].date",
        ),
    ],
)
def test_a_bad_rate_is_a_422_naming_it_and_nothing_is_saved(
    shop: Shop, rates: list[dict[str, Any]], field: str
) -> None:
    answer = put(shop, rates, expect=422)
    assert field in {d["field"] for d in answer["error"]["details"]}
    assert shop.client.get(RATES, headers=shop.admin.headers).json()["rates"] == []


def test_only_settings_managers_of_the_workspace_see_its_rates(
    shop: Shop, db: Database, clock: FixedClock
) -> None:
    put(shop, [{"currency": "USD", "date": "2026-11-02", "per_base": "1.25"}])
    with db.transaction() as session:
        analyst = make_member(session, clock.now(), role=Role.ANALYST, workspace=shop.admin.workspace)
        stranger = make_member(session, clock.now())
    assert shop.client.get(RATES, headers=analyst.headers).status_code == 403
    assert shop.client.put(RATES, json={"rates": []}, headers=analyst.headers).status_code == 403
    assert shop.client.get(RATES, headers=stranger.headers).json()["rates"] == []


def test_a_sale_converts_with_the_workspaces_rate_once_saved(shop: Shop, clock: FixedClock) -> None:
    shop.goal(
        code="sale",
        name="Sale",
        kind="conversion",
        trigger_event="sale",
        value_mode="from_property",
        value_property="total",
        currency_property="currency",
    )
    today = clock.now().date().isoformat()
    put(shop, [{"currency": "USD", "date": today, "per_base": "1.25"}])
    sale = {
        "event": "sale",
        "event_id": "o-1",
        "contact_id": "ann",
        "properties": {"total": "100", "currency": "USD"},
    }
    (outcome,) = shop.send("/conversions", sale)["results"][0]["outcomes"]
    assert (outcome["base_value"], outcome["base_value_source"], outcome["fx_rate"], outcome["fx_date"]) == (
        "80.000000",
        "rate",
        "1.25",
        today,
    )


def test_concurrent_replacements_each_answer_and_leave_one_whole_set(shop: Shop, clock: FixedClock) -> None:
    """Two admins save at once, each adding a rate of the same currency and date: neither is a server
    error, and what is stored is one of the two sets, whole, with an audit trail that explains it."""
    for round_ in range(8):
        day = (clock.now().date() - timedelta(days=round_)).isoformat()
        bodies = [
            {"rates": [{"currency": "USD", "date": day, "per_base": per_base}]}
            for per_base in ("1.10", "1.20")
        ]
        start = threading.Barrier(2)
        answers: list[Any] = [None, None]

        def save(n: int, start: threading.Barrier, answers: list[Any], body: dict[str, Any]) -> None:
            start.wait()
            answers[n] = shop.client.put(RATES, json=body, headers=shop.admin.headers)

        threads = [threading.Thread(target=save, args=(n, start, answers, bodies[n])) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 200], [answer.text for answer in answers]
        saved = shop.client.get(RATES, headers=shop.admin.headers).json()
        stored = saved["rates"]
        assert [(r["currency"], r["date"]) for r in stored] == [("USD", day)]
        assert stored[0]["per_base"] in ("1.10", "1.20")
        latest = saved["changes"][0]  # the second save changed the first's rate, or found it equal
        assert (latest["date"], latest["after"]) == (day, stored[0]["per_base"])
