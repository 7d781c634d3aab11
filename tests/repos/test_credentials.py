"""GitHub's token rules: which credential reads commits and sets up hooks, for both kinds of sign-in client.

A GitHub App's user token reaches only repositories the App is installed on; a classic OAuth App's
token reaches every repository its user can, within its scopes. The fake enforces both.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.github import CLASSIC_SCOPES, classic_oauth_settings
from tests.github.helpers import github_login
from tests.repos.conftest import INFRAJET
from webapp.auth.models import User
from webapp.repos.models import GitHubAccount, RepositoryAccess

WEBHOOK_MANAGER = 1004


@pytest.fixture
def classic_client(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gantry's sign-in configured as a classic OAuth App (the GitHub App stays configured)."""
    for name, value in classic_oauth_settings().items():
        monkeypatch.setitem(app.config, name, value)


def _account(db: Any, login: str) -> GitHubAccount:
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.username == login))
    assert user is not None
    return db.session.get(GitHubAccount, user.id)


def test_classic_sign_in_asks_for_the_scopes_and_records_the_kind(client: Any, db: Any, mirrored: Any,
                                                                    classic_client: None) -> None:
    assert github_login(client, mirrored, "octocat").status_code == 302
    authorize = mirrored.calls("GET", r"^/login/oauth/authorize$")[0]
    assert authorize.query["scope"].split() == CLASSIC_SCOPES
    account = _account(db, "octocat")
    assert account.token_kind == "oauth_app"
    assert set(account.token_scopes.split(",")) == set(CLASSIC_SCOPES)
    # a classic token cannot list installations: access comes from /user/repos, every repository included
    assert not mirrored.calls("GET", r"^/user/installations")
    access = {a.repository_id: a.permission for a in db.session.scalars(sa.select(RepositoryAccess))}
    assert access == {1001: "admin", 1002: "read", WEBHOOK_MANAGER: "admin"}


def test_app_sign_in_asks_for_no_scopes_and_records_the_kind(client: Any, db: Any, mirrored: Any) -> None:
    github_login(client, mirrored, "octocat")
    assert "scope" not in mirrored.calls("GET", r"^/login/oauth/authorize$")[0].query
    account = _account(db, "octocat")
    assert account.token_kind == "app" and account.token_scopes == ""


def test_classic_token_reads_commits_where_the_app_is_not_installed(client: Any, mirrored: Any, db: Any,
                                                                     classic_client: None, make_key: Any) -> None:
    github_login(client, mirrored, "octocat")
    user = db.session.scalar(sa.select(User).where(User.username == "octocat"))
    headers = make_key(user, "read")
    response = client.get("/api/v1/repos/acme/webhook-manager/commits", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()) == 3
    assert mirrored.calls("GET", r"^/repos/acme/webhook-manager/commits$")[-1].auth == "user:octocat"
    # where the App is installed with contents access, the installation reads them
    assert client.get("/api/v1/repos/acme/infrajet/commits", headers=headers).status_code == 200
    assert mirrored.calls("GET", r"^/repos/acme/infrajet/commits$")[-1].auth == "installation:101"


def test_app_token_cannot_read_commits_where_the_app_is_not_installed(client: Any, mirrored: Any, db: Any,
                                                                       github_user: Any, grant: Any,
                                                                       make_key: Any) -> None:
    from webapp.repos.mirror import upsert_repository

    upsert_repository(mirrored.state.repositories[WEBHOOK_MANAGER], None)
    user = github_user("maintainer", "octocat")
    grant(user, WEBHOOK_MANAGER, "admin")
    response = client.get("/api/v1/repos/acme/webhook-manager/commits", headers=make_key(user, "read"))
    body = response.get_json()
    assert response.status_code == 409 and body["code"] == "app_not_installed"
    assert "GITHUB_OAUTH_CLIENT_KIND=oauth_app" in body["message"]
    assert not mirrored.calls("GET", r"/commits$")


def test_app_without_contents_permission_falls_back_to_a_classic_token(client: Any, mirrored: Any, db: Any,
                                                                        github_user: Any, grant: Any,
                                                                        make_key: Any) -> None:
    from webapp.repos.models import Installation

    installation = db.session.get(Installation, 101)
    installation.permissions = {"metadata": "read"}
    db.session.commit()
    app_user = github_user("maintainer", "octocat")
    grant(app_user, INFRAJET, "admin")
    refused = client.get("/api/v1/repos/acme/infrajet/commits", headers=make_key(app_user, "read"))
    assert refused.status_code == 409 and refused.get_json()["code"] == "app_permission_missing"
    mirrored.state.grant("mallory", INFRAJET, "write")
    classic_user = github_user("maintainer", "mallory", classic=True)
    grant(classic_user, INFRAJET, "write")
    answered = client.get("/api/v1/repos/acme/infrajet/commits", headers=make_key(classic_user, "read"))
    assert answered.status_code == 200
    assert mirrored.calls("GET", r"^/repos/acme/infrajet/commits$")[-1].auth == "user:mallory"


def test_private_repository_needs_the_repo_scope(client: Any, mirrored: Any, github_user: Any, grant: Any,
                                                 make_key: Any) -> None:
    from webapp.repos.mirror import upsert_repository

    mirrored.state.repositories[WEBHOOK_MANAGER]["private"] = True
    upsert_repository(mirrored.state.repositories[WEBHOOK_MANAGER], None)
    user = github_user("maintainer", "octocat", classic=True, scopes=["read:user", "admin:repo_hook"])
    grant(user, WEBHOOK_MANAGER, "admin")
    response = client.get("/api/v1/repos/acme/webhook-manager/commits", headers=make_key(user, "read"))
    assert response.status_code == 409 and response.get_json()["code"] == "missing_scope"
    assert "repo scope" in response.get_json()["message"]


def test_classic_sign_in_sets_up_a_hook_where_the_app_is_not_installed(client: Any, mirrored: Any, db: Any,
                                                                        classic_client: None,
                                                                        make_key: Any) -> None:
    """The whole way a Webhook Manager user goes: sign in (classic client), then set up the hook."""
    github_login(client, mirrored, "octocat")
    user = db.session.scalar(sa.select(User).where(User.username == "octocat"))
    user.role = "maintainer"
    db.session.commit()
    response = client.post("/api/v1/github/hooks", json={"repository": "acme/webhook-manager"},
                           headers=make_key(user, "read", "webhooks:write"))
    assert response.status_code == 201, response.get_json()
    assert mirrored.calls("POST", r"^/repos/acme/webhook-manager/hooks$")[0].auth == "user:octocat"
    assert len(mirrored.state.hooks[WEBHOOK_MANAGER]) == 1
