"""Infrajet's users, moved to Gantry: every request its document shows, in the document's order, with the
document's bodies, at /compat/infrajet/api/v1/github (seed 002).

Placeholders are filled with the fake GitHub's world: "owner/repo" and "my-org/my-repo" become
acme/infrajet (the App is installed there), installation 12345 becomes 101. The Infrajet user
signs in to Gantry (a bearer token, as Infrajet's own JWT was) and then connects GitHub.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from sandbox.github.git import git_store
from tests.found import found
from tests.github.helpers import approve_at_github
from tests.shared_data import webhook_payload

BASE = "/compat/infrajet/api/v1/github"
FRONTEND = "https://infrajet.example.test"
MAIN_TF = "terraform { required_version = \">= 1.0\" }"
VARIABLES_TF = "variable \"region\" { type = string }"


@pytest.fixture
def world(app: Any, fake_github: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from webapp.repos.mirror import reconcile_installations

    monkeypatch.setitem(app.config, "FRONTEND_URL", FRONTEND)
    monkeypatch.setitem(app.config, "SYNC_RETRY_JITTER_MS", 5)
    reconcile_installations()
    git_store(fake_github).init_repo("acme", "infrajet", {"README.md": "# infrajet\n"})
    return fake_github


@pytest.fixture
def headers(app: Any, make_user: Any) -> dict[str, str]:
    """Infrajet sent `Authorization: Bearer <your_jwt_token>`: here Gantry's own access token."""
    from webapp.auth.tokens import issue_tokens

    user = make_user("admin")
    return {"Authorization": f"Bearer {issue_tokens(user).access_token}"}


def _connect(client: Any, fake: Any, headers: dict[str, str]) -> dict[str, Any]:
    login = client.get(f"{BASE}/auth/login", headers=headers)
    assert login.status_code == 200, login.get_json()
    started = login.get_json()
    assert set(started) == {"authorization_url", "state"}
    approved = approve_at_github(fake, started["authorization_url"], "octocat")
    callback = client.post(f"{BASE}/auth/callback", json={"code": approved["code"], "state": approved["state"]},
                           headers=headers)
    assert callback.status_code == 200, callback.get_json()
    return callback.get_json()


def _put_project_files(headers: dict[str, str], files: dict[str, str] | None = None) -> None:
    """Infrajet kept a project's files in Azure File Share; in Gantry they live in the project."""
    from webapp.auth.tokens import user_for_access_token
    from webapp.extensions import db
    from webapp.repos.models import Repository
    from webapp.sync import runs, service

    user = found(user_for_access_token(headers["Authorization"].split()[1]))
    repo = db.session.query(Repository).filter_by(full_name="acme/infrajet").one()
    project = runs.find_or_create_binding(user, repo.id, "main", "", "project-uuid")
    files = files if files is not None else {"main.tf": MAIN_TF, "variables.tf": VARIABLES_TF}
    service.put_files(user, project.id, {path: (text.encode(), None) for path, text in files.items()})


