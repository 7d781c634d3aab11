"""Fake GitHub routes for the connection: OAuth, App manifest, App + installations, tokens, users,
repositories, commits, repository hooks, rate limit."""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, redirect, request

from sandbox.github.server import (
    fail,
    installation_token_info,
    json_response,
    not_found,
    page,
    require_app,
    require_installation,
    require_repo_access,
    require_user,
    state,
    unauthorized,
    user_grant,
    user_login,
)
from sandbox.github.state import FakeState, rest_example

PERMISSION_FLAGS = {
    "read": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
    "triage": {"admin": False, "maintain": False, "push": False, "triage": True, "pull": True},
    "write": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
    "maintain": {"admin": False, "maintain": True, "push": True, "triage": True, "pull": True},
    "admin": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
}


def new_app_key() -> tuple[str, str]:
    """A fresh RSA key pair for an App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _public_app(app: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in app.items() if k not in ("public_pem", "client_secret", "webhook_secret", "pem")}


def _client_ok(client_id: str | None, client_secret: str | None) -> bool:
    """A GitHub App's OAuth client or a classic OAuth App, with its secret."""
    clients = [*state().apps.values(), *state().oauth_apps.values()]
    return any(a.get("client_id") == client_id and a.get("client_secret") == client_secret for a in clients)


def _known_client(client_id: str | None) -> bool:
    return client_id in state().oauth_apps or any(a.get("client_id") == client_id for a in state().apps.values())


APP_TOKEN_ONLY = ("You must authenticate with an access token authorized to a GitHub App in order to list "
                  "installations")


