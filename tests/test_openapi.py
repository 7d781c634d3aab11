"""The OpenAPI document is valid and complete, and the docs pages load nothing from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from openapi_spec_validator import validate

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_security_schemes_are_declared(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert {"ApiKeyAuth": []} in spec["security"] and {"BearerAuth": []} in spec["security"]
    assert spec["paths"]["/api/v1/auth/token"]["post"]["security"] == []  # signing in needs no credentials


def test_every_operation_has_a_summary_and_an_error_shape(spec):
    missing = [f"{method.upper()} {path}" for path, item in spec["paths"].items()
               for method, op in item.items() if method in HTTP_METHODS and not op.get("summary")]
    assert missing == []
    error = spec["components"]["schemas"]["Error"]["properties"]
    assert {"code", "message", "errors"} <= set(error)


def test_lists_paginate_with_a_maximum(spec):
    for path in ("/api/v1/users", "/api/v1/audit"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert "cursor" in params
        assert params["limit"]["schema"]["maximum"] == 100


def test_foundation_paths_are_documented(spec):
    expected = {"/api/v1/me", "/api/v1/users", "/api/v1/users/{user_id}", "/api/v1/api-keys",
                "/api/v1/api-keys/{key_id}", "/api/v1/audit", "/api/v1/auth/token", "/api/v1/auth/refresh",
                "/api/v1/auth/logout"}
    assert expected <= set(spec["paths"])


# --- docs pages ----------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url", "data-spec-url", "action") and value:
                self.urls.append(value)


def is_local(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_load_only_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.findall(r"https?://", page) == []
    parser = Links()
    parser.feed(page)
    assert parser.urls, "the page loads its assets"
    assert [u for u in parser.urls if not is_local(u)] == []
    for url in parser.urls:
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            body = asset.get_data(as_text=True)
        if url.endswith(".css"):
            assert re.findall(r"(?:url\(|@import)\s*['\"]?(?:https?:)?//", body) == [], url


def test_swagger_ui_does_not_call_the_public_validator(client):
    with client.get("/static/js/swagger-init.js") as response:
        init = response.get_data(as_text=True)
    assert "validatorUrl: null" in init


def test_docs_pages_keep_a_strict_script_policy(client):
    csp = client.get("/api/docs").headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
