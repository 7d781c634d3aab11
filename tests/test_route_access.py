"""The access matrix, generated from the app's URL map: no route is left out.

Every route declares who may use it (`api_requires`, `page_requires` or `public`). For each route
and method the tests below ask as anonymous, as a key without the scope or role it needs, and as
one with them, and check the answer: 401 or a redirect to sign in, 403, and "not refused".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.conftest import csrf_token

# Routes whose access is decided elsewhere: static files, the API docs (public by design) and
# rq-dashboard (guarded by a before_request hook, tested in tests/ops).
EXEMPT_ENDPOINTS = re.compile(r"^(static|api-docs\.|rq_dashboard\.)")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROLE_RANK = {"viewer": 0, "maintainer": 1, "admin": 2}


@dataclass(frozen=True)
class Route:
    rule: Rule
    method: str
    access: dict[str, Any]

    @property
    def url(self) -> str:
        values = {}
        for name, converter in self.rule._converters.items():
            kind = type(converter).__name__
            values[name] = 999999 if kind in ("IntegerConverter", "NumberConverter") else "nope"
        path = self.rule.rule
        for name, value in values.items():
            path = re.sub(r"<(?:[^:<>]+:)?" + re.escape(name) + r">", str(value), path)
        return path

    @property
    def is_api(self) -> bool:
        return self.access["kind"] == "api"

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def _view_for(app: Flask, rule: Rule, method: str) -> Any:
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, method.lower(), None)
    return view


def routes(app: Flask) -> Iterator[tuple[Rule, str, Any]]:
    for rule in app.url_map.iter_rules():
        if EXEMPT_ENDPOINTS.match(rule.endpoint):
            continue
        for method in METHODS:
            if method in (rule.methods or set()):
                yield rule, method, _view_for(app, rule, method)


def declared_routes(app: Flask) -> list[Route]:
    return [Route(rule, method, view._gantry_access) for rule, method, view in routes(app)
            if getattr(view, "_gantry_access", None) is not None]


def test_every_route_declares_who_may_use_it(app: Flask) -> None:
    undeclared = [f"{method} {rule.rule} ({rule.endpoint})" for rule, method, view in routes(app)
                  if getattr(view, "_gantry_access", None) is None]
    assert undeclared == [], "routes without api_requires / page_requires / public"


def _send(client: Any, route: Route, headers: dict[str, str] | None = None, csrf: bool = True) -> Any:
    headers = dict(headers or {})
    kwargs: dict[str, Any] = {"headers": headers}
    if route.method in ("POST", "PUT", "PATCH", "DELETE"):
        if route.is_api:
            kwargs["json"] = {}
        elif csrf:
            headers["X-CSRFToken"] = csrf_token(client)
    return client.open(route.url, method=route.method, **kwargs)


def test_anonymous_is_refused_everywhere_but_public_routes(app: Flask, client: Any) -> None:
    wrong = []
    for route in declared_routes(app):
        if route.access["kind"] == "public":
            continue
        response = _send(client, route)
        if route.is_api:
            ok = response.status_code == 401 and response.is_json and response.json.get("code")
        else:
            ok = response.status_code in (302, 303) and "/login" in response.headers.get("Location", "")
        if not ok:
            wrong.append(f"{route}: {response.status_code}")
    assert wrong == []


@pytest.fixture
def principals(make_user: Any, make_key: Any) -> dict[str, tuple[str, frozenset[str], dict[str, str]]]:
    """name -> (role, scopes, headers) for keys covering each role and a scope-less key per role."""
    from webapp.auth.models import ROLE_SCOPES

    result = {}
    for role in ("viewer", "maintainer", "admin"):
        user = make_user(role)
        scopes = ROLE_SCOPES[role]
        result[f"{role}-all-scopes"] = (role, frozenset(scopes), make_key(user, *sorted(scopes)))
        result[f"{role}-read-only"] = (role, frozenset({"read"}), make_key(user, "read"))
    return result


def _expected_refusal(route: Route, role: str, scopes: frozenset[str]) -> bool:
    needed_role = route.access["role"]
    needed_scope = route.access["scope"]
    if ROLE_RANK[role] < ROLE_RANK[needed_role]:
        return True
    return bool(needed_scope) and needed_scope not in scopes and "admin" not in scopes


def test_api_keys_get_exactly_what_their_role_and_scopes_allow(app: Flask, client: Any, principals: Any) -> None:
    wrong = []
    for route in declared_routes(app):
        if not route.is_api:
            continue
        for name, (role, scopes, headers) in principals.items():
            response = _send(client, route, headers)
            refused = response.status_code == 403
            if _expected_refusal(route, role, scopes) != refused or response.status_code == 401:
                wrong.append(f"{route} as {name}: {response.status_code} {response.get_data(as_text=True)[:120]}")
            if response.status_code >= 500:
                wrong.append(f"{route} as {name}: server error {response.status_code}")
    assert wrong == []


def test_pages_need_the_role_they_declare(app: Flask, make_user: Any, browser_for: Any) -> None:
    wrong = []
    for role in ("viewer", "maintainer", "admin"):
        browser = browser_for(make_user(role))
        for route in declared_routes(app):
            if route.access["kind"] != "page":
                continue
            response = _send(browser.client, route)
            refused = response.status_code == 403
            expected = ROLE_RANK[role] < ROLE_RANK[route.access["role"]]
            if refused != expected or response.status_code >= 500:
                wrong.append(f"{route} as {role}: {response.status_code}")
    assert wrong == []


@pytest.fixture
def browser_for(app: Flask) -> Any:
    from tests.conftest import Browser

    def make(user: Any) -> Browser:
        browser = Browser(app.test_client())
        response = browser.login(user.username)
        assert response.status_code in (302, 303)
        return browser

    return make