def test_every_documented_request_in_order(client: Any, db: Any, world: Any, headers: dict[str, str],
                                           run_jobs: Any) -> None:
    store = git_store(world)
    # --- OAuth: GET /auth/login, POST /auth/callback -> GitHubUserProfile
    profile = _connect(client, world, headers)
    assert profile["login"] == "octocat" and profile["id"] == 583231
    login = client.get(f"{BASE}/auth/login?state=csrf_protection_token", headers=headers)
    assert login.get_json()["state"] == "csrf_protection_token"
    assert parse_qs(urlsplit(login.get_json()["authorization_url"]).query)["state"] == ["csrf_protection_token"]

    # --- GET /connection/status
    status = client.get(f"{BASE}/connection/status", headers=headers).get_json()
    assert set(status) == {"connected", "username", "connected_at", "repositories_count", "permissions"}
    assert status["connected"] is True and status["username"] == "octocat" and status["connected_at"]
    assert status["repositories_count"] == 2 and isinstance(status["permissions"], list)

    # --- POST /disconnect {"revoke_token": true}, then connect again for the rest
    disconnected = client.post(f"{BASE}/disconnect", json={"revoke_token": True}, headers=headers)
    assert disconnected.status_code == 200 and disconnected.get_json()["token_revoked"] is True
    assert client.get(f"{BASE}/connection/status", headers=headers).get_json()["connected"] is False
    _connect(client, world, headers)

    # --- GET /repositories (page, per_page) and GET /repositories/{owner}/{repo}
    listed = client.get(f"{BASE}/repositories?page=1&per_page=2", headers=headers).get_json()
    assert listed["total_count"] == 3 and [r["full_name"] for r in listed["repositories"]] == [
        "acme/infrajet", "acme/widgets"]
    second = client.get(f"{BASE}/repositories?page=2&per_page=2", headers=headers).get_json()
    assert [r["full_name"] for r in second["repositories"]] == ["octo-user/dotfiles"]
    assert client.get(f"{BASE}/repositories?per_page=101", headers=headers).status_code == 422
    one = client.get(f"{BASE}/repositories/acme/infrajet", headers=headers)
    assert one.status_code == 200 and one.get_json()["full_name"] == "acme/infrajet"

    # --- POST /sync/project with the documented fields
    _put_project_files(headers)
    synced = client.post(f"{BASE}/sync/project", json={
        "project_id": "project-uuid", "repository_full_name": "acme/infrajet", "branch": "main",
        "commit_message": "Sync from Infrajet", "check_conflicts": True}, headers=headers)
    assert synced.status_code == 200, synced.get_json()
    assert synced.get_json()["status"] == "queued" and synced.get_json()["success"] is True
    run_jobs()
    assert store.files("acme", "infrajet")["main.tf"][0] == MAIN_TF.encode()
    assert store.head("acme", "infrajet").message.startswith("Sync from Infrajet")

    # --- POST /sync/manual-trigger with file_paths
    _put_project_files(headers, {"main.tf": MAIN_TF + "\n# v2\n"})
    manual = client.post(f"{BASE}/sync/manual-trigger", json={
        "project_id": "project-uuid", "repository_full_name": "acme/infrajet", "branch": "main",
        "commit_message": "Manual sync", "sync_all_files": True, "file_paths": ["main.tf", "variables.tf"]},
        headers=headers)
    assert manual.status_code == 200, manual.get_json()
    run_jobs()
    assert store.files("acme", "infrajet")["main.tf"][0].endswith(b"# v2\n")

    # --- GET /sync/history/{project_id}, GET /sync/status/{project_id}
    history = client.get(f"{BASE}/sync/history/project-uuid", headers=headers).get_json()
    assert history["total"] == 2 and [s["status"] for s in history["syncs"]] == ["succeeded", "succeeded"]
    state = client.get(f"{BASE}/sync/status/project-uuid", headers=headers).get_json()
    assert set(state) == {"project_id", "status", "repository", "last_sync_at", "last_commit_sha", "total_syncs",
                          "last_successful_sync"}
    assert state["project_id"] == "project-uuid" and state["status"] == "succeeded"
    assert state["repository"] == "acme/infrajet" and state["total_syncs"] == 2
    assert state["last_commit_sha"] == store.head("acme", "infrajet").sha and state["last_successful_sync"]

    # --- POST /sync/check-conflicts
    checked = client.post(f"{BASE}/sync/check-conflicts", json={
        "project_id": "project-uuid", "repository_full_name": "acme/infrajet", "branch": "main"}, headers=headers)
    assert checked.status_code == 200 and checked.get_json()["has_conflicts"] is False

    # --- POST /sync/retry: a run that failed on GitHub, retried under its sync_id
    _put_project_files(headers, {"main.tf": "# v3\n"})
    world.fail("POST", r"/git/trees$", 422, body={"message": "Validation Failed", "errors": []}, times=5)
    failing = client.post(f"{BASE}/sync/manual-trigger", json={
        "project_id": "project-uuid", "repository_full_name": "acme/infrajet", "branch": "main",
        "commit_message": "Manual sync", "sync_all_files": False, "file_paths": ["main.tf"]}, headers=headers)
    sync_id = failing.get_json()["sync_id"]
    run_jobs()
    assert client.get(f"{BASE}/sync/status/project-uuid", headers=headers).get_json()["status"] == "failed"
    world.server.rules.clear()
    retried = client.post(f"{BASE}/sync/retry", json={"sync_id": sync_id}, headers=headers)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["sync_id"] == sync_id and retried.get_json()["status"] == "queued"
    run_jobs()
    assert store.files("acme", "infrajet")["main.tf"][0] == b"# v3\n"

    # --- GET /sync/metrics
    metrics = client.get(f"{BASE}/sync/metrics", headers=headers).get_json()
    assert set(metrics) == {"user_id", "total_syncs", "successful_syncs", "failed_syncs", "total_files_synced",
                            "total_conflicts_resolved", "average_sync_duration", "last_sync_at",
                            "connected_repositories"}
    assert metrics["total_syncs"] == 3 and metrics["successful_syncs"] == 3 and metrics["failed_syncs"] == 0
    assert metrics["total_files_synced"] >= 3 and metrics["connected_repositories"] == 3

    # --- GET /installations (X-GitHub-Token), POST /installation/token
    installations = client.get(f"{BASE}/installations", headers={**headers, "X-GitHub-Token": "gho_ignored"})
    assert installations.status_code == 200
    assert {i["id"] for i in installations.get_json()} == {101, 102}
    token = client.post(f"{BASE}/installation/token", json={"installation_id": 101}, headers=headers)
    assert token.status_code == 200 and token.get_json()["token"].startswith("ghs_")

    # --- POST /repositories (create with the App)
    created = client.post(f"{BASE}/repositories", json={
        "installation_id": 101, "name": "my-repo", "description": "Infrastructure repository", "private": True,
        "owner": "acme"}, headers=headers)
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["full_name"] == "acme/my-repo" and created.get_json()["private"] is True

    # --- POST /repositories/push: one commit, its sha and URL in the answer
    pushed = client.post(f"{BASE}/repositories/push", json={
        "installation_id": 101, "repo_owner": "acme", "repo_name": "infrajet",
        "files": {"main.tf": MAIN_TF, "variables.tf": VARIABLES_TF},
        "commit_message": "Add infrastructure files", "branch": "main"}, headers=headers)
    assert pushed.status_code == 200, pushed.get_json()
    answer = pushed.get_json()
    head = store.head("acme", "infrajet")
    assert answer["success"] is True and answer["commit_sha"] == head.sha and answer["branch"] == "main"
    assert answer["repository_url"] == "https://github.com/acme/infrajet"
    assert answer["commit_url"] == f"https://github.com/acme/infrajet/commit/{head.sha}"
    assert answer["files_pushed"] == 1  # variables.tf was already there, unchanged
    run_jobs()  # the queued job finds the run done: no second commit
    assert store.head("acme", "infrajet").sha == head.sha

    # --- POST /repositories/sync
    resynced = client.post(f"{BASE}/repositories/sync", json={
        "installation_id": 101, "repo_owner": "acme", "repo_name": "infrajet",
        "files": {"main.tf": MAIN_TF, "variables.tf": VARIABLES_TF},
        "commit_message": "Sync infrastructure files", "branch": "main"}, headers=headers)
    assert resynced.status_code == 200 and resynced.get_json()["success"] is True

    # --- POST /repositories/validate-access
    access = client.post(f"{BASE}/repositories/validate-access", json={
        "user_access_token": "gho_...", "installation_id": 101, "repo_owner": "acme", "repo_name": "infrajet"},
        headers=headers)
    assert access.status_code == 200 and access.get_json()["has_access"] is True

    # --- GET /install?state&suggested_target_id
    install = client.get(f"{BASE}/install?state=optional-state-param&suggested_target_id=9000", headers=headers)
    body = install.get_json()
    assert set(body) == {"installation_url", "app_name", "state", "github_app_url"}
    query = parse_qs(urlsplit(body["installation_url"]).query)
    assert query == {"state": ["optional-state-param"], "suggested_target_id": ["9000"]}
    assert body["app_name"] == "gantry-test" and body["state"] == "optional-state-param"

    # --- POST /webhook (X-GitHub-Event, X-Hub-Signature-256)
    payload = json.dumps(webhook_payload("push", "default")).encode()
    delivered = client.post(f"{BASE}/webhook", data=payload, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(DEFAULT_WEBHOOK_SECRET.encode(), payload,
                                                    hashlib.sha256).hexdigest()})
    assert delivered.status_code == 202

    # --- GET /health
    health = client.get(f"{BASE}/health").get_json()
    assert health == {"service": "GitHub App", "status": "healthy", "checks": {
        "configuration": "✓ Valid", "jwt_generation": "✓ Working", "api_connectivity": "✓ Connected"}}


