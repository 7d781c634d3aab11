"""The fake GitHub's HTTP server: request log, failure injection, auth checks, ETags, rate-limit headers.

Route modules: every module in this package other than `server`, `state` and `helpers` that
defines `register(app, state_ref)` gets it called once when the server starts; `app` is the fake's
Flask app, `state_ref()` returns the current FakeState (it is replaced on every reset, so read it per
request). A module may also define `reset(state)` to put its own defaults into a fresh state
(keep them in `state.extra["<area>"]`). Auth helpers for routes: `require_app()`,
`require_installation()`, `require_user()`, `require_repo_access(owner, repo)`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from flask import Flask, Response, abort, current_app, g, jsonify, make_response, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from sandbox.github.state import DEFAULT_CLIENT_ID, FakeState

# The route modules are found in this folder (not through the package, which imports this module).
PACKAGE_DIR = Path(__file__).resolve().parent
SKIP_MODULES = {"server", "state", "helpers"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    auth: str | None = None  # "app", "installation:<id>", "user:<login>" or None


@dataclass
class FailRule:
    method: str
    path_regex: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1


DEFAULT_FAIL_BODIES = {
    401: {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
    403: {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
          "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"},
    404: {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
    422: {"message": "Validation Failed", "errors": []},
    429: {"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest"},
}


class FakeServer:
    """Owns the Flask app, the thread serving it, the state, the request log and failure rules."""

    def __init__(self, make_state: Callable[[], FakeState]) -> None:
        self.make_state = make_state
        self.state = make_state()
        self.requests: list[RecordedRequest] = []
        self.rules: list[FailRule] = []
        self.lock = threading.Lock()
        self.resetters: list[Callable[[FakeState], None]] = []
        self.app = self._build_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        with self.lock:
            self.state = self.make_state()
            for reset in self.resetters:
                reset(self.state)
            self.requests.clear()
            self.rules.clear()

    def _build_app(self) -> Flask:
        """The fake's Flask app: failure injection and recording before each request, rate limits and
        ETags after it, then every module's routes.

        Long on purpose: the before/after hooks are nested handlers that share `server`, kept with the app they wrap.
        """
        app = Flask("fake_github")
        app.config["FAKE"] = self
        server = self

        @app.before_request
        def record_and_fail() -> Any:
            body = request.get_json(silent=True) if request.data else None
            if body is None and request.form:
                body = request.form.to_dict()
            recorded = RecordedRequest(request.method, request.path, request.args.to_dict(), body,
                                       dict(request.headers))
            g.recorded = recorded
            with server.lock:
                server.requests.append(recorded)
                for rule in server.rules:
                    if rule.times > 0 and rule.method in (request.method, "*") and re.search(rule.path_regex,
                                                                                           request.path):
                        rule.times -= 1
                        payload = rule.body if rule.body is not None else DEFAULT_FAIL_BODIES.get(
                            rule.status, {"message": "Server Error"})
                        response = make_response(jsonify(payload), rule.status)
                        response.headers.update(rule.headers)
                        return response
            return None

        @app.after_request
        def rate_limit_and_etag(response: Response) -> Response:
            identity = getattr(g, "recorded", None) and g.recorded.auth
            grant = g.get("user_grant")
            if grant is not None:  # GitHub tells an OAuth token which scopes it has (none for an App's)
                response.headers.setdefault("X-OAuth-Scopes", ", ".join(grant.get("scopes") or []))
            if identity:
                remaining = server.state.rate_remaining.get(identity, 5000)
                if response.status_code != 304:
                    remaining = max(remaining - 1, 0)
                    server.state.rate_remaining[identity] = remaining
                response.headers.setdefault("x-ratelimit-limit", "5000")
                response.headers.setdefault("x-ratelimit-remaining", str(remaining))
                response.headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))
            if request.method == "GET" and response.status_code == 200 and response.is_json:
                etag = '"' + hashlib.sha256(response.get_data()).hexdigest()[:32] + '"'
                response.headers["ETag"] = etag
                if request.headers.get("If-None-Match") == etag:
                    not_modified = make_response("", 304)
                    not_modified.headers.update({k: v for k, v in response.headers.items()
                                                 if k.lower().startswith("x-ratelimit") or k == "ETag"})
                    server.state.rate_remaining[identity or "anonymous"] = server.state.rate_remaining.get(
                        identity or "anonymous", 5000) + 1  # conditional hits cost nothing
                    return not_modified
            return response

        for info in sorted(pkgutil.iter_modules([str(PACKAGE_DIR)]), key=lambda m: m.name):
            if info.name in SKIP_MODULES or info.name.startswith("_"):
                continue
            module = importlib.import_module(f"sandbox.github.{info.name}")
            if hasattr(module, "register"):
                module.register(app, lambda: server.state)
            if hasattr(module, "reset"):
                self.resetters.append(module.reset)
        for reset in self.resetters:
            reset(self.state)
        return app


# --- helpers for route modules ---------------------------------------------------------------


def fake() -> FakeServer:
    return current_app.config["FAKE"]


def state() -> FakeState:
    return fake().state


def _mark(identity: str) -> None:
    if "recorded" in g:
        g.recorded.auth = identity


def _credential() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not value:
        return None
    return scheme.lower(), value.strip()


def unauthorized() -> NoReturn:
    abort(make_response(jsonify(DEFAULT_FAIL_BODIES[401]), 401))


def not_found() -> NoReturn:
    abort(make_response(jsonify(DEFAULT_FAIL_BODIES[404]), 404))


def fail(status: int, message: str, **extra: Any) -> NoReturn:
    abort(make_response(jsonify({"message": message, **extra}), status))


def require_app() -> int:
    """The id of the App whose JWT signed this request (401 otherwise)."""
    cred = _credential()
    if cred is None or cred[0] != "bearer":
        unauthorized()
    token = cred[1]
    for app_id, app in state().apps.items():
        try:
            decoded = jwt.decode(token, RSAKey.import_key(app["public_pem"]))
        except (JoseError, ValueError):
            continue
        claims = decoded.claims
        if str(claims.get("iss")) != str(app_id) or int(claims.get("exp", 0)) < time.time():
            continue
        _mark("app")
        return app_id
    return unauthorized()


def sandbox_door(owner: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """For the sandbox's own doors (`/_sandbox/...`, only the App's JWT): the repository (404 if unknown)
    and the request's JSON body."""
    require_app()
    found = state().repo_by_name(owner, name)
    if found is None:
        not_found()
    return found, request.get_json(silent=True) or {}


