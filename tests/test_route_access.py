"""The access matrix, generated from the app's URL map: no route is left out.

Every route declares who may use it (`api_requires`, `page_requires` or `public`). For each route
and method the tests below ask as anonymous, as a key without the scope or role it needs, and as
one with them, and check the answer: 401 or a redirect to sign in, 403, and "not refused".

One more column: a user without access to the repository in question. tests/access_objects.py puts
one object of every kind a URL can name (the repository by id and by owner/name, builds, deliveries,
forward targets, runner pools and runners, releases, environments, deployments, sync projects, files
and runs, repository hooks) in a repository a viewer and a maintainer cannot see, though they see
another. Every route with such a URL variable, asked for those objects with keys holding every
scope of the role (and from signed-in browsers for pages), must answer 404 (JSON with a `code` on
the API) where the role allows the route and the role refusal where it does not: never 2xx, never a
403 that gives the object away, never 5xx. The same request from an admin must not be 404, which
shows the URL named an existing object. A URL variable neither mapped to a hidden object nor
excluded as naming nothing of a repository fails the run. Bodies that name the hidden objects
(`project_id`, `repository_id`, ...) must get the answer a missing object gets, and API lists
filtered by the hidden repository must list none of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, Response
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
        """The route with every URL variable naming nothing that exists."""
        return self.url_with({})

    @property
    def variables(self) -> set[str]:
        return set(self.rule.arguments)

    def url_with(self, values: dict[str, Any]) -> str:
        """The route with `values` for its URL variables, and ones naming nothing for the others."""
        path = self.rule.rule
        for name, converter in self.rule._converters.items():
            kind = type(converter).__name__
            value = values.get(name, 999999 if kind in ("IntegerConverter", "NumberConverter") else "nope")
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


def _send(client: Any, route: Route, headers: dict[str, str] | None = None, csrf: bool = True,
          url: str | None = None, body: dict[str, Any] | None = None) -> Any:
    headers = dict(headers or {})
    kwargs: dict[str, Any] = {"headers": headers}
    if route.method in ("POST", "PUT", "PATCH", "DELETE"):
        if route.is_api:
            kwargs["json"] = body or {}
        elif csrf:
            headers["X-CSRFToken"] = csrf_token(client)
    return client.open(url or route.url, method=route.method, **kwargs)


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


# --- the column "a user without access to the repository in question" ----------------------

# URL variables that name nothing belonging to a repository; routes with only these are left out
# of the column. Every other variable must name an object of tests/access_objects.py.
NOT_REPOSITORY_SCOPED = {
    "key_id": "an API key, always the caller's own",
    "user_id": "a user account (admin-only routes)",
    "section": "a catalogue section (admin pages)",
    "item": "a catalogue entry (admin pages)",
    "slug": "a catalogue platform, OS version or image type: shared by every repository",
    "code": "a catalogue state code: shared by every repository",
}

# "METHOD rule" -> why even an admin gets 404 there, so that answer cannot show the hidden
# object was found. Empty: every route finds it for an admin.
ADMIN_NOT_FOUND_ALLOWED: dict[str, str] = {
    "POST /repos/<owner>/<name>/sandbox/run-workflow": "sandbox mode only: outside it the action does not exist",
    "POST /repos/<owner>/<name>/sandbox/push": "sandbox mode only: outside it the action does not exist",
}

# "METHOD rule" -> why a repository its request body names is not decided by Gantry's access rows.
BODY_REFERENCES_DECIDED_ELSEWHERE = {
    "POST /api/v1/github/hooks": "a repository the App is not installed on: GitHub decides, with the user's token",
}


def test_every_url_variable_names_a_hidden_object_or_is_excluded(app: Flask) -> None:
    from tests.access_objects import HIDDEN_URL_VALUES

    used = {name for rule, _, _ in routes(app) for name in rule.arguments}
    unknown = sorted(f"<{name}> in {rule.rule}" for rule, _, _ in routes(app) for name in rule.arguments
                     if name not in HIDDEN_URL_VALUES and name not in NOT_REPOSITORY_SCOPED)
    assert unknown == [], "name a hidden object for it in tests/access_objects.py or exclude it above"
    assert HIDDEN_URL_VALUES.keys() & NOT_REPOSITORY_SCOPED.keys() == set()
    assert (HIDDEN_URL_VALUES.keys() | NOT_REPOSITORY_SCOPED.keys()) - used == set(), "stale entries"


@dataclass(frozen=True)
class Caller:
    role: str
    key: dict[str, str]  # an API key with every scope of the role
    api: Any  # a client for the API
    browser: Any  # a signed-in client for pages
    csrf: dict[str, str]  # the browser's CSRF header, read once (reading it may open /status)

    def send(self, route: Route, url: str, body: dict[str, Any] | None = None) -> Any:
        """The response; an exception the app let through becomes a 500 naming it."""
        try:
            if route.is_api:
                return _send(self.api, route, self.key, url=url, body=body)
            return _send(self.browser, route, self.csrf, csrf=False, url=url)
        except Exception as exc:  # reported with the route, like any other wrong answer
            return Response(f"raised {type(exc).__name__}: {exc}", status=500)

    def role_refuses(self, route: Route) -> bool:
        return ROLE_RANK[self.role] < ROLE_RANK[route.access["role"]]


@pytest.fixture
def no_access(app: Flask, db: Any, fake_github: Any, make_user: Any, make_key: Any, browser_for: Any,
              monkeypatch: pytest.MonkeyPatch) -> dict[str, Caller]:
    """The hidden repository's objects, and a viewer, a maintainer and an admin to ask for them.

    The viewer and the maintainer may see another repository (acme/infrajet), not the hidden one.
    """
    from tests.access_objects import VISIBLE_FULL_NAME, VISIBLE_REPO_ID, create_world
    from webapp.auth.models import ROLE_SCOPES
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.repos.models import RepositoryAccess

    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", ["127.0.0.1/32"])  # the receiver of BODY_EXAMPLES
    user_ids, callers = {}, {}
    for role in ("viewer", "maintainer", "admin"):
        # before the runner pool exists: /status, where a signed-in browser reads its CSRF token, asks ECS about it
        user = make_user(role)
        browser = browser_for(user).client
        callers[role] = Caller(role, make_key(user, *sorted(ROLE_SCOPES[role])), app.test_client(), browser,
                               {"X-CSRFToken": csrf_token(browser)})
        user_ids[role] = user.id
    load_default_catalogue()
    create_world(fake_github)
    for role in ("viewer", "maintainer"):
        db.session.add(RepositoryAccess(user_id=user_ids[role], repository_id=VISIBLE_REPO_ID, permission="admin"))
        db.session.commit()
        caller = callers[role]
        assert caller.api.get(f"/api/v1/repos/{VISIBLE_FULL_NAME}", headers=caller.key).status_code == 200
    return callers


@pytest.fixture(scope="module")
def openapi(app: Flask) -> dict[str, Any]:
    spec = app.test_client().get("/api/openapi.json").json
    assert isinstance(spec, dict)
    return spec


def _said(response: Any) -> str:
    return f"{response.status_code} {' '.join(response.get_data(as_text=True).split())[:120]}"


def _refused_for_its_role(route: Route, response: Any) -> bool:
    return response.status_code == 403 and (not route.is_api or response.json.get("code") == "role_required")


def _not_found(route: Route, response: Any) -> bool:
    return response.status_code == 404 and (not route.is_api or (response.is_json and bool(response.json.get("code"))))


def test_objects_of_a_repository_the_user_cannot_see_are_not_found(app: Flask, no_access: dict[str, Caller],
                                                                    openapi: dict[str, Any]) -> None:
    from tests.access_objects import HIDDEN_URL_VALUES, rebuild, request_body

    scoped = [route for route in declared_routes(app)  # public routes are open to anyone by declaration
              if route.access["kind"] != "public" and route.variables & HIDDEN_URL_VALUES.keys()]
    wrong = []
    for route in scoped:
        url = route.url_with(HIDDEN_URL_VALUES)
        # a body that passes validation, so the request gets as far as looking the objects up
        body = request_body(openapi, route.method, route.rule.rule) if route.is_api else None
        for caller in (no_access["viewer"], no_access["maintainer"]):
            response = caller.send(route, url, body)
            ok = _refused_for_its_role(route, response) if caller.role_refuses(route) else _not_found(route, response)
            if not ok:
                wrong.append(f"{route} as {caller.role}: {_said(response)}")
        # The admin sees every repository: anything but 404 shows the URL named an existing object.
        response = no_access["admin"].send(route, url, body)
        allowed = str(route) in ADMIN_NOT_FOUND_ALLOWED
        if (response.status_code == 404) != allowed or response.status_code >= 500:
            wrong.append(f"{route} as admin: {_said(response)}" + (" (in ADMIN_NOT_FOUND_ALLOWED)" if allowed else ""))
        if route.method != "GET":
            rebuild()  # the admin may have changed or deleted the objects
    assert scoped
    assert not wrong, "\n".join(wrong)


def _answer(response: Any) -> tuple[Any, ...]:
    """Status, error code and the fields complained about: what a refusal tells the caller."""
    body = response.json if response.is_json else None
    if not isinstance(body, dict):
        return (response.status_code,)
    return response.status_code, body.get("code"), sorted(body.get("errors") or {})


def test_request_bodies_naming_a_hidden_object_get_the_answer_a_missing_one_gets(
        app: Flask, no_access: dict[str, Caller], openapi: dict[str, Any]) -> None:
    """API operations whose body, not their URL, names a repository or its objects (project_id, run_id, ...)."""
    from tests.access_objects import HIDDEN_URL_VALUES, missing, naming_fields, rebuild, request_body

    checked, wrong = [], []
    for route in declared_routes(app):
        fields = naming_fields(openapi, route.method, route.rule.rule) if route.is_api else set()
        if not fields or route.variables & HIDDEN_URL_VALUES.keys() or str(route) in BODY_REFERENCES_DECIDED_ELSEWHERE:
            continue  # nothing named in the body, or covered by the URL test above
        checked.append(route)
        hidden = request_body(openapi, route.method, route.rule.rule, naming=True)
        absent = {**hidden, **{name: missing(hidden[name]) for name in fields}}
        for caller in (no_access["viewer"], no_access["maintainer"]):
            response = caller.send(route, route.url, hidden)
            if caller.role_refuses(route):
                ok = _refused_for_its_role(route, response)
            else:
                ok = response.status_code >= 400 and _answer(response) == _answer(caller.send(route, route.url, absent))
            if not ok:
                wrong.append(f"{route} {hidden} as {caller.role}: {_said(response)}")
        # The admin's answer differs from the one for missing objects: the body named existing ones.
        admin = no_access["admin"]
        response = admin.send(route, route.url, hidden)
        rebuild()
        if response.status_code >= 500 or _answer(response) == _answer(admin.send(route, route.url, absent)):
            wrong.append(f"{route} {hidden} as admin: {_said(response)}")
        rebuild()
    assert checked
    assert not wrong, "\n".join(wrong)


def _items(response: Any) -> list[Any]:
    body = response.json
    return list(body if isinstance(body, list) else body["items"])


def test_lists_filtered_by_a_repository_the_user_cannot_see_show_none_of_it(no_access: dict[str, Caller],
                                                                          openapi: dict[str, Any]) -> None:
    """Every API list documented with a repository filter, asked for the hidden repository."""
    from tests.access_objects import HIDDEN_FULL_NAME, HIDDEN_REPO_ID

    filters = {"repository": HIDDEN_FULL_NAME, "repository_id": HIDDEN_REPO_ID}
    urls = [f"{path}?{parameter['name']}={filters[parameter['name']]}"
            for path, item in openapi["paths"].items() if "get" in item
            for parameter in item["get"].get("parameters", [])
            if parameter["in"] == "query" and parameter["name"] in filters]
    wrong = []
    for url in urls:
        for caller in (no_access["viewer"], no_access["maintainer"]):
            response = caller.api.get(url, headers=caller.key)
            if not (response.status_code == 404 or (response.status_code == 200 and _items(response) == [])):
                wrong.append(f"{url} as {caller.role}: {_said(response)}")
        admin = no_access["admin"]
        response = admin.api.get(url, headers=admin.key)
        if response.status_code != 200 or not _items(response):  # the filter does find the hidden objects
            wrong.append(f"{url} as admin lists nothing: {_said(response)}")
    assert len(urls) >= 5
    assert not wrong, "\n".join(wrong)


def test_pages_filtered_by_a_repository_the_user_cannot_see_show_none_of_it(no_access: dict[str, Caller]) -> None:
    """The page lists with a repository filter (builds, webhook deliveries), asked for the hidden repository."""
    from tests.access_objects import BUILD_UUID, HIDDEN_FULL_NAME, WEBHOOK_DELIVERY_ID

    pages = {f"/builds?repository={HIDDEN_FULL_NAME}": f"/builds/{BUILD_UUID}",
             f"/webhook-deliveries?repository={HIDDEN_FULL_NAME}": f"/webhook-deliveries/{WEBHOOK_DELIVERY_ID}"}
    wrong = []
    for url, link in pages.items():
        for caller in (no_access["viewer"], no_access["maintainer"], no_access["admin"]):
            response = caller.browser.get(url)
            page = response.get_data(as_text=True)
            shown = link in page  # the hidden object's own page is linked from the list
            if response.status_code != 200 or shown != (caller.role == "admin"):
                wrong.append(f"{url} as {caller.role}: {response.status_code}, lists the hidden object: {shown}")
    assert not wrong, "\n".join(wrong)
