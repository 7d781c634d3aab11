"""The repositories and GitHub API: lists, commits, access checks, repository creation, scoped tokens,
installations, connection, health — with every access rule tried as an attacker would."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.repos.conftest import DOTFILES, INFRAJET, WIDGETS
from webapp.core.audit import AuditEvent
from webapp.repos.models import GitHubAccount, Repository, RepositoryAccess


def test_repository_list_shows_only_what_the_caller_may_see(client: Any, mirrored: Any, make_user: Any,
                                                            make_key: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    body = client.get("/api/v1/repos", headers=make_key(viewer)).get_json()
    assert [r["full_name"] for r in body["items"]] == ["acme/infrajet"]
    admin = make_user("admin")
    everything = client.get("/api/v1/repos", headers=make_key(admin, "admin")).get_json()
    assert {r["full_name"] for r in everything["items"]} == {"acme/infrajet", "acme/widgets", "octo-user/dotfiles"}
    assert client.get("/api/v1/repos").status_code == 401


def test_repository_search_and_pagination(client: Any, mirrored: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    found = client.get("/api/v1/repos?q=WIDG", headers=headers).get_json()
    assert [r["full_name"] for r in found["items"]] == ["acme/widgets"]
    first = client.get("/api/v1/repos?limit=2", headers=headers).get_json()
    second = client.get(f"/api/v1/repos?limit=2&cursor={first['next_cursor']}", headers=headers).get_json()
    assert [r["id"] for r in first["items"] + second["items"]] == [DOTFILES, WIDGETS, INFRAJET]
    assert second["next_cursor"] is None
    assert client.get("/api/v1/repos?limit=1000", headers=headers).status_code == 422
    assert client.get("/api/v1/repos?cursor=garbage", headers=headers).status_code == 422


def test_repository_detail_and_commits(client: Any, mirrored: Any, make_user: Any, make_key: Any,
                                       grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    headers = make_key(viewer)
    assert client.get("/api/v1/repos/acme/infrajet", headers=headers).get_json()["id"] == INFRAJET
    commits = client.get("/api/v1/repos/acme/infrajet/commits?limit=2", headers=headers).get_json()
    assert len(commits) == 2 and commits[0]["message"] == "Change 0 of acme/infrajet"
    assert len(commits[0]["sha"]) == 40
    call = mirrored.calls("GET", r"^/repos/acme/infrajet/commits$")[0]
    assert call.auth == "installation:101" and call.query["per_page"] == "2"


@pytest.mark.parametrize("path", ["/api/v1/repos/acme/widgets", "/api/v1/repos/acme/widgets/commits",
                                  "/api/v1/repos/octo-user/dotfiles/commits", "/api/v1/repos/nobody/nothing"])
def test_other_repositories_are_404_and_never_reach_github(client: Any, mirrored: Any, make_user: Any,
                                                           make_key: Any, grant: Any, path: str) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    response = client.get(path, headers=make_key(viewer))
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert not mirrored.calls("*", r"^/repos/")


def test_github_errors_become_clear_answers(client: Any, mirrored: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    mirrored.fail("GET", r"/commits$", 403, headers={"Retry-After": "120"})
    limited = client.get("/api/v1/repos/acme/infrajet/commits", headers=headers)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "120"
    assert limited.get_json()["code"] == "github_rate_limited"
    mirrored.fail("GET", r"/commits$", 500, times=3)
    failed = client.get("/api/v1/repos/acme/infrajet/commits", headers=headers)
    assert failed.status_code == 502 and failed.get_json()["code"] == "github_error"


def test_validate_access(client: Any, mirrored: Any, make_user: Any, make_key: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET, "write")
    body = {"repositories": ["acme/infrajet", "acme/widgets", "ACME/INFRAJET"], "permission": "write"}
    results = client.post("/api/v1/github/repositories/validate-access", json=body,
                          headers=make_key(viewer)).get_json()["results"]
    assert results[0] == {"repository": "acme/infrajet", "accessible": True, "permission": "write",
                          "app_installed": True, "reason": None}
    assert results[1]["accessible"] is False and results[1]["reason"] == "not found or no access"
    assert results[1]["app_installed"] is False  # nothing leaks about repositories you cannot see
    assert results[2]["accessible"] is True
    admin_only = client.post("/api/v1/github/repositories/validate-access",
                             json={"repositories": ["acme/infrajet"], "permission": "admin"},
                             headers=make_key(viewer)).get_json()["results"][0]
    assert admin_only["accessible"] is False and admin_only["reason"] == "needs admin, you have write"
    bad = client.post("/api/v1/github/repositories/validate-access", json={"repositories": ["no-slash"]},
                      headers=make_key(viewer))
    assert bad.status_code == 422 and "repositories" in bad.get_json()["errors"]["json"]


def test_create_repository_through_the_app(client: Any, db: Any, mirrored: Any, make_user: Any,
                                           make_key: Any) -> None:
    admin = make_user("admin")
    headers = make_key(admin, "admin")
    response = client.post("/api/v1/github/repositories", json={"owner": "acme", "name": "new-service",
                                                                "description": "made by Gantry"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["full_name"] == "acme/new-service" and created["installation_id"] == 101 and created["private"]
    call = mirrored.calls("POST", r"^/orgs/acme/repos$")[0]
    assert call.auth == "installation:101" and call.json["name"] == "new-service"
    db.session.expire_all()
    assert db.session.get(RepositoryAccess, (admin.id, created["id"])).permission == "admin"
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "repository.create")) is not None
    again = client.post("/api/v1/github/repositories", json={"owner": "acme", "name": "new-service"}, headers=headers)
    assert again.status_code == 422 and "already exists" in str(again.get_json()["errors"])
    missing = client.post("/api/v1/github/repositories", json={"owner": "stranger", "name": "x"}, headers=headers)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_installed"


@pytest.mark.parametrize("role,scopes", [("maintainer", ("read", "sync:write")), ("admin", ("read",))])
def test_create_repository_needs_admin(client: Any, mirrored: Any, make_user: Any, make_key: Any, role: str,
                                       scopes: tuple[str, ...]) -> None:
    response = client.post("/api/v1/github/repositories", json={"owner": "acme", "name": "x"},
                           headers=make_key(make_user(role), *scopes))
    assert response.status_code == 403
    assert not mirrored.calls("POST", r"/repos$")


def test_scoped_installation_token(client: Any, db: Any, mirrored: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    body = {"installation_id": 101, "repositories": ["acme/widgets"], "permissions": {"contents": "read"}}
    response = client.post("/api/v1/github/installation/token", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    token = response.get_json()
    assert token["token"].startswith("ghs_") and token["repositories"] == ["acme/widgets"]
    assert token["permissions"] == {"contents": "read"}
    assert mirrored.calls("POST", r"^/app/installations/101/access_tokens$")[0].json == {
        "repositories": ["widgets"], "permissions": {"contents": "read"}}
    # the token works for that repository only
    from webapp.integrations.github import github

    assert github().user_request(token["token"], "GET", "/repos/acme/widgets")["id"] == WIDGETS
    db.session.expire_all()
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "github.installation_token"))
    assert event.details["repositories"] == ["widgets"] and token["token"] not in str(event.details)


@pytest.mark.parametrize("body,status", [
    ({"installation_id": 101, "repositories": ["octo-user/dotfiles"]}, 404),  # another installation's repository
    ({"installation_id": 424242}, 404),
    ({"installation_id": 101, "permissions": {"secrets": "write"}}, 422),
    ({"installation_id": 101, "permissions": {"contents": "sudo"}}, 422),
    ({"repositories": ["acme/widgets"]}, 422),
])
def test_scoped_token_refusals(client: Any, mirrored: Any, make_user: Any, make_key: Any, body: dict[str, Any],
                               status: int) -> None:
    response = client.post("/api/v1/github/installation/token", json=body, headers=make_key(make_user("admin"),
                                                                                           "admin"))
    assert response.status_code == status
    assert not mirrored.calls("POST", r"/access_tokens$")


@pytest.mark.parametrize("role,scopes", [("viewer", ("read",)), ("maintainer", ("read", "webhooks:write")),
                                         ("admin", ("read",))])
def test_scoped_token_is_admin_only(client: Any, mirrored: Any, make_user: Any, make_key: Any, role: str,
                                    scopes: tuple[str, ...]) -> None:
    response = client.post("/api/v1/github/installation/token", json={"installation_id": 101},
                           headers=make_key(make_user(role), *scopes))
    assert response.status_code == 403


def test_installations_visible_to_the_caller(client: Any, mirrored: Any, make_user: Any, make_key: Any,
                                             grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    seen = client.get("/api/v1/github/installations", headers=make_key(viewer)).get_json()["items"]
    assert [i["id"] for i in seen] == [101]
    everyone = client.get("/api/v1/github/installations", headers=make_key(make_user("admin"), "admin")).get_json()
    assert {i["id"] for i in everyone["items"]} == {101, 102}
    nobody = client.get("/api/v1/github/installations", headers=make_key(make_user("viewer"))).get_json()
    assert nobody["items"] == []


def test_connection_profile_and_disconnect(client: Any, db: Any, mirrored: Any, github_user: Any, make_key: Any,
                                           grant: Any) -> None:
    user = github_user("viewer", "octocat")
    grant(user, INFRAJET)
    headers = make_key(user)
    status = client.get("/api/v1/github/connection", headers=headers).get_json()
    assert status["connected"] is True and status["login"] == "octocat" and status["app_configured"] is True
    assert status["repositories"] == 1
    assert client.get("/api/v1/github/user", headers=headers).get_json()["login"] == "octocat"
    token = db.session.get(GitHubAccount, user.id).access_token
    response = client.post("/api/v1/github/disconnect", json={"revoke": True}, headers=headers)
    assert response.get_json() == {"disconnected": True, "revoked": True, "login": "octocat"}
    assert mirrored.state.revoked_grants == [token]
    db.session.expire_all()
    assert db.session.get(GitHubAccount, user.id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RepositoryAccess)) == 0
    assert client.get("/api/v1/github/connection", headers=headers).get_json()["connected"] is False
    assert client.get("/api/v1/github/user", headers=headers).status_code == 404
    assert client.post("/api/v1/github/disconnect", json={}, headers=headers).status_code == 404


def test_install_url(client: Any, fake_github: Any, make_user: Any, make_key: Any) -> None:
    body = client.get("/api/v1/github/install", headers=make_key(make_user("viewer"))).get_json()
    assert body == {"url": f"{fake_github.url}/apps/gantry-test/installations/new", "app_slug": "gantry-test"}


def test_health(app: Any, client: Any, fake_github: Any, make_user: Any, make_key: Any, monkeypatch: Any) -> None:
    health = client.get("/api/v1/github/health", headers=make_key(make_user("viewer"))).get_json()
    assert health["ok"] and health["configured"] and health["jwt"] and health["api"]
    assert client.get("/health/github").get_json() == {"status": "ok", "configured": True, "jwt": True, "api": True}
    from webapp.core.jobs import redis_connection

    redis_connection().flushdb()
    monkeypatch.setitem(app.config, "GITHUB_APP_ID", None)
    down = client.get("/health/github")
    assert down.status_code == 503 and down.get_json()["configured"] is False


def test_health_when_github_is_down(client: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/app$", 503, times=3)
    response = client.get("/health/github")
    assert response.status_code == 503 and response.get_json()["api"] is False


def test_status_and_metrics_show_github(client: Any, fake_github: Any, login_as: Any) -> None:
    login_as("admin")
    status = client.get("/status.json").get_json()
    assert status["components"]["github"]["ok"] is True
    from webapp.integrations.github import github

    github().installation_request(101, "GET", "/installation/repositories")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gantry_github_rate_limit_remaining{identity="installation:101"} 4999.0' in metrics


PROTECTED_ROUTES = [
    ("GET", "/api/v1/repos"), ("GET", "/api/v1/repos/acme/infrajet"), ("GET", "/api/v1/repos/acme/infrajet/commits"),
    ("GET", "/api/v1/github/connection"), ("POST", "/api/v1/github/disconnect"), ("GET", "/api/v1/github/install"),
    ("GET", "/api/v1/github/installations"), ("GET", "/api/v1/github/user"), ("GET", "/api/v1/github/health"),
    ("POST", "/api/v1/github/repositories/validate-access"), ("POST", "/api/v1/github/repositories"),
    ("POST", "/api/v1/github/installation/token"), ("GET", "/api/v1/github/hooks"), ("POST", "/api/v1/github/hooks"),
    ("GET", "/api/v1/github/hooks/1"), ("DELETE", "/api/v1/github/hooks/1"), ("POST", "/api/v1/github/hooks/1/ping"),
    ("POST", "/api/v1/github/installations/reconcile"),
]


def test_anonymous_callers_are_refused_everywhere(client: Any) -> None:
    answers = {f"{method} {path}": client.open(path, method=method, json={}) for method, path in PROTECTED_ROUTES}
    wrong = {route: r.status_code for route, r in answers.items()
             if r.status_code != 401 or r.get_json()["code"] != "unauthorized"}
    assert wrong == {}


def test_reconcile_endpoint_queues_the_job(client: Any, fake_github: Any, make_user: Any, make_key: Any,
                                           db: Any, run_jobs: Any) -> None:
    assert client.post("/api/v1/github/installations/reconcile",
                       headers=make_key(make_user("maintainer"), "read")).status_code == 403
    response = client.post("/api/v1/github/installations/reconcile", headers=make_key(make_user("admin"), "admin"))
    assert response.status_code == 202 and response.get_json()["job_id"] == "repos-reconcile-manual"
    run_jobs()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Repository)) == 3


def test_search_treats_wildcards_literally_and_stays_within_access(client: Any, mirrored: Any, make_user: Any,
                                                                   make_key: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    headers = make_key(viewer)
    assert client.get("/api/v1/repos?q=%25", headers=headers).get_json()["items"] == []
    assert client.get("/api/v1/repos?q=_", headers=headers).get_json()["items"] == []
    assert [r["id"] for r in client.get("/api/v1/repos?q=acme", headers=headers).get_json()["items"]] == [INFRAJET]
    assert client.get("/api/v1/repos?q=acme", headers=make_key(make_user("viewer"))).get_json()["items"] == []


def test_rejected_user_token_asks_to_reconnect(client: Any, fake_github: Any, github_user: Any,
                                               make_key: Any) -> None:
    headers = make_key(github_user("viewer", "octocat"))
    fake_github.state.user_tokens.clear()
    response = client.get("/api/v1/github/user", headers=headers)
    assert response.status_code == 409 and response.get_json()["code"] == "github_token_rejected"


def test_an_admin_substring_search_can_be_served_by_trigram_indexes(app: Any, db: Any, mirrored: Any,
                                                                       make_user: Any) -> None:
    """The indexes' expressions are the search's own, so PostgreSQL can use them for `LIKE '%term%'`
    (on a table this small it would rather scan, so scans are switched off to ask whether it can)."""
    from webapp.repos.service import count_repositories, visible_repositories_query

    admin = make_user("admin")
    query = visible_repositories_query(admin, "widg")
    compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.session.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
    assert "ix_repositories_full_name_trgm" in plan and "ix_repositories_description_trgm" in plan, plan
    assert [r.full_name for r in db.session.scalars(query)] == ["acme/widgets"]
    assert count_repositories(admin, "widg") == 1
    db.session.rollback()