def installation_token_info() -> dict[str, Any] | None:
    cred = _credential()
    if cred is None or cred[0] not in ("token", "bearer"):
        return None
    info = state().installation_tokens.get(cred[1])
    if info is None or info["expires_at"] < time.time():
        return None
    _mark(f"installation:{info['installation_id']}")
    return info


def require_installation() -> dict[str, Any]:
    """The token record (`installation_id`, `repository_ids`, `permissions`) of this request (401 otherwise)."""
    info = installation_token_info()
    if info is None:
        unauthorized()
    return info


def user_login() -> str | None:
    cred = _credential()
    if cred is None or cred[0] not in ("token", "bearer"):
        return None
    login = state().user_tokens.get(cred[1])
    if login is not None:
        _mark(f"user:{login}")
        g.user_grant = user_grant_of(cred[1])
    return login


def user_grant_of(token: str) -> dict[str, Any]:
    """Who issued a user token: {"kind": "app", "app_id"} or {"kind": "oauth_app", "scopes"}."""
    current = state()
    return current.user_grants.get(token) or current.grant_for_client(DEFAULT_CLIENT_ID, None)


def user_grant() -> dict[str, Any] | None:
    """The grant of this request's user token (after `user_login()`), None for other credentials."""
    return g.get("user_grant")


def require_user() -> str:
    login = user_login()
    if login is None:
        unauthorized()
    return login


RANKS = ["read", "triage", "write", "maintain", "admin"]