def test_sync_with_check_conflicts_stops_before_writing(client: Any, db: Any, world: Any, headers: dict[str, str],
                                                        run_jobs: Any) -> None:
    store = git_store(world)
    _connect(client, world, headers)
    _put_project_files(headers)
    body = {"project_id": "project-uuid", "repository_full_name": "acme/infrajet", "branch": "main",
            "commit_message": "Sync from Infrajet", "check_conflicts": True}
    client.post(f"{BASE}/sync/project", json=body, headers=headers)
    run_jobs()
    store.commit_files("acme", "infrajet", {"main.tf": "# changed on GitHub\n"})
    _put_project_files(headers, {"main.tf": "# changed here\n"})
    before = store.head("acme", "infrajet").sha
    stopped = client.post(f"{BASE}/sync/project", json=body, headers=headers)
    assert stopped.status_code == 200
    assert stopped.get_json()["status"] == "conflict" and stopped.get_json()["success"] is False
    assert [c["path"] for c in stopped.get_json()["conflicts"]] == ["main.tf"]
    run_jobs()
    assert store.head("acme", "infrajet").sha == before


def test_errors_are_fastapi_detail(client: Any, world: Any, headers: dict[str, str]) -> None:
    missing = client.post(f"{BASE}/sync/project", json={"project_id": "p"}, headers=headers)
    assert missing.status_code == 422 and isinstance(missing.get_json()["detail"], list)
    assert {tuple(d["loc"]) for d in missing.get_json()["detail"]} >= {("body", "repository_full_name")}
    assert client.get(f"{BASE}/connection/status").status_code == 401
    assert client.get(f"{BASE}/sync/status/nope", headers=headers).status_code == 404
    bad_state = client.post(f"{BASE}/auth/callback", json={"code": "x", "state": "never-issued"}, headers=headers)
    assert bad_state.status_code == 400 and bad_state.get_json()["code"] == "invalid_state"


