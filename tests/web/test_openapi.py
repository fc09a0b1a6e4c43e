"""web/openapi/: the served document describes exactly the app's HTTP API."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from fairdrop.errors import HTTP_CODES, FairdropError
from fairdrop.settings import Settings
from web.app import create_app
from web.openapi import TEXT_PATTERN
from web.validation import text_field

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
    # Every code an HTTP answer can carry, and only those: the worker's own
    # (WORKER_ONLY, on a fan's socket only) belong to the socket protocol.
    assert set(codes) == {code.value for code in HTTP_CODES}
    assert len(codes) == len(set(codes))
    # And every operation says its refusals have that shape.
    for path, method, operation in _operations(document):
        refusal = operation["responses"].get("4XX")
        assert refusal is not None, (path, method)
        schema = _resolve(document, refusal["$ref"])["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, (path, method)


# --- limits the server enforces ----------------------------------------------

# Request fields and bodies the server checks no shape of: they are checked by
# their signature (and bounded by the body size).
UNBOUNDED_FIELDS = {"admission_token"}
SIGNED_BODIES = {"#/components/schemas/StripeEvent"}


def _unstated_limits(node: Any, where: str) -> Iterator[str]:
    """Request-body fields whose limits the schema does not state."""
    kinds = node.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if "integer" in kinds and not {"minimum", "maximum"} <= set(node):
        yield f"{where}: an integer without minimum and maximum"
    if "string" in kinds and not {"maxLength", "pattern", "enum", "format"} & set(node):
        yield f"{where}: a string without maxLength, pattern, enum or format"
    if "array" in kinds:
        if "maxItems" not in node:
            yield f"{where}: an array without maxItems"
        yield from _unstated_limits(node["items"], f"{where}[]")
    for name, field in node.get("properties", {}).items():
        if name not in UNBOUNDED_FIELDS:
            yield from _unstated_limits(field, f"{where}.{name}")


def _request_schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, method, operation in _operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            schema = content["schema"]
            if schema.get("$ref") in SIGNED_BODIES:
                continue
            if "$ref" in schema:
                schema = _resolve(document, schema["$ref"])
            yield f"{method} {path} ({media})", schema


def test_request_bodies_state_the_limits_the_server_enforces(document: dict[str, Any]) -> None:
    unstated = [
        problem
        for where, schema in _request_schemas(document)
        if schema.get("type") == "object"
        for problem in _unstated_limits(schema, where)
    ]
    assert unstated == []


def _path_schema(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    operation = document["paths"][path]["get"]
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    schema: dict[str, Any] = parameter["schema"]
    return schema


@pytest.mark.parametrize(
    ("path", "name", "issued", "refused"),
    [
        ("/api/events/{event_id}", "event_id", [secrets.token_hex(4), "drop-2031"], ["a.b"]),
        (
            "/api/events/{event_id}/purchases/{request_id}",
            "request_id",
            [uuid.uuid4().hex[:24] + "01f3"],
            ["r\u00e9", "a.b", "0" * 27],
        ),
        ("/api/tickets/{code}", "code", [secrets.token_urlsafe(16)], ["short", "a.b" * 8]),
    ],
)
def test_path_ids_state_the_shape_the_server_checks(
    document: dict[str, Any], path: str, name: str, issued: list[str], refused: list[str]
) -> None:
    pattern = _path_schema(document, path, name)["pattern"]
    for value in issued:
        assert re.search(pattern, value), (name, value)
    for value in refused:
        assert not re.search(pattern, value), (name, value)


def _documented_text(value: str) -> bool:
    # JSON Schema patterns are ECMA-262, whose "$" is the very end; Python's
    # would also match before a final newline, so the anchors are applied by fullmatch.
    return re.fullmatch(TEXT_PATTERN.removeprefix("^").removesuffix("$"), value) is not None


def _text_field_takes(value: str) -> bool:
    try:
        text_field({"f": value}, "f", len(value) + 1)
    except FairdropError:
        return False
    return True


def test_the_text_pattern_is_text_fields_rule_for_every_character() -> None:
    """Blank is str.isspace, not ECMA-262's \\s (they differ at U+0085 and U+FEFF)."""
    characters = (chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for one in characters:
        for value in (one, f"a{one}"):
            assert _documented_text(value) == _text_field_takes(value), repr(value)


@given(st.text(max_size=12))
def test_the_text_pattern_is_text_fields_rule(value: str) -> None:
    assert _documented_text(value) == _text_field_takes(value)


# --- methods -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "PATCH"])
async def test_a_405_allows_every_method_of_its_path(
    app: Starlette, document: dict[str, Any], method: str
) -> None:
    """Starlette's Allow named one route's methods: OPTIONS /api/events left out GET."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        for path, item in document["paths"].items():
            documented = {m.upper() for m in item if m in HTTP_METHODS}
            if method.lower() in item:
                continue
            response = await http.request(method, PATH_PARAM.sub("x", path))
            assert response.status_code == 405, (path, response.text)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed - {"HEAD"} == documented, path
