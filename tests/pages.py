"""Helpers for the tests of the admin pages over HTTP: a browser-like client, signing in, CSRF tokens,
and reading a page as its reader sees it.

The session cookie is `Secure`, so the client talks to `https://testserver`, as a browser would to a
deployed service.
"""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from httpx2 import Response

PASSWORD = "correct horse"  # tests.factories.make_user's default
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    """Sign in through the form, as a person would; the client keeps the session cookie."""
    form = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


def post_form(client: TestClient, path: str, data: dict[str, str], *, page: str | None = None) -> Response:
    """Submit a form of the admin pages with the CSRF token of `page` (default: `path` itself)."""
    token = csrf_of(client.get(page or path).text)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def inner(page: str, element_id: str) -> str:
    """The HTML inside the element with this id (a tile, a table)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert found is not None, f"no element #{element_id}"
    return found.group(2)


def text(fragment: str) -> str:
    """What a reader sees of some HTML: tags dropped, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def table_rows(page: str, table_id: str) -> list[str]:
    """The rows of the body of the table with this id, as a reader sees them."""
    body = re.search(r"<tbody>(.*?)</tbody>", inner(page, table_id), re.S)
    assert body is not None
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]