def register(app: Flask, state_ref: Callable[[], FakeState]) -> None:
    """Add the OAuth web flow, App manifest, App, installation, user, organisation, repository and rate-limit routes.

    Long on purpose: the route table of nested handlers that share `state_ref`, read top to bottom like GitHub's docs.
    """

    # --- OAuth web flow (served at GITHUB_URL) ------------------------------------------

    @app.get("/login/oauth/authorize")
    def oauth_authorize() -> Any:
        client_id = request.args.get("client_id")
        if not _known_client(client_id):
            return json_response({"message": "unknown client_id"}, 404)
        code = secrets.token_hex(10)
        # a classic OAuth App asks for scopes (space- or comma-separated); a GitHub App's client has none
        scopes = request.args.get("scope", "").replace(",", " ").split()
        state().oauth_codes[code] = {"login": state().signing_in, "client_id": client_id,
                                     "redirect_uri": request.args.get("redirect_uri"), "scopes": scopes}
        target = request.args.get("redirect_uri", "")
        query = urlencode({"code": code, "state": request.args.get("state", "")})
        return redirect(f"{target}{'&' if '?' in target else '?'}{query}")

    @app.post("/login/oauth/access_token")
    def oauth_access_token() -> Any:
        data = request.get_json(silent=True) or request.form.to_dict()
        client_id, client_secret = data.get("client_id"), data.get("client_secret")
        if request.authorization and request.authorization.username:
            client_id, client_secret = request.authorization.username, request.authorization.password
        if not _client_ok(client_id, client_secret):
            return json_response({"error": "incorrect_client_credentials"})
        grant = state().oauth_codes.pop(data.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return json_response({"error": "bad_verification_code",
                                  "error_description": "The code passed is incorrect or expired."})
        token = state().issue_user_token(grant["login"], client_id=client_id, scopes=grant.get("scopes"))
        issued = state().user_grants[token]
        return json_response({"access_token": token, "token_type": "bearer", "scope": ",".join(issued["scopes"])})

    @app.delete("/applications/<client_id>/grant")
    def revoke_grant(client_id: str) -> Any:
        auth = request.authorization
        if auth is None or not _client_ok(auth.username, auth.password) or auth.username != client_id:
            unauthorized()
        token = (request.get_json(silent=True) or {}).get("access_token", "")
        if state().user_tokens.pop(token, None) is None:
            not_found()
        state().revoked_grants.append(token)
        return "", 204

    # --- App manifest flow ---------------------------------------------------------------

    @app.post("/settings/apps/new")
    @app.post("/organizations/<org>/settings/apps/new")
    def manifest_new(org: str | None = None) -> Any:
        manifest = json.loads(request.form.get("manifest", "{}"))
        code = secrets.token_hex(10)
        state().manifest_codes[code] = {"manifest": manifest, "owner": org or state().signing_in,
                                        "owner_type": "Organization" if org else "User"}
        target = manifest.get("redirect_url", "")
        query = urlencode({"code": code, "state": request.args.get("state", "")})
        return redirect(f"{target}{'&' if '?' in target else '?'}{query}")

    @app.post("/app-manifests/<code>/conversions")
    def manifest_conversion(code: str) -> Any:
        grant = state().manifest_codes.pop(code, None)
        if grant is None:
            not_found()
        private, public = new_app_key()
        app_id = max(state().apps) + 1 if state().apps else 1
        manifest = grant["manifest"]
        slug = (manifest.get("name") or f"app-{app_id}").lower().replace(" ", "-")
        found = rest_example("apps/get-authenticated")
        found.update({
            "id": app_id, "slug": slug, "name": manifest.get("name", slug), "node_id": f"A_{app_id}",
            "client_id": f"Iv1.manifest{app_id:04d}", "html_url": f"https://github.com/apps/{slug}",
            "owner": {**found["owner"], "login": grant["owner"], "type": grant["owner_type"]},
            "permissions": manifest.get("default_permissions", {}), "events": manifest.get("default_events", []),
        })
        secret_part = {"client_secret": secrets.token_hex(20), "webhook_secret": secrets.token_hex(20), "pem": private}
        state().apps[app_id] = {**found, **secret_part, "public_pem": public}
        return json_response({**found, **secret_part}, 201)

    # --- the App and its installations ---------------------------------------------------

    @app.get("/app")
    def get_app() -> Any:
        app_id = require_app()
        return json_response(_public_app(state().apps[app_id]))

    @app.get("/app/installations")
    def list_installations() -> Any:
        app_id = require_app()
        items = [i for i in state().installations.values() if i["app_id"] == app_id]
        return json_response(page(items))

    @app.get("/app/installations/<int:installation_id>")
    def get_installation(installation_id: int) -> Any:
        app_id = require_app()
        inst = state().installations.get(installation_id)
        if inst is None or inst["app_id"] != app_id:
            not_found()
        return json_response(inst)

    @app.post("/app/installations/<int:installation_id>/access_tokens")
    def create_installation_token(installation_id: int) -> Any:
        app_id = require_app()
        inst = state().installations.get(installation_id)
        if inst is None or inst["app_id"] != app_id:
            not_found()
        if inst.get("suspended_at"):
            fail(403, "This installation has been suspended")
        body = request.get_json(silent=True) or {}
        available = state().installation_repos.get(installation_id, [])
        repo_ids: list[int] | None = None
        if body.get("repositories") or body.get("repository_ids"):
            repo_ids = list(body.get("repository_ids") or [])
            for name in body.get("repositories") or []:
                match = next((r for r in available if state().repositories[r]["name"] == name), None)
                if match is None:
                    fail(422, f"There is at least one repository that does not exist or is not accessible "
                              f"to the parent installation: {name}")
                repo_ids.append(match)
            if any(r not in available for r in repo_ids):
                fail(422, "There is at least one repository that does not exist or is not accessible "
                          "to the parent installation.")
        permissions = body.get("permissions") or copy.deepcopy(inst["permissions"])
        for name, level in permissions.items():
            granted = inst["permissions"].get(name)
            if granted is None or (granted == "read" and level == "write"):
                fail(422, f"The permissions requested are not granted to this installation: {name}")
        minted = state().issue_installation_token(installation_id, repository_ids=repo_ids, permissions=permissions)
        example = rest_example("apps/create-installation-access-token")
        example.update(minted)
        example["permissions"] = permissions
        example["repository_selection"] = "selected" if repo_ids else inst["repository_selection"]
        example["repositories"] = [state().repositories[r] for r in (repo_ids or available)]
        return json_response(example, 201)

    @app.get("/installation/repositories")
    def installation_repositories() -> Any:
        info = require_installation()
        ids = info["repository_ids"] or state().installation_repos.get(info["installation_id"], [])
        repos = [state().repositories[r] for r in ids if r in state().repositories]
        return json_response({"total_count": len(repos), "repositories": page(repos)})

    # --- users -----------------------------------------------------------------------------

    @app.get("/user")
    def get_user() -> Any:
        return json_response(state().users[require_user()])

    @app.get("/user/orgs")
    def user_orgs() -> Any:
        login = require_user()
        return json_response([{"login": org, "id": 9000 + i, "url": f"https://api.github.com/orgs/{org}"}
                              for i, org in enumerate(state().user_orgs.get(login, []))])

    def _user_installation_repos(login: str, installation_id: int) -> list[dict[str, Any]]:
        granted = state().permissions.get(login, {})
        repos = []
        for repo_id in state().installation_repos.get(installation_id, []):
            if repo_id in granted:
                repo = copy.deepcopy(state().repositories[repo_id])
                repo["permissions"] = PERMISSION_FLAGS[granted[repo_id]]
                repos.append(repo)
        return repos

    def require_app_user() -> str:
        login = require_user()
        grant = user_grant() or {}
        if grant.get("kind") != "app":
            fail(403, APP_TOKEN_ONLY, documentation_url="https://docs.github.com/rest/apps/installations")
        return login

    @app.get("/user/installations")
    def user_installations() -> Any:
        login = require_app_user()
        app_id = (user_grant() or {}).get("app_id")
        items = [i for i_id, i in state().installations.items() if i["app_id"] == app_id
                 and (_user_installation_repos(login, i_id) or i["account"]["login"] == login)]
        return json_response({"total_count": len(items), "installations": page(items)})

    @app.get("/user/installations/<int:installation_id>/repositories")
    def user_installation_repositories(installation_id: int) -> Any:
        login = require_app_user()
        installation = state().installations.get(installation_id)
        if installation is None or installation["app_id"] != (user_grant() or {}).get("app_id"):
            not_found()
        repos = _user_installation_repos(login, installation_id)
        return json_response({"total_count": len(repos), "repositories": page(repos)})

    @app.get("/user/repos")
    def list_user_repos() -> Any:
        """Repositories the user can reach with this token: for a GitHub App's user token only those
        the App is installed on; for a classic token every one (private ones only with `repo`)."""
        login = require_user()
        grant = user_grant() or {}
        repos = []
        for repo_id, permission in sorted(state().permissions.get(login, {}).items()):
            repo = state().repositories.get(repo_id)
            if repo is None:
                continue
            if grant.get("kind") == "oauth_app":
                if repo["private"] and "repo" not in grant.get("scopes", []):
                    continue
            else:
                inst_id = state().installation_of_repo(repo_id)
                if inst_id is None or state().installations[inst_id]["app_id"] != grant.get("app_id"):
                    continue
            item = copy.deepcopy(repo)
            item["permissions"] = PERMISSION_FLAGS[permission]
            repos.append(item)
        return json_response(page(repos))

    @app.post("/user/repos")
    def create_user_repo() -> Any:
        login = require_user()
        return _create_repo(login, "User", state().users[login]["id"], None)

    @app.post("/orgs/<org>/repos")
    def create_org_repo(org: str) -> Any:
        info = require_installation()
        inst = state().installations[info["installation_id"]]
        if inst["account"]["login"].lower() != org.lower():
            not_found()
        return _create_repo(inst["account"]["login"], inst["account"]["type"], inst["account"]["id"],
                            info["installation_id"])

    def _create_repo(owner: str, owner_type: str, owner_id: int, installation_id: int | None) -> Any:
        body = request.get_json(silent=True) or {}
        name = str(body.get("name") or "").strip()
        if not name:
            fail(422, "Repository creation failed.", errors=[{"resource": "Repository", "code": "missing_field",
                                                                 "field": "name"}])
        if state().repo_by_name(owner, name) is not None:
            fail(422, "Repository creation failed.", errors=[{"resource": "Repository", "code": "custom",
                                                                 "field": "name",
                                                                 "message": "name already exists on this account"}])
        repo = state().add_repository(next(state().ids), owner, name, installation_id=installation_id,
                                      private=bool(body.get("private")), owner_type=owner_type, owner_id=owner_id,
                                      commits=1 if body.get("auto_init") else 0)
        repo["description"] = body.get("description")
        login = user_login()
        if login:
            state().grant(login, repo["id"], "admin")
        return json_response(repo, 201)

    # --- repositories, commits, hooks ------------------------------------------------------

    @app.get("/repos/<owner>/<repo>")
    def get_repo(owner: str, repo: str) -> Any:
        found = copy.deepcopy(require_repo_access(owner, repo))
        login = user_login()
        if login is not None:  # GitHub tells a user what they may do in the repository
            found["permissions"] = PERMISSION_FLAGS[state().permissions[login][found["id"]]]
        else:
            found.pop("permissions", None)
        return json_response(found)

    @app.get("/repos/<owner>/<repo>/hooks")
    def list_hooks(owner: str, repo: str) -> Any:
        found = require_repo_access(owner, repo, user_permission="admin", need="hooks:read")
        return json_response(page(state().hooks.get(found["id"], [])))

    @app.post("/repos/<owner>/<repo>/hooks")
    def create_hook(owner: str, repo: str) -> Any:
        found = require_repo_access(owner, repo, user_permission="admin", need="hooks:write")
        body = request.get_json(silent=True) or {}
        config = body.get("config") or {}
        if not config.get("url"):
            fail(422, "Validation Failed", errors=[{"resource": "Hook", "code": "custom", "message": "url is missing"}])
        hook = rest_example("repos/create-webhook")
        hook_id = next(state().ids)
        full = found["full_name"]
        hook.update({
            "id": hook_id, "name": "web", "active": body.get("active", True), "events": body.get("events", ["push"]),
            "config": {"url": config["url"], "content_type": config.get("content_type", "form"),
                       "insecure_ssl": config.get("insecure_ssl", "0"),
                       **({"secret": "********"} if config.get("secret") else {})},
            "url": f"https://api.github.com/repos/{full}/hooks/{hook_id}",
            "ping_url": f"https://api.github.com/repos/{full}/hooks/{hook_id}/pings",
            "test_url": f"https://api.github.com/repos/{full}/hooks/{hook_id}/test",
            "deliveries_url": f"https://api.github.com/repos/{full}/hooks/{hook_id}/deliveries",
        })
        state().hooks.setdefault(found["id"], []).append({**hook, "_secret": config.get("secret")})
        return json_response(hook, 201)

    def _hook(found: dict[str, Any], hook_id: int) -> dict[str, Any]:
        hook = next((h for h in state().hooks.get(found["id"], []) if h["id"] == hook_id), None)
        if hook is None:
            not_found()
        return hook

    @app.delete("/repos/<owner>/<repo>/hooks/<int:hook_id>")
    def delete_hook(owner: str, repo: str, hook_id: int) -> Any:
        found = require_repo_access(owner, repo, user_permission="admin", need="hooks:write")
        hook = _hook(found, hook_id)
        state().hooks[found["id"]].remove(hook)
        return "", 204

    @app.post("/repos/<owner>/<repo>/hooks/<int:hook_id>/pings")
    def ping_hook(owner: str, repo: str, hook_id: int) -> Any:
        found = require_repo_access(owner, repo, user_permission="admin", need="hooks:write")
        _hook(found, hook_id)
        state().pings.append((found["id"], hook_id))
        return "", 204

    @app.get("/rate_limit")
    def rate_limit() -> Any:
        if user_login() is None and installation_token_or_none() is None:
            unauthorized()
        body = rest_example("rate-limit/get")
        body["rate"]["reset"] = int(time.time()) + 3600
        return json_response(body)


def installation_token_or_none() -> Any:
    return installation_token_info()
