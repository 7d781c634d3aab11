"""Hostile input over every operation in /api/openapi.json gets a 4xx JSON answer, never a 5xx.

The walk reads the OpenAPI document and, for every operation, sends what an attacker would:
crafted cursors (valid base64 of the wrong contents, not base64 at all), NUL in every query
parameter and every string body field, JSON nested 5,000 deep, 5,000-digit integers, and HEAD on
every state-changing route. The answers must come from the generic guards (JSON decoding, cursor
decoding, query-string parsing), so a new operation is covered the day it is added.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

WRITE_METHODS = ("post", "put", "patch", "delete")
HTTP_METHODS = ("get", *WRITE_METHODS)
NUL = "a\x00b"
HUGE_INT = "9" * 5000


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CRAFTED_CURSORS = [
    _b64(["abc"]), _b64([None]), _b64([{"a": 1}]), _b64([[1, 2]]), _b64([True]), _b64([1.5]),
    _b64([1, 2, 3]), _b64([]), _b64({"a": 1}), _b64("x"), _b64([10**30]), _b64(["a\x00"]),
    _b64(["2026-01-01T00:00:00", 1]), _b64(["not a time", 1]), _b64([1, "x"]),
    "!!!not-base64!!!", "a", "%%%", base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
    base64.urlsafe_b64encode(b"[" * 5000).decode(), base64.urlsafe_b64encode(b"[1" + b"0" * 5000 + b"]").decode(),
]


def deep_json(depth: int = 5000) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


@pytest.fixture
def admin_headers(make_user: Any, make_key: Any) -> dict[str, str]:
    return make_key(make_user("admin"), "admin")


@pytest.fixture
def parents(app: Any, db: Any) -> None:
    """Id 1 exists for the lists nested under a parent, so their cursors are decoded, not 404'd."""
    from webapp.forwarding.models import ForwardTarget
    from webapp.repos.models import Installation, Repository
    from webapp.sync.models import Project

    db.session.add(Installation(id=1, account_login="octo"))
    db.session.add(Repository(id=1, installation_id=1, owner="octo", name="app", full_name="octo/app"))
    db.session.flush()
    db.session.add(ForwardTarget(id=1, name="deploy", url="https://deploy.example.test/hook", secret="s" * 32))
    db.session.add(Project(id=1, name="infra", repository_id=1, branch="main"))
    db.session.commit()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def _url(spec: dict[str, Any], path: str, op: dict[str, Any], item: dict[str, Any]) -> str:
    params = [*item.get("parameters", []), *op.get("parameters", [])]
    for param in params:
        if param["in"] != "path":
            continue
        schema = _resolve(spec, param.get("schema", {}))
        value = "1" if schema.get("type") == "integer" else "production"
        path = path.replace("{" + param["name"] + "}", value)
    return path


