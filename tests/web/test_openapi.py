"""web/openapi.py: the served document describes exactly the app's HTTP API."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from fairdrop.errors import ErrorCode
from fairdrop.settings import Settings
from web.app import create_app

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


@pytest.fixture(scope="module")
def app() -> Starlette:
    # Building the app connects to nothing; that happens in its lifespan.
    return create_app(Settings(secret_key="openapi-test", organiser_token="t"))


@pytest.fixture
async def document(app: Starlette) -> dict[str, Any]:
    """The document as the app serves it."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served: dict[str, Any] = response.json()
    return served


def _http_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path template, lower-case method) for every HTTP route, mounts included."""
    for route in routes:
        if isinstance(route, Mount):
            yield from _http_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":  # Starlette adds HEAD to every GET
                    yield prefix + route.path, method.lower()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected: {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_has_the_shape_of_openapi_3_1(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]
    assert isinstance(document["components"]["schemas"], dict)
    assert document["paths"] and all(path.startswith("/") for path in document["paths"])
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (path, method)
        for code, response in responses.items():
            assert re.fullmatch(r"[1-5](\d\d|XX)|default", code), (path, method, code)
            answer = _resolve(document, response["$ref"]) if "$ref" in response else response
            assert isinstance(answer.get("description"), str), (path, method, code)
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(document["components"]["securitySchemes"])
    for ref in set(_refs(document)):
        _resolve(document, ref)


def test_path_parameters_match_the_path_templates(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        in_path = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        assert set(in_path) == set(PATH_PARAM.findall(path)), (path, method)
        assert all(p["required"] is True for p in in_path.values()), (path, method)


def test_every_api_route_is_described_and_nothing_else(
    app: Starlette, document: dict[str, Any]
) -> None:
    served = {(path, method) for path, method in _http_routes(app.routes)}
    api = {(path, method) for path, method in served if path.startswith("/api/")}
    described = {(path, method) for path, method, _ in _operations(document)}
    assert api, "the walk found no API routes"
    assert api - described == set(), "routes missing from /openapi.json"
    assert described - served == set(), "described but not served"
    assert described - api == set(), "described outside /api/"


def test_every_error_code_is_in_the_error_schema(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    codes = error["properties"]["error"]["properties"]["code"]["enum"]
    assert sorted(codes) == sorted(code.value for code in ErrorCode)
    assert len(codes) == len(set(codes))
    # And every operation says its refusals have that shape.
    for path, method, operation in _operations(document):
        refusal = operation["responses"].get("4XX")
        assert refusal is not None, (path, method)
        schema = _resolve(document, refusal["$ref"])["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, (path, method)
