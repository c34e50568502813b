"""The API reference (`/docs`) in a real browser: it shows the operations, and every request it makes
stays on the service (its Content-Security-Policy is strict; a violation is a console error, which
fails the test)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, expect


def test_the_api_reference_renders_from_the_service_alone(anonymous_page: Page, service_url: str) -> None:
    requested: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    anonymous_page.on("request", on_request)
    anonymous_page.goto("/docs")
    expect(anonymous_page.locator(".opblock-summary-path").first).to_be_visible(timeout=15_000)
    paths = anonymous_page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/events", "/conversions", "/api/v1/goals", "/odata/v4/$metadata"} <= {
        path.replace("\u200b", "") for path in paths
    }
    here = urlsplit(service_url).netloc
    # data: and blob: URLs are the page's own (Swagger UI's icons), not requests on the network
    outside = [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != here
    ]
    assert outside == [], "the reference reached outside the service"
    assert any(url.endswith("/openapi.json") for url in requested)
