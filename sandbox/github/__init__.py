"""The GitHub simulator: GitHub's REST semantics served over real HTTP on 127.0.0.1.

The test suite and sandbox mode (`make run`) use this one implementation. Tests reach it through the
`fake_github` fixture (sandbox/github.py; state reset and request log cleared before each test):

    def test_something(app, fake_github):
        fake_github.url                                   # GITHUB_URL and GITHUB_API_URL of the test app
        fake_github.state.repositories[1001]              # mutable world (sandbox/github/state.py)
        fake_github.fail("POST", r"/access_tokens$", 503, times=2)
        fake_github.fail("GET", r"^/repos/", 403, headers={"Retry-After": "120"})   # secondary rate limit
        fake_github.fail("GET", r"^/installation/", 401)                          # expired token
        ...
        assert fake_github.calls("POST", r"/app/installations/101/access_tokens")   # recorded requests
        fake_github.requests[-1].json / .headers / .query / .auth ("app", "installation:101", "user:octocat")

The session's test app is configured as GitHub App 1 (`gantry-test`, a fresh RSA key per session:
FAKE_APP_PRIVATE_KEY), OAuth client DEFAULT_CLIENT_ID / DEFAULT_CLIENT_SECRET and App webhook secret
DEFAULT_WEBHOOK_SECRET, so installation tokens work end to end. The default world is described in
`state.default_state`: installations 101 (org acme: infrajet 1001, widgets 1002) and 102 (user
octo-user: dotfiles 1003), acme/webhook-manager 1004 without the App, users octocat and mallory,
and a classic OAuth App (DEFAULT_OAUTH_APP_CLIENT_ID).

GitHub's token rules hold (see `server.require_repo_access`): an App's user token (`user_token`)
reaches only repositories the App is installed on, within the App's permissions; a classic OAuth
App's token (`classic_token`) reaches every repository its user can, within its scopes, and
answers carry `X-OAuth-Scopes`; hooks need admin on the repository plus `admin:repo_hook` (or
`write:repo_hook` / `repo`) or the App's `repository_hooks` / `administration` write permission.

Adding routes for another area: create `sandbox/github/<area>.py` with
`register(app, state_ref)` (and optionally `reset(state)`); see sandbox/github/server.py for the
auth helpers (`require_installation()`, `require_repo_access(owner, repo)`, ...). The server
imports every module of this package when it starts.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.github.core import new_app_key
from sandbox.github.server import FailRule, FakeServer, RecordedRequest
from sandbox.github.state import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_OAUTH_APP_CLIENT_ID,
    DEFAULT_OAUTH_APP_CLIENT_SECRET,
    DEFAULT_WEBHOOK_SECRET,
    FakeState,
    default_state,
    rest_example,
)

__all__ = ["FakeGitHub", "FakeServer", "FakeState", "default_state", "fake_github_settings", "fake_app_private_key",
           "rest_example", "DEFAULT_APP_ID", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_WEBHOOK_SECRET",
           "DEFAULT_OAUTH_APP_CLIENT_ID", "DEFAULT_OAUTH_APP_CLIENT_SECRET", "CLASSIC_SCOPES"]

# What Gantry asks a classic OAuth App for by default (GITHUB_OAUTH_SCOPES).
CLASSIC_SCOPES = ["read:user", "user:email", "read:org", "repo", "admin:repo_hook"]

_SESSION: dict[str, Any] = {}


def default_app() -> dict[str, Any]:
    """GitHub App 1 (`gantry-test`) with this process's RSA key pair, made once."""
    if "app" not in _SESSION:
        private, public = new_app_key()
        app = rest_example("apps/get-authenticated")
        app.update({"id": DEFAULT_APP_ID, "slug": "gantry-test", "name": "Gantry Test", "client_id": DEFAULT_CLIENT_ID,
                    "html_url": "https://github.com/apps/gantry-test"})
        app.update({"client_secret": DEFAULT_CLIENT_SECRET, "webhook_secret": DEFAULT_WEBHOOK_SECRET,
                    "public_pem": public})
        _SESSION["app"] = app
        _SESSION["private_key"] = private
    return _SESSION["app"]


def fake_app_private_key() -> str:
    default_app()
    return _SESSION["private_key"]


class FakeGitHub:
    """What a test sees of the fake: URL, state, request log, failure injection."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> FakeState:
        return self.server.state

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def calls(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests with this method ("*" for any) whose path matches the regex."""
        pattern = re.compile(path_regex)
        return [r for r in list(self.server.requests) if method in (r.method, "*") and pattern.search(r.path)]

    def fail(self, method: str, path_regex: str, status: int, *, headers: dict[str, str] | None = None,
             body: Any = None, times: int = 1) -> None:
        """Answer the next `times` matching requests with `status` (and headers/body) instead."""
        with self.server.lock:
            self.server.rules.append(FailRule(method, path_regex, status, dict(headers or {}), body, times))

    def sign_in_as(self, login: str) -> None:
        """Who approves the next OAuth authorization."""
        self.state.signing_in = login

    def user_token(self, login: str) -> str:
        """A user token of `login` from the GitHub App's OAuth client, as if they had signed in.

        It reaches only repositories the App is installed on, within the App's permissions."""
        return self.state.issue_user_token(login)

    def classic_token(self, login: str, scopes: list[str] | None = None) -> str:
        """A classic OAuth App token of `login` with `scopes` (default: Gantry's default scopes)."""
        return self.state.issue_user_token(login, client_id=DEFAULT_OAUTH_APP_CLIENT_ID,
                                           scopes=CLASSIC_SCOPES if scopes is None else scopes)

    def reset(self) -> None:
        self.server.reset()


def classic_oauth_settings() -> dict[str, Any]:
    """Settings that make Gantry's sign-in a classic OAuth App (the GitHub App stays configured)."""
    return {"GITHUB_CLIENT_ID": DEFAULT_OAUTH_APP_CLIENT_ID, "GITHUB_CLIENT_SECRET": DEFAULT_OAUTH_APP_CLIENT_SECRET,
            "GITHUB_OAUTH_CLIENT_KIND": "oauth_app", "GITHUB_OAUTH_SCOPES": " ".join(CLASSIC_SCOPES)}


def fake_github_settings(server: FakeServer) -> dict[str, Any]:
    """Settings that point a Gantry app at the fake and configure GitHub App 1."""
    return {
        "GITHUB_URL": server.url,
        "GITHUB_API_URL": server.url,
        "GITHUB_APP_ID": str(DEFAULT_APP_ID),
        "GITHUB_APP_SLUG": "gantry-test",
        "GITHUB_APP_PRIVATE_KEY": fake_app_private_key(),
        "GITHUB_CLIENT_ID": DEFAULT_CLIENT_ID,
        "GITHUB_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "GITHUB_WEBHOOK_SECRET": DEFAULT_WEBHOOK_SECRET,
        "GITHUB_MAX_INLINE_WAIT": 1,
    }