def test_unsigned_webhooks_only_in_development_without_a_secret(app: Any, client: Any, db: Any, world: Any,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture,
                                                               login_as: Any) -> None:
    payload = json.dumps(webhook_payload("push", "default")).encode()
    unsigned = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    signed_only = client.post(f"{BASE}/webhook", data=payload,
                              headers={**unsigned, "X-GitHub-Delivery": str(uuid.uuid4())})
    assert signed_only.status_code == 401  # a secret is configured: signatures are required
    monkeypatch.setitem(app.config, "GITHUB_WEBHOOK_SECRET", None)
    app.extensions.pop("gantry.webhook_secret", None)
    with caplog.at_level("WARNING"):
        accepted = client.post(f"{BASE}/webhook", data=payload,
                               headers={**unsigned, "X-GitHub-Delivery": str(uuid.uuid4())})
    assert accepted.status_code == 202
    assert any("UNSIGNED" in r.getMessage() for r in caplog.records)
    login_as("viewer")
    assert "accepted UNSIGNED" in client.get("/webhook-deliveries").get_data(as_text=True)
    monkeypatch.setitem(app.config, "ENVIRONMENT", "production")
    refused = client.post(f"{BASE}/webhook", data=payload,
                          headers={**unsigned, "X-GitHub-Delivery": str(uuid.uuid4())})
    assert refused.status_code == 401