# What an operation needs, as GitHub checks it. "app": the App permissions that allow it (any one);
# "scopes": the classic OAuth scopes that allow it (any one; None: any token, public repositories
# only unless the token has `repo`). GitHub's `repo` scope includes repository webhooks.
CAPABILITIES: dict[str, dict[str, Any]] = {
    "metadata": {"app": [("metadata", "read")], "scopes": None},
    "contents:read": {"app": [("contents", "read")], "scopes": None},
    "contents:write": {"app": [("contents", "write")], "scopes": ["repo"]},
    "hooks:read": {"app": [("repository_hooks", "read"), ("administration", "read")],
                   "scopes": ["read:repo_hook", "write:repo_hook", "admin:repo_hook", "repo"]},
    "hooks:write": {"app": [("repository_hooks", "write"), ("administration", "write")],
                    "scopes": ["write:repo_hook", "admin:repo_hook", "repo"]},
}
NOT_ACCESSIBLE = "Resource not accessible by integration"


def _app_allows(permissions: dict[str, str] | None, need: str) -> bool:
    if need == "metadata":
        return True  # every installation (and every token of it) reads metadata
    for name, level in CAPABILITIES[need]["app"]:
        granted = (permissions or {}).get(name)
        if granted == "write" or (granted == "read" and level == "read"):
            return True
    return False


def _refuse_scope(need: str) -> NoReturn:
    accepted = ", ".join(CAPABILITIES[need]["scopes"] or [])
    abort(make_response(jsonify(DEFAULT_FAIL_BODIES[404]), 404, {"X-Accepted-OAuth-Scopes": accepted}))


def require_repo_access(owner: str, repo: str, *, user_permission: str = "read",
                        need: str = "metadata") -> dict[str, Any]:
    """The repository, if this request's token may do `need` there, as GitHub decides it.

    - installation token: the repository is in its installation (and its repository list), and
      the token's permissions allow `need` (403 "Resource not accessible by integration");
    - a GitHub App's user token: the App is installed on the repository AND the user can access it
      (404 otherwise), the user's own role suffices, and the App's permissions allow `need` (403);
    - a classic OAuth App token: any repository the user can access (private ones only with the
      `repo` scope, 404 otherwise), the user's role suffices, and its scopes allow `need` (404 with
      `X-Accepted-OAuth-Scopes`, as GitHub hides what a token may not see).
    A user whose role is too low gets 404 for hooks (GitHub hides them) and 403 otherwise.
    """
    current = state()
    found = current.repo_by_name(owner, repo)
    info = installation_token_info()
    if info is not None:
        if found is None or current.installation_of_repo(found["id"]) != info["installation_id"]:
            not_found()
        if info["repository_ids"] and found["id"] not in info["repository_ids"]:
            not_found()
        permissions = info["permissions"] or current.installations[info["installation_id"]]["permissions"]
        if not _app_allows(permissions, need):
            fail(403, NOT_ACCESSIBLE, documentation_url="https://docs.github.com/rest")
        return found
    login = user_login()
    if login is None:
        unauthorized()
    grant = user_grant() or {}
    permission = current.permissions.get(login, {}).get(found["id"]) if found else None
    if found is None or permission is None:
        not_found()
    assert found is not None and permission is not None
    if grant.get("kind") == "oauth_app":
        scopes = set(grant.get("scopes") or [])
        if found["private"] and "repo" not in scopes:
            not_found()
        allowed = CAPABILITIES[need]["scopes"]
        if allowed is not None and not scopes & set(allowed):
            _refuse_scope(need)
    else:
        installation_id = current.installation_of_repo(found["id"])
        installation = current.installations.get(installation_id) if installation_id else None
        if installation is None or installation["app_id"] != grant.get("app_id"):
            not_found()  # a GitHub App's user token reaches only where the App is installed
        assert installation is not None
        if not _app_allows(installation["permissions"], need):
            fail(403, NOT_ACCESSIBLE, documentation_url="https://docs.github.com/rest")
    if RANKS.index(permission) < RANKS.index(user_permission):
        if need.startswith("hooks:"):
            not_found()
        fail(403, "Must have admin rights to Repository.", documentation_url="https://docs.github.com/rest")
    return found


def page(items: list[Any]) -> list[Any]:
    """Apply GitHub's `per_page` / `page` query arguments."""
    per_page = min(int(request.args.get("per_page", 30)), 100)
    number = max(int(request.args.get("page", 1)), 1)
    return items[(number - 1) * per_page: number * per_page]


def json_response(body: Any, status: int = 200) -> Response:
    response = make_response(json.dumps(body), status)
    response.mimetype = "application/json"
    return response
