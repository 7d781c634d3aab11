"""Repository webhooks for repositories the App is not installed on: set up, ping, ping arrival, removal."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.repos.conftest import INFRAJET
from tests.shared_data import webhook_payload
from webapp.repos.models import Repository, RepositoryAccess, RepositoryHook
from webapp.repos.service import webhook_secret_for_hook

WEBHOOK_MANAGER = 1004


def _set_up(client: Any, headers: dict[str, str], repository: str = "acme/webhook-manager") -> Any:
    return client.post("/api/v1/github/hooks", json={"repository": repository}, headers=headers)


def _deliver_ping(client: Any, hook: dict[str, Any]) -> Any:
    """GitHub delivering the ping: the real payload, signed with the hook's own secret."""
    payload = webhook_payload("ping", "default")
    payload["hook_id"] = hook["id"]
    payload["hook"]["id"] = hook["id"]
    payload["repository"].update(id=WEBHOOK_MANAGER, full_name="acme/webhook-manager")  # the hook's own
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(hook["_secret"].encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/github", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "ping", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook["id"]), "X-Hub-Signature-256": signature})


def test_set_up_hook_creates_pings_and_verifies(client: Any, db: Any, mirrored: Any, github_user: Any,
                                                make_key: Any) -> None:
    user = github_user("maintainer", "octocat", classic=True)
    headers = make_key(user, "read", "webhooks:write")
    response = _set_up(client, headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["repository"] == "acme/webhook-manager" and created["ping_arrived"] is False
    assert created["pinged_at"] is not None
    on_github = mirrored.state.hooks[WEBHOOK_MANAGER][0]
    assert on_github["config"]["url"] == "http://gantry.test/webhooks/github"
    assert on_github["config"]["content_type"] == "json"
    assert mirrored.calls("POST", r"^/repos/acme/webhook-manager/hooks$")[0].auth == "user:octocat"
    assert mirrored.state.pings == [(WEBHOOK_MANAGER, created["id"])]
    # the secret GitHub got is the one the intake checks, and it is encrypted at rest
    secret = on_github["_secret"]
    assert webhook_secret_for_hook(created["id"]) == secret
    with db.engine.connect() as conn:
        assert secret not in str(conn.execute(sa.text("SELECT * FROM repository_hooks")).all())
    db.session.expire_all()
    repo = db.session.get(Repository, WEBHOOK_MANAGER)
    assert repo.installation_id is None and repo.full_name == "acme/webhook-manager"
    assert db.session.get(RepositoryAccess, (user.id, WEBHOOK_MANAGER)).permission == "admin"
    # GitHub's ping arrives at the intake and is shown as arrived
    assert _deliver_ping(client, on_github).status_code == 202
    assert client.get(f"/api/v1/github/hooks/{created['id']}", headers=headers).get_json()["ping_arrived"] is True
    listed = client.get("/api/v1/github/hooks", headers=headers).get_json()["items"]
    assert [h["id"] for h in listed] == [created["id"]]


def test_remove_hook(client: Any, db: Any, mirrored: Any, github_user: Any, make_key: Any) -> None:
    headers = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    hook_id = _set_up(client, headers).get_json()["id"]
    removed = client.delete(f"/api/v1/github/hooks/{hook_id}", headers=headers)
    assert removed.status_code == 200 and removed.get_json()["removed_at"] is not None
    assert mirrored.state.hooks[WEBHOOK_MANAGER] == []
    assert webhook_secret_for_hook(hook_id) is None
    assert client.delete(f"/api/v1/github/hooks/{hook_id}", headers=headers).status_code == 200  # idempotent
    again = _set_up(client, headers)  # a removed hook can be set up again
    assert again.status_code == 201


def test_hook_already_deleted_on_github_is_removed_here_too(client: Any, mirrored: Any, github_user: Any,
                                                            make_key: Any) -> None:
    headers = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    hook_id = _set_up(client, headers).get_json()["id"]
    mirrored.state.hooks[WEBHOOK_MANAGER].clear()
    assert client.delete(f"/api/v1/github/hooks/{hook_id}", headers=headers).status_code == 200


@pytest.mark.parametrize("repository,permission,status,code", [
    ("acme/infrajet", "admin", 409, "app_installed"),        # the App already delivers its events
    ("acme/widgets", "read", 409, "app_installed"),
    ("acme/webhook-manager", "write", 403, "not_repo_admin"),  # GitHub says: not an admin
    ("acme/does-not-exist", "admin", 404, "not_found"),
])
def test_set_up_refusals(client: Any, mirrored: Any, github_user: Any, make_key: Any, grant: Any, repository: str,
                         permission: str, status: int, code: str) -> None:
    mirrored.state.grant("octocat", WEBHOOK_MANAGER, permission)
    user = github_user("maintainer", "octocat", classic=True)
    grant(user, INFRAJET, "admin")  # what the access sync records: octocat sees both installed repositories
    grant(user, 1002, "read")
    headers = make_key(user, "read", "webhooks:write")
    response = _set_up(client, headers, repository)
    assert response.status_code == status and response.get_json()["code"] == code
    assert not mirrored.calls("POST", r"/hooks$")


def test_an_installed_repository_the_user_cannot_see_is_404_not_409(client: Any, mirrored: Any, github_user: Any,
                                                                     make_key: Any) -> None:
    """Saying "the App is installed there" would tell someone without access that the repository exists."""
    headers = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    response = _set_up(client, headers, "acme/widgets")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_duplicate_hook_is_a_conflict(client: Any, mirrored: Any, github_user: Any, make_key: Any) -> None:
    headers = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    _set_up(client, headers)
    response = _set_up(client, headers)
    assert response.status_code == 409 and response.get_json()["code"] == "hook_exists"


def test_app_sign_in_token_is_refused_with_the_reason_before_calling_github(client: Any, mirrored: Any,
                                                                           github_user: Any, make_key: Any) -> None:
    """A GitHub App's user token cannot reach a repository the App is not installed on: say so and what to do."""
    headers = make_key(github_user("maintainer", "octocat"), "read", "webhooks:write")
    response = _set_up(client, headers)
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "app_not_installed"
    assert "Install the GitHub App on acme/webhook-manager" in body["message"]
    assert "GITHUB_OAUTH_CLIENT_KIND=oauth_app" in body["message"] and "admin:repo_hook" in body["message"]
    assert not mirrored.calls("*", r"^/repos/acme/webhook-manager")
    assert mirrored.state.hooks[WEBHOOK_MANAGER] == []


def test_the_fake_refuses_an_app_user_token_as_github_does(app: Any, mirrored: Any) -> None:
    """Without Gantry's own check, GitHub (the fake) itself refuses the App's user token with 404."""
    from webapp.integrations.github import GitHubError, github

    token = mirrored.user_token("octocat")
    with pytest.raises(GitHubError) as refused:
        github().user_request(token, "POST", "/repos/acme/webhook-manager/hooks",
                              json={"config": {"url": "http://gantry.test/webhooks/github"}})
    assert refused.value.status == 404
    classic = mirrored.classic_token("octocat", ["read:user"])
    with pytest.raises(GitHubError) as no_scope:
        github().user_request(classic, "POST", "/repos/acme/webhook-manager/hooks",
                              json={"config": {"url": "http://gantry.test/webhooks/github"}})
    assert no_scope.value.status == 404
    assert mirrored.state.hooks[WEBHOOK_MANAGER] == []


@pytest.mark.parametrize("scopes,expected", [
    (["read:user", "user:email", "read:org"], "admin:repo_hook or write:repo_hook or repo"),
])
def test_classic_token_without_the_hook_scope_is_refused_with_the_scope_to_add(
        client: Any, mirrored: Any, github_user: Any, make_key: Any, scopes: list[str], expected: str) -> None:
    headers = make_key(github_user("maintainer", "octocat", classic=True, scopes=scopes), "read", "webhooks:write")
    response = _set_up(client, headers)
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "missing_scope"
    assert expected in body["message"] and "GITHUB_OAUTH_SCOPES" in body["message"]
    assert not mirrored.calls("POST", r"/hooks$")


def test_set_up_needs_a_github_connection_and_the_role(client: Any, mirrored: Any, make_user: Any,
                                                        github_user: Any, make_key: Any) -> None:
    unconnected = make_key(make_user("maintainer"), "read", "webhooks:write")
    assert _set_up(client, unconnected).get_json()["code"] == "not_connected"
    viewer = make_key(github_user("viewer", "octocat"))
    assert _set_up(client, viewer).status_code == 403
    no_scope = make_key(make_user("maintainer"), "read")
    assert _set_up(client, no_scope).status_code == 403
    assert not mirrored.calls("POST", r"/hooks$")


def test_other_peoples_hooks_are_404(client: Any, mirrored: Any, github_user: Any, make_user: Any, make_key: Any,
                                     grant: Any) -> None:
    owner = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    hook_id = _set_up(client, owner).get_json()["id"]
    intruder_user = make_user("maintainer")
    grant(intruder_user, INFRAJET, "admin")
    intruder = make_key(intruder_user, "read", "webhooks:write")
    for method, path in (("GET", f"/api/v1/github/hooks/{hook_id}"), ("DELETE", f"/api/v1/github/hooks/{hook_id}"),
                         ("POST", f"/api/v1/github/hooks/{hook_id}/ping")):
        assert client.open(path, method=method, headers=intruder).status_code == 404, path
    assert client.get("/api/v1/github/hooks", headers=intruder).get_json()["items"] == []
    assert mirrored.state.hooks[WEBHOOK_MANAGER] and len(mirrored.state.pings) == 1


def test_ping_again(client: Any, mirrored: Any, github_user: Any, make_key: Any) -> None:
    headers = make_key(github_user("maintainer", "octocat", classic=True), "read", "webhooks:write")
    hook_id = _set_up(client, headers).get_json()["id"]
    assert client.post(f"/api/v1/github/hooks/{hook_id}/ping", headers=headers).status_code == 200
    assert len(mirrored.state.pings) == 2


def test_unknown_hook_has_no_secret(app: Any, db: Any) -> None:
    assert webhook_secret_for_hook(123456) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RepositoryHook)) == 0
