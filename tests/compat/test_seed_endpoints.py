"""Every endpoint each seed document shows, read from the document: answered at its front door, and
named here with the test that performs it.

The ledger below is the list a team moving to Gantry can check: for each documented `METHOD /path`,
the test that sends it to Gantry's front door and checks the documented answer. A document endpoint
missing from the ledger, a ledger entry the document does not show, an endpoint no front-door route
answers, or a test that no longer exists fails here.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException

from tests.compat.seed_document import curl_requests, document

BLAZECI = "tests.compat.test_blazeci"
BLAZECI_OAUTH = "tests.compat.test_blazeci_oauth"
RELEASE_MANAGER = "tests.compat.test_release_manager"
INFRAJET = "tests.compat.test_infrajet"
BUILD_STATE = "tests.compat.test_build_state"
WEBHOOK_MANAGER = "tests.compat.test_webhook_manager"
FRONT_DOORS = "tests.compat.test_front_doors"
DOCS = f"{FRONT_DOORS}::test_documentation_paths_lead_to_the_front_doors_tag"

BLAZECI_WALK = f"{BLAZECI}::test_every_documented_request_answers"
BLAZECI_RUNNERS = f"{BLAZECI}::test_github_delivers_to_blazecis_webhook_path_and_its_runner_can_be_removed"
BLAZECI_SIGN_IN = f"{BLAZECI_OAUTH}::test_documented_requests_give_a_jwt"
RELEASE_MANAGER_WALK = f"{RELEASE_MANAGER}::test_every_documented_endpoint_answers"
INFRAJET_WALK = f"{INFRAJET}::test_every_documented_request_in_order"
BUILD_STATE_WALK = f"{BUILD_STATE}::test_every_documented_request_answers_as_documented"
WEBHOOK_MANAGER_WALK = f"{WEBHOOK_MANAGER}::test_every_documented_request_in_order"

# seed document -> (front door's base path, {documented endpoint: the test that performs it})
LEDGER: dict[str, tuple[str, dict[str, str]]] = {
    "000_blazeci.md": ("/compat/blazeci", {
        "POST /auth/github": f"{BLAZECI_OAUTH}::test_post_auth_github_is_the_same_exchange",
        "GET /repos": BLAZECI_WALK,
        "POST /repos/{repo_id}/runners": BLAZECI_WALK,
        "DELETE /runners/{runner_id}": BLAZECI_RUNNERS,
        "GET /runners": BLAZECI_RUNNERS,
        "POST /webhooks/github": BLAZECI_RUNNERS,
        "GET /health": f"{BLAZECI}::test_health_answers",
        "GET /health/db": f"{BLAZECI}::test_health_answers",
        "GET /health/github": f"{BLAZECI}::test_health_answers",
        "GET /auth/github/authorize": BLAZECI_SIGN_IN,
        "POST /auth/github/callback": BLAZECI_SIGN_IN,
        "GET /docs": DOCS,
    }),
    "001_release_manager.md": ("/compat/release-manager", {
        "GET /api/v1/docs": DOCS,
        "GET /api/v1/redoc": DOCS,
        "GET /health": RELEASE_MANAGER_WALK,
        "GET /": RELEASE_MANAGER_WALK,
        "POST /api/v1/auth/login": RELEASE_MANAGER_WALK,
        "POST /api/v1/auth/refresh": RELEASE_MANAGER_WALK,
        "POST /api/v1/auth/logout": RELEASE_MANAGER_WALK,
        "GET /api/v1/users": RELEASE_MANAGER_WALK,
        "POST /api/v1/users": RELEASE_MANAGER_WALK,
        "GET /api/v1/users/{user_id}": RELEASE_MANAGER_WALK,
        "PUT /api/v1/users/{user_id}": RELEASE_MANAGER_WALK,
        "DELETE /api/v1/users/{user_id}": RELEASE_MANAGER_WALK,
    }),
    "002_infrajet.md": ("/compat/infrajet", {
        "GET /api/v1/github/auth/login": INFRAJET_WALK,
        "POST /api/v1/github/auth/callback": INFRAJET_WALK,
        "GET /api/v1/github/connection/status": INFRAJET_WALK,
        "POST /api/v1/github/disconnect": INFRAJET_WALK,
        "GET /api/v1/github/repositories": INFRAJET_WALK,
        "GET /api/v1/github/repositories/{owner}/{repo}": INFRAJET_WALK,
        "POST /api/v1/github/sync/project": INFRAJET_WALK,
        "POST /api/v1/github/sync/manual-trigger": INFRAJET_WALK,
        "GET /api/v1/github/sync/history/{project_id}": INFRAJET_WALK,
        "GET /api/v1/github/sync/status/{project_id}": INFRAJET_WALK,
        "POST /api/v1/github/sync/check-conflicts": INFRAJET_WALK,
        "POST /api/v1/github/sync/retry": INFRAJET_WALK,
        "GET /api/v1/github/sync/metrics": INFRAJET_WALK,
        "GET /api/v1/github/installations": INFRAJET_WALK,
        "POST /api/v1/github/installation/token": INFRAJET_WALK,
        "POST /api/v1/github/repositories": INFRAJET_WALK,
        "POST /api/v1/github/repositories/push": INFRAJET_WALK,
        "POST /api/v1/github/repositories/sync": INFRAJET_WALK,
        "POST /api/v1/github/repositories/validate-access": INFRAJET_WALK,
        "GET /api/v1/github/install": INFRAJET_WALK,
        "POST /api/v1/github/webhook": INFRAJET_WALK,
        "GET /api/v1/github/health": INFRAJET_WALK,
    }),
    "003_build_state_api.md": ("/compat/build-state", {
        "GET /health": BUILD_STATE_WALK,
        "GET /dashboard/summary": BUILD_STATE_WALK,
        "GET /dashboard/recent": BUILD_STATE_WALK,
        "POST /token": BUILD_STATE_WALK,
        "POST /builds": BUILD_STATE_WALK,
        "POST /builds/{build-uuid}/state": BUILD_STATE_WALK,
        "POST /builds/{build-uuid}/failure": BUILD_STATE_WALK,
        "GET /builds/{build-uuid}": BUILD_STATE_WALK,
        "GET /builds/{build-uuid}/state": BUILD_STATE_WALK,
        "GET /dashboard/platform/aws-commercial": BUILD_STATE_WALK,
        "GET /ready": BUILD_STATE_WALK,
        "GET /status": BUILD_STATE_WALK,
        "GET /": BUILD_STATE_WALK,
        "GET /docs": DOCS,
    }),
    "004_webhook_manager.md": ("/compat/webhook-manager", {
        "GET /auth/login": WEBHOOK_MANAGER_WALK,
        "GET /auth/callback": WEBHOOK_MANAGER_WALK,
        "GET /user/profile": WEBHOOK_MANAGER_WALK,
        "GET /user/repos": WEBHOOK_MANAGER_WALK,
        "GET /api/repos/{owner}/{repo}/commits": WEBHOOK_MANAGER_WALK,
        "POST /api/repos/{owner}/{repo}/setup-webhook": WEBHOOK_MANAGER_WALK,
        "POST /api/webhook": WEBHOOK_MANAGER_WALK,
        "GET /docs": DOCS,
        "GET /redoc": DOCS,
    }),
}

# The forms in which the documents name an endpoint: a list item, a bare line, a bold heading, a
# table row, and where their interactive documentation is.
ENDPOINT_FORMS = (
    re.compile(r"^- `(GET|POST|PUT|DELETE) (/\S*)`", re.M),
    re.compile(r"^(GET|POST|PUT|DELETE) (/\S*)$", re.M),
    re.compile(r"^\*\*`(GET|POST|PUT|DELETE) (/\S*)`\*\*$", re.M),
    re.compile(r"^\| `(/\S*)` \| (GET|POST|PUT|DELETE) \|", re.M),
)
DOCUMENTATION_AT = re.compile(r"(?:documentation at|Swagger UI:|ReDoc:|visit) `(?:http://[\w.:]+)?(/\S*)`")
DOCUMENT_BASES = ("http://localhost:8000", "http://localhost:8080", "http://status.localbuild.api",
                  "http://build-api.example.com")


def _template_matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def documented_endpoints(name: str) -> set[str]:
    """`METHOD /path` for every endpoint the document lists, shows with curl, or names as its docs."""
    text = document(name)
    found: set[str] = set()
    for form in ENDPOINT_FORMS:
        for first, second in form.findall(text):
            method, path = (second, first) if first.startswith("/") else (first, second)
            found.add(f"{method} {path}")
    found.update(f"GET {path}" for path in DOCUMENTATION_AT.findall(text))
    for request in curl_requests(text):
        path = request.path(DOCUMENT_BASES)
        listed = any(e.split(" ", 1)[0] == request.method and _template_matches(e.split(" ", 1)[1], path)
                     for e in found)
        if not listed:  # a request shown only as an example (e.g. /auth/github/authorize)
            found.add(f"{request.method} {path}")
    return found


@pytest.mark.parametrize("name", sorted(LEDGER))
def test_the_ledger_names_every_endpoint_the_document_shows(name: str) -> None:
    assert documented_endpoints(name) == set(LEDGER[name][1])


LEDGER_ROWS = [(name, endpoint, test) for name, (_, rows) in LEDGER.items() for endpoint, test in rows.items()]


@pytest.mark.parametrize(("name", "endpoint", "test"), LEDGER_ROWS, ids=[f"{n[:3]} {e}" for n, e, _ in LEDGER_ROWS])
def test_each_documented_endpoint_is_a_front_door_route_with_a_test(app: Any, name: str, endpoint: str,
                                                                    test: str) -> None:
    method, path = endpoint.split(" ", 1)
    base = LEDGER[name][0]
    url = base + re.sub(r"\{[^/]+?\}", "1", path)
    try:
        rule, _ = app.url_map.bind("gantry.test").match(url, method=method, return_rule=True)
    except HTTPException as exc:
        raise AssertionError(f"{endpoint} of {name} is not answered at {url}: {exc}") from exc
    assert rule.endpoint.startswith(f"compat-{base.removeprefix('/compat/')}."), (endpoint, rule.endpoint)
    module, function = test.split("::")
    assert callable(getattr(importlib.import_module(module), function, None)), f"{test} does not exist"