def _body_schema(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _resolve(spec, content["application/json"].get("schema", {}))


def _string_fields(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = _resolve(spec, schema).get("properties", {})
    return [name for name, prop in properties.items()
            if _resolve(spec, prop).get("type") == "string" and not prop.get("readOnly")]


def _integer_fields(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = _resolve(spec, schema).get("properties", {})
    return [name for name, prop in properties.items()
            if _resolve(spec, prop).get("type") == "integer" and not prop.get("readOnly")]


def _assert_4xx_json(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    assert response.is_json, f"{what}: not JSON ({response.content_type})"
    body = response.get_json()
    if what.split()[1].startswith("/compat/"):  # the replaced systems' FastAPI error shape
        assert body.get("detail"), f"{what}: {body}"
        return
    assert body.get("code") and body.get("message"), f"{what}: {body}"


def _send(client: Any, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.open(url, method=method.upper(), headers=headers, **kwargs)


def test_every_operation_refuses_hostile_input_with_4xx_json(client: Any, spec: dict[str, Any], parents: None,
                                                             admin_headers: dict[str, str]) -> None:
    walked = 0
    for path, method, op in _operations(spec):
        url = _url(spec, path, op, spec["paths"][path])
        params = [*spec["paths"][path].get("parameters", []), *op.get("parameters", [])]
        for param in params:
            if param["in"] != "query":
                continue
            name = param["name"]
            response = _send(client, method, url, admin_headers, query_string={name: NUL})
            _assert_4xx_json(response, f"{method.upper()} {path} ?{name}=NUL")
            if name == "cursor":
                for cursor in CRAFTED_CURSORS:
                    response = _send(client, method, url, admin_headers, query_string={"cursor": cursor})
                    _assert_4xx_json(response, f"{method.upper()} {path} ?cursor={cursor[:40]}")
        # NUL as the name of a query parameter, and in the path itself
        response = _send(client, method, url, admin_headers, query_string={NUL: "x"})
        assert response.status_code < 500, f"{method.upper()} {path} NUL name: {response.status_code}"
        if method in WRITE_METHODS:
            for body in (deep_json(), "[" * 5000 + "]" * 5000, '{"a": ' + HUGE_INT + "}", "[" + HUGE_INT + "]",
                         '{"a": 1e99999}', '{"a": NaN}', '{"a\\u0000": 1}', '["\\u0000"]'):
                response = _send(client, method, url, admin_headers, data=body, content_type="application/json")
                _assert_4xx_json(response, f"{method.upper()} {path} body {body[:20]}")
            schema = _body_schema(spec, op)
            if schema is not None:
                for field in _string_fields(spec, schema):
                    response = _send(client, method, url, admin_headers, json={field: NUL})
                    _assert_4xx_json(response, f"{method.upper()} {path} {field}=NUL")
                for field in _integer_fields(spec, schema):
                    response = _send(client, method, url, admin_headers,
                                     data='{"' + field + '": ' + HUGE_INT + "}", content_type="application/json")
                    _assert_4xx_json(response, f"{method.upper()} {path} {field}=5000 digits")
                    response = _send(client, method, url, admin_headers, json={field: 2**70})
                    _assert_4xx_json(response, f"{method.upper()} {path} {field}=2**70")
        walked += 1
    assert walked > 100  # the document really was walked


def test_head_never_runs_a_state_changing_route(client: Any, spec: dict[str, Any],
                                                admin_headers: dict[str, str]) -> None:
    for path, method, op in _operations(spec):
        if method not in WRITE_METHODS:
            continue
        url = _url(spec, path, op, spec["paths"][path])
        response = client.head(url, headers=admin_headers)
        if "get" in spec["paths"][path]:
            assert response.status_code < 500, f"HEAD {path}: {response.status_code}"
            continue
        assert response.status_code == 405, f"HEAD {path}: {response.status_code}"
        assert method.upper() in response.headers["Allow"]


def test_head_on_every_write_only_route_is_refused(app: Any, client: Any, login_as: Any) -> None:
    login_as("admin")
    methods_of: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods_of.setdefault(rule.rule, set()).update(rule.methods or ())
    checked = 0
    for path, methods in methods_of.items():
        if "GET" in methods or not methods & {"POST", "PUT", "PATCH", "DELETE"}:
            continue
        url = re.sub(r"<int:[^>]+>", "1", path)
        url = re.sub(r"<[^>]+>", "x", url)
        response = client.head(url)
        assert response.status_code == 405, f"HEAD {url}: {response.status_code}"
        checked += 1
    assert checked > 50


def _nested_string_bodies(spec: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """For each array-of-strings field and each object field with string properties: a body with NUL inside."""
    for name, prop in _resolve(spec, schema).get("properties", {}).items():
        prop = _resolve(spec, prop)
        if prop.get("readOnly"):
            continue
        if prop.get("type") == "array" and _resolve(spec, prop.get("items", {})).get("type") == "string":
            yield f"{name}[]", {name: [NUL]}
        elif prop.get("type") == "object" or "properties" in prop:
            for inner in _string_fields(spec, prop):
                yield f"{name}.{inner}", {name: {inner: NUL}}


def test_nul_in_every_path_string_and_nested_body_string_is_4xx_json(client: Any, spec: dict[str, Any],
                                                                    parents: None,
                                                                    admin_headers: dict[str, str]) -> None:
    reached = 0
    for path, method, op in _operations(spec):
        item = spec["paths"][path]
        for param in [*item.get("parameters", []), *op.get("parameters", [])]:
            if param["in"] != "path" or _resolve(spec, param.get("schema", {})).get("type") == "integer":
                continue
            url = _url(spec, path.replace("{" + param["name"] + "}", "a%00b"), op, item)
            _assert_4xx_json(_send(client, method, url, admin_headers), f"{method.upper()} {path} {param['name']}=NUL")
            reached += 1
        schema = _body_schema(spec, op) if method in WRITE_METHODS else None
        for what, body in _nested_string_bodies(spec, schema) if schema is not None else ():
            response = _send(client, method, _url(spec, path, op, item), admin_headers, json=body)
            _assert_4xx_json(response, f"{method.upper()} {path} {what}=NUL")
            reached += 1
    assert reached > 10  # path strings and nested strings were really found
