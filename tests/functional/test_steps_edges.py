"""Analytics steps at their edges (SPEC §10), over HTTP with server errors answered as a client sees
them: a time-zone change, labels from several flows, odd parameters and ids, a long path, and OData keys
of ids holding `:`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.app import create_app
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.settings import Settings
from tests.factories import Shop


@pytest.fixture
def raw(db: Database, settings: Settings, clock: FixedClock) -> Any:
    """The app with server errors turned into 500 answers (as a real client sees them)."""
    with TestClient(create_app(settings, clock=clock, database=db), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def shop(raw: TestClient, db: Database, clock: FixedClock) -> Shop:
    return Shop(raw, db, clock)


def ev(
    chat: str, step: str, at: datetime, flow: str | None = "sales", label: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "message_sent",
        "timestamp": at.isoformat(),
        "conversation_id": chat,
        "step": {"label": label or step, "id": step},
    }
    if flow is not None:
        body["flow_id"] = flow
    return body


def paths(shop: Shop, **params: str) -> Any:
    r = shop.client.get("/api/v1/steps/paths", params=params, headers=shop.admin.headers)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def flat(nodes: list[dict[str, Any]], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for n in nodes:
        key = (*prefix, n["step"])
        out[key] = n["conversations"]
        out.update(flat(n["children"], key))
    return out


# --- 1. a time-zone change leaves step_path_rollups in the old days; the next -1 lands elsewhere -------


def test_time_zone_change_double_counts_a_growing_path(shop: Shop) -> None:
    # 23:30 UTC on Nov 1 is 00:30 on Nov 2 in Europe/Berlin (the workspace's zone)
    first = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    shop.send("/events", ev("c1", "greet", first))
    r = shop.client.put(
        "/api/v1/settings/analytics",
        json={"base_currency": "EUR", "timezone": "UTC"},
        headers=shop.admin.headers,
    )
    assert r.status_code == 200, r.text
    shop.send("/events", ev("c1", "ask", first + timedelta(minutes=1)))
    body = paths(shop, **{"from": "2026-11-01", "to": "2026-11-02"})
    # one conversation (c1: greet -> ask), counted once
    assert body["conversations"] == 1, flat(body["nodes"])


# --- 2. labels: with no flow asked, a stale label of the no-flow entry beats the latest --------------


def test_label_is_the_latest_any_flow_gave(shop: Shop) -> None:
    t = shop.clock.now() - timedelta(hours=2)
    shop.send("/events", ev("c1", "greet", t, flow=None, label="Old label"))
    shop.send("/events", ev("c2", "greet", t + timedelta(hours=1), flow="sales", label="New label"))
    day = t.date().isoformat()
    body = paths(shop, **{"from": day, "to": day})
    (root,) = body["nodes"]
    assert root["label"] == "New label"


# --- 3. 500s reachable from query parameters ---------------------------------------------------------


@pytest.mark.parametrize("depth", ["\u00b2", "1" * 5000])
def test_odd_depth_is_a_422_not_a_500(shop: Shop, depth: str) -> None:
    r = shop.client.get(
        "/api/v1/steps/paths",
        params={"from": "2026-11-01", "to": "2026-11-02", "depth": depth},
        headers=shop.admin.headers,
    )
    assert r.status_code == 422, (r.status_code, r.text[:200])


@pytest.mark.parametrize("path", ["/api/v1/steps", "/api/v1/steps/paths"])
def test_nul_in_flow_is_not_a_500(shop: Shop, path: str) -> None:
    r = shop.client.get(
        path, params={"from": "2026-11-01", "to": "2026-11-02", "flow": "a\x00b"}, headers=shop.admin.headers
    )
    assert r.status_code < 500, (r.status_code, r.text[:200])


def test_lone_surrogate_step_id_is_a_422(shop: Shop) -> None:
    t = shop.clock.now() - timedelta(hours=1)
    body = (
        f'{{"name": "message_sent", "timestamp": "{t.isoformat()}", "conversation_id": "c1", '
        '"step": {"label": "ok", "id": "x\\ud800"}}'
    )
    r = shop.client.post(
        "/events",
        content=body,
        headers={"Authorization": f"Bearer {shop.public}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, (r.status_code, r.text[:300])


def test_lone_surrogate_step_label_is_a_422(shop: Shop) -> None:
    t = shop.clock.now() - timedelta(hours=1)
    body = (
        f'{{"name": "message_sent", "timestamp": "{t.isoformat()}", "conversation_id": "c1", '
        '"step": {"label": "x\\udc00y", "id": "ok"}}'
    )
    r = shop.client.post(
        "/events",
        content=body,
        headers={"Authorization": f"Bearer {shop.public}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, (r.status_code, r.text[:300])


# --- 4. odd step ids survive the round trip (unicode, ':', quotes, backslashes, 128 chars, 30 of them) --


def test_odd_ids_and_a_long_path_round_trip(shop: Shop) -> None:
    t = shop.clock.now() - timedelta(hours=3)
    odd = ["a:b", 'q"uote', "back\\slash", "é✓🙂", "ß" * 128, "[1,2]", "{}", " x"[1:]]
    long_ids = [f"{n:03d}" + "ü" * 125 for n in range(35)]
    events = [ev("c1", s, t + timedelta(seconds=n)) for n, s in enumerate(odd)]
    events += [ev("c2", s, t + timedelta(seconds=n)) for n, s in enumerate(long_ids)]
    shop.send("/events", {"events": events})
    day = t.date().isoformat()
    body = paths(shop, **{"from": day, "to": day, "depth": "10"})
    assert body["conversations"] == 2
    flat_tree = flat(body["nodes"])
    assert tuple(odd) in flat_tree or tuple(odd[:10]) in flat_tree
    body = paths(shop, **{"from": day, "to": day, "start": odd[3], "contains": "a:b"})
    assert [n["step"] for n in body["nodes"]] == [odd[3]]


# --- 6. OData Steps: keys "flow:step" are not unique when either holds ':' -----------------------------


def test_odata_step_keys_are_unique_and_paging_keeps_every_row(shop: Shop) -> None:
    t = shop.clock.now() - timedelta(hours=1)
    shop.send(
        "/events",
        {"events": [ev("c1", "b:c", t, flow="a"), ev("c2", "c", t, flow="a:b")]},
    )
    got = []
    url: str | None = "/odata/v4/Steps"
    while url:
        r = shop.client.get(url, headers={**shop.admin.headers, "Prefer": "odata.maxpagesize=1"})
        assert r.status_code == 200, r.text
        body = r.json()
        got += [(row["flow"], row["step_id"], row["id"]) for row in body["value"]]
        url = body.get("@odata.nextLink")
        if url and url.startswith("http"):
            url = url.split("testserver", 1)[1]
    assert len(got) == 2, got
    assert len({key for _, _, key in got}) == 2, got
