"""The fake GitHub's world: apps, installations, repositories, users, tokens, commits, hooks.

Objects are built from the real REST examples in sandbox/github/examples, with ids and names
changed, so what the fake returns has GitHub's shape. Tests change the state directly
(`fake_github.state.repositories[...]`) or through the helpers on FakeGitHub.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# GitHub's own example answers (sandbox/github/examples/SOURCE.md)
REST_DIR = Path(__file__).resolve().parent / "examples"

DEFAULT_APP_ID = 1
DEFAULT_CLIENT_ID = "Iv1.fakeclient0001"
DEFAULT_CLIENT_SECRET = "fake-client-secret-0001"
DEFAULT_WEBHOOK_SECRET = "fake-app-webhook-secret"
# A classic OAuth App (Settings -> Developer settings -> OAuth Apps): its tokens carry scopes.
DEFAULT_OAUTH_APP_CLIENT_ID = "Ov23lifakeoauthapp01"
DEFAULT_OAUTH_APP_CLIENT_SECRET = "fake-oauth-app-secret-0001"


def rest_example(name: str) -> Any:
    """The example body of one REST operation, e.g. rest_example("repos/get")."""
    return copy.deepcopy(json.loads((REST_DIR / f"{name}.json").read_text())["example"])


def _user(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    user = rest_example("users/get-authenticated")
    user.update({"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": kind,
                 "html_url": f"https://github.com/{login}", "url": f"https://api.github.com/users/{login}",
                 "name": login.replace("-", " ").title(), "email": f"{login}@example.test",
                 "avatar_url": f"https://avatars.example.test/u/{user_id}"})
    return user


def _account(login: str, account_id: int, kind: str) -> dict[str, Any]:
    account = {k: v for k, v in _user(login, account_id, kind).items()
               if k in ("login", "id", "node_id", "avatar_url", "url", "html_url", "type", "site_admin")}
    return account


@dataclass
class FakeState:
    """Everything the fake knows; reset before every test."""

    apps: dict[int, dict[str, Any]] = field(default_factory=dict)  # app id -> app (+ "public_pem", "client_secret")
    installations: dict[int, dict[str, Any]] = field(default_factory=dict)
    installation_repos: dict[int, list[int]] = field(default_factory=dict)  # installation id -> repo ids
    repositories: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> user
    user_orgs: dict[str, list[str]] = field(default_factory=dict)
    permissions: dict[str, dict[int, str]] = field(default_factory=dict)  # login -> repo id -> permission
    user_tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    # token -> who issued it: {"kind": "app", "app_id"} (a GitHub App's user token) or
    # {"kind": "oauth_app", "client_id", "scopes"} (a classic OAuth App token)
    user_grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> classic OAuth App
    installation_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    signing_in: str = "octocat"  # who approves the next OAuth authorization
    manifest_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    revoked_grants: list[str] = field(default_factory=list)
    commits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    hooks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # repo id -> hooks
    pings: list[tuple[int, int]] = field(default_factory=list)  # (repo id, hook id)
    rate_remaining: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # free room for route modules of other areas
    ids: Any = field(default_factory=lambda: itertools.count(50_000))

    # --- lookups -------------------------------------------------------------------------

    def repo_by_name(self, owner: str, name: str) -> dict[str, Any] | None:
        wanted = f"{owner}/{name}".lower()
        return next((r for r in self.repositories.values() if r["full_name"].lower() == wanted), None)

    def installation_of_repo(self, repo_id: int) -> int | None:
        return next((i for i, repos in self.installation_repos.items() if repo_id in repos), None)

    # --- building ------------------------------------------------------------------------

    def add_user(self, login: str, user_id: int, *, orgs: list[str] | None = None) -> dict[str, Any]:
        self.users[login] = _user(login, user_id)
        self.user_orgs[login] = list(orgs or [])
        self.permissions.setdefault(login, {})
        return self.users[login]

    def add_installation(self, installation_id: int, account_login: str, account_id: int,
                         account_type: str = "Organization", app_id: int = DEFAULT_APP_ID) -> dict[str, Any]:
        inst = rest_example("apps/list-installations")[0]
        inst.update({
            "id": installation_id, "app_id": app_id, "target_id": account_id, "target_type": account_type,
            "account": _account(account_login, account_id, account_type),
            "access_tokens_url": f"https://api.github.com/app/installations/{installation_id}/access_tokens",
            "html_url": f"https://github.com/organizations/{account_login}/settings/installations/{installation_id}",
            "repository_selection": "selected", "app_slug": self.apps.get(app_id, {}).get("slug", "gantry-test"),
            "suspended_at": None, "suspended_by": None,
            "permissions": {"contents": "write", "metadata": "read", "administration": "write",
                            "actions": "write", "deployments": "write"},
            "events": ["push", "workflow_job", "release"],
        })
        self.installations[installation_id] = inst
        self.installation_repos.setdefault(installation_id, [])
        return inst

    def add_repository(self, repo_id: int, owner: str, name: str, *, installation_id: int | None = None,
                       private: bool = False, owner_type: str = "Organization", owner_id: int = 9000,
                       commits: int = 3) -> dict[str, Any]:
        repo = rest_example("repos/get")
        full_name = f"{owner}/{name}"
        repo.update({
            "id": repo_id, "node_id": f"R_{repo_id}", "name": name, "full_name": full_name,
            "owner": _account(owner, owner_id, owner_type), "private": private,
            "html_url": f"https://github.com/{full_name}", "url": f"https://api.github.com/repos/{full_name}",
            "description": f"{name} repository", "default_branch": "main", "archived": False,
            "visibility": "private" if private else "public",
        })
        self.repositories[repo_id] = repo
        if installation_id is not None:
            self.installation_repos.setdefault(installation_id, []).append(repo_id)
        self.commits[repo_id] = [self._commit(full_name, i) for i in range(commits)]
        self.hooks.setdefault(repo_id, [])
        return repo

    def _commit(self, full_name: str, index: int) -> dict[str, Any]:
        commit = rest_example("repos/list-commits")[0]
        sha = hashlib.sha1(f"{full_name}:{index}".encode(), usedforsecurity=False).hexdigest()
        commit.update({"sha": sha, "node_id": f"C_{sha[:10]}", "html_url": f"https://github.com/{full_name}/commit/{sha}",
                       "url": f"https://api.github.com/repos/{full_name}/commits/{sha}"})
        commit["commit"] = {**commit["commit"], "message": f"Change {index} of {full_name}"}
        commit["commit"]["author"] = {**commit["commit"]["author"], "date": f"2026-11-{20 - index:02d}T10:00:00Z"}
        return commit

    def grant(self, login: str, repo_id: int, permission: str = "read") -> None:
        self.permissions.setdefault(login, {})[repo_id] = permission

    def issue_user_token(self, login: str, *, client_id: str | None = None, scopes: list[str] | None = None) -> str:
        """A user token as if `login` authorized `client_id` (default: the App's OAuth client).

        A GitHub App's client gets a user token without scopes, limited to the App's installations
        and permissions; a classic OAuth App's client gets a token with the `scopes` asked for.
        """
        token = "gho_" + secrets.token_hex(18)
        self.user_tokens[token] = login
        self.user_grants[token] = self.grant_for_client(client_id or DEFAULT_CLIENT_ID, scopes)
        return token

    def grant_for_client(self, client_id: str, scopes: list[str] | None) -> dict[str, Any]:
        if client_id in self.oauth_apps:
            return {"kind": "oauth_app", "client_id": client_id, "scopes": sorted(set(scopes or []))}
        app_id = next((i for i, a in self.apps.items() if a.get("client_id") == client_id), DEFAULT_APP_ID)
        return {"kind": "app", "client_id": client_id, "app_id": app_id, "scopes": []}

    def add_oauth_app(self, client_id: str, client_secret: str, name: str = "Gantry OAuth") -> dict[str, Any]:
        self.oauth_apps[client_id] = {"client_id": client_id, "client_secret": client_secret, "name": name}
        return self.oauth_apps[client_id]

    def issue_installation_token(self, installation_id: int, *, repository_ids: list[int] | None = None,
                                 permissions: dict[str, str] | None = None, lifetime: int = 3600) -> dict[str, Any]:
        token = "ghs_" + secrets.token_hex(18)
        self.installation_tokens[token] = {"installation_id": installation_id, "expires_at": time.time() + lifetime,
                                           "repository_ids": repository_ids, "permissions": permissions}
        return {"token": token, "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))}

    def expire_installation_tokens(self) -> None:
        for info in self.installation_tokens.values():
            info["expires_at"] = 0


def default_state(default_app: dict[str, Any]) -> FakeState:
    """The world every test starts from.

    - installation 101 on organisation `acme`: acme/infrajet (1001), acme/widgets (1002)
    - installation 102 on user `octo-user`: octo-user/dotfiles (1003)
    - acme/webhook-manager (1004): the App is NOT installed there
    - user `octocat` (583231), member of acme: admin on infrajet and webhook-manager, read on widgets
    - user `mallory` (666), no org, no access
    - a classic OAuth App (DEFAULT_OAUTH_APP_CLIENT_ID) beside the GitHub App's own OAuth client
    """
    state = FakeState()
    state.apps[default_app["id"]] = copy.deepcopy(default_app)
    state.add_oauth_app(DEFAULT_OAUTH_APP_CLIENT_ID, DEFAULT_OAUTH_APP_CLIENT_SECRET)
    state.add_installation(101, "acme", 9000)
    state.add_installation(102, "octo-user", 9100, "User")
    state.add_repository(1001, "acme", "infrajet", installation_id=101)
    state.add_repository(1002, "acme", "widgets", installation_id=101, private=True)
    state.add_repository(1003, "octo-user", "dotfiles", installation_id=102, owner_type="User", owner_id=9100)
    state.add_repository(1004, "acme", "webhook-manager")
    state.add_user("octocat", 583231, orgs=["acme"])
    state.add_user("mallory", 666)
    state.grant("octocat", 1001, "admin")
    state.grant("octocat", 1002, "read")
    state.grant("octocat", 1004, "admin")
    return state
