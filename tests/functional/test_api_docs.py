"""The API's description (`/openapi.json`), its reference page (`/docs`) and what a 405 says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

ERROR = "#/components/schemas/ErrorResponse"
ADMIN_ERRORS = {"400", "401", "403"}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json())


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_document_is_valid_openapi_and_every_reference_resolves(document: dict[str, Any]) -> None:
    validate(document)  # raises on any violation of the OpenAPI 3.1 specification
    # The validator does not follow the references inside request bodies: resolve each one from the root
    # as any tool must (the Engine API's batches once pointed at `#/$defs/...`, which is not there).
    resolver = Registry().with_resource("urn:api", DRAFT202012.create_resource(document)).resolver("urn:api")
    found = sorted(set(references(document)))
    assert "#/components/schemas/EventIn" in found
    for reference in found:
        resolver.lookup("urn:api" + reference)  # raises Unresolvable


def test_the_engine_api_bodies_are_its_models(document: dict[str, Any]) -> None:
    for path, single, batch in (
        ("/events", "EventIn", "EventBatch"),
        ("/conversions", "ConversionIn", "ConversionBatch"),
    ):
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {
            "oneOf": [{"$ref": f"#/components/schemas/{single}"}, {"$ref": f"#/components/schemas/{batch}"}]
        }
    items = document["components"]["schemas"]["EventBatch"]["properties"]["events"]["items"]
    assert items == {"$ref": "#/components/schemas/EventIn"}


def test_every_operation_lists_the_errors_it_answers_in_the_one_shape(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        answers = operation["responses"]
        if path.startswith("/api/v1/"):
            assert set(answers) >= ADMIN_ERRORS, f"{method} {path}: {sorted(answers)}"
        for status, answer in answers.items():
            if status.startswith(("4", "5")) and not path.startswith("/odata/"):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR}, f"{method} {path} {status}"
        assert "HTTPValidationError" not in str(operation), f"{method} {path} documents FastAPI's 422"
    expected = {
        ("POST", "/events"): {"202", "400", "401", "413", "422", "503"},
        ("POST", "/conversions"): {"202", "400", "401", "403", "413", "422", "503"},
        ("GET", "/healthz"): {"200", "400", "503"},
        ("POST", "/api/v1/goals"): {"201", "400", "401", "403", "409", "422", "503"},
        ("GET", "/api/v1/goals/{goal_id}"): {"200", "400", "401", "403", "404", "422", "503"},
        ("DELETE", "/api/v1/contacts/{contact_id}"): {"200", "400", "401", "403", "404", "422", "503"},
        ("GET", "/odata/v4/$metadata"): {"200", "400", "401", "403", "404", "503"},
    }
    found = {(method, path): set(op["responses"]) for method, path, op in operations(document)}
    for key, statuses in expected.items():
        assert found[key] == statuses, key
    for method, path, operation in operations(document):
        # Every operation reads or writes storage, which may be unavailable (`db.availability`).
        unavailable = operation["responses"].get("503")
        assert unavailable is not None, f"{method} {path} does not document 503"
        assert "Retry-After" in unavailable["headers"], f"{method} {path}"
        shape = "ODataError" if path.startswith("/odata/") else "ErrorResponse"
        if shape == "ErrorResponse":  # a failed commit may have stored it: said, and how to retry
            assert "not known to be" in unavailable["description"], f"{method} {path}"
        assert unavailable["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{shape}"
        }
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]


def test_each_answer_is_documented_in_the_media_type_it_has(document: dict[str, Any]) -> None:
    def success(path: str) -> set[str]:
        return set(document["paths"][path]["get"]["responses"]["200"]["content"])

    assert success("/odata/v4/$metadata") == {"application/xml"}
    assert success("/odata/v4/{name}/$count") == {"text/plain"}
    assert success("/api/v1/reports/outcomes.csv") == {"text/csv"}
    assert success("/odata/v4/") == {"application/json"}


def test_the_document_says_which_credential_each_part_takes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {name: scheme["scheme"] for name, scheme in schemes.items()} == {
        "personalAccessToken": "bearer",
        "engineKey": "bearer",
    }
    security = {(m, p): op["security"] for m, p, op in operations(document)}
    assert security[("POST", "/events")] == [{"engineKey": []}]
    assert security[("GET", "/api/v1/goals")] == [{"personalAccessToken": []}]
    assert security[("GET", "/odata/v4/$metadata")] == [{"personalAccessToken": []}]
    assert security[("GET", "/healthz")] == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/goals", "GET, POST"),
        ("PUT", "/api/v1/goals/some-goal", "GET, PATCH"),
        ("GET", "/events", "POST"),
        ("POST", "/healthz", "GET"),
        ("POST", "/odata/v4/Outcomes", "GET"),
        ("DELETE", "/odata/v4/", "GET"),
        ("OPTIONS", "/odata/v4/$metadata", "GET"),
        ("OPTIONS", "/api/v1/settings/analytics", "GET, PUT"),
        ("OPTIONS", "/api/v1/goals/preview", "POST"),
    ],
)
def test_a_405_names_every_method_of_the_path(client: TestClient, method: str, path: str, allow: str) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers.get("allow") == allow


def test_an_admin_page_405_names_its_methods_too(pages: TestClient) -> None:
    answer = pages.put("/admin/insights/goals")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers.get("allow") == "GET"


def test_the_api_reference_loads_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r"https?://", html) == [], "the page names an outside address"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 3
    assert all(asset.startswith("/") and not asset.startswith("//") for asset in assets), assets
    kinds = {}
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        kinds[asset.rsplit(".", 1)[1]] = answer.headers["content-type"].split(";")[0]
    assert kinds == {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert "'sha256-" in policy
    assert "connect-src 'self'" in policy
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404
