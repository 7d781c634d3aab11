"""Pages: repository list and detail, the GitHub connection page, repository webhooks, demo data."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.conftest import PASSWORD, Browser
from tests.repos.conftest import INFRAJET
from webapp.repos.models import GitHubAccount, Installation, Repository, RepositoryAccess


def _sign_in(client: Any, user: Any) -> Browser:
    browser = Browser(client)
    assert browser.login(user.username, PASSWORD).status_code in (302, 303)
    return browser


def test_repository_list_search_and_fragment(client: Any, mirrored: Any, make_user: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    browser = _sign_in(client, viewer)
    page = browser.get("/repos").get_data(as_text=True)
    assert "acme/infrajet" in page and "acme/widgets" not in page and "1 repository" in page
    assert ">Repositories<" in page  # nav entry
    fragment = browser.get("/repos?q=nothing-like-this", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and "No repository matches" in fragment


def test_repository_detail_shows_commits(client: Any, mirrored: Any, make_user: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    browser = _sign_in(client, viewer)
    page = browser.get("/repos/acme/infrajet").get_data(as_text=True)
    assert "Change 0 of acme/infrajet" in page and "read" in page
    assert browser.get("/repos/acme/widgets").status_code == 404
    assert browser.get("/repos/octo-user/dotfiles").status_code == 404


def test_commit_failure_is_shown_inline(client: Any, mirrored: Any, make_user: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, INFRAJET)
    mirrored.fail("GET", r"/commits$", 500, times=3)
    response = _sign_in(client, viewer).get("/repos/acme/infrajet")
    assert response.status_code == 200 and "Commits could not be read from GitHub" in response.get_data(as_text=True)


def test_pages_need_sign_in(client: Any) -> None:
    for path in ("/repos", "/repos/acme/infrajet", "/github", "/github/hooks", "/github/app"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_connection_page_and_disconnect(client: Any, db: Any, mirrored: Any, github_user: Any) -> None:
    user = github_user("viewer", "octocat")
    browser = _sign_in(client, user)
    page = browser.get("/github").get_data(as_text=True)
    assert "Connected as" in page, page
    assert "octocat" in page and "gantry-test" in page
    assert "Register GitHub App" not in page
    response = browser.post("/github/disconnect", data={"revoke": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(GitHubAccount, user.id) is None
    assert len(mirrored.state.revoked_grants) == 1
    assert "Connect GitHub" in browser.get("/github").get_data(as_text=True)


def test_hooks_page_sets_up_and_removes(client: Any, db: Any, mirrored: Any, github_user: Any, grant: Any) -> None:
    user = github_user("maintainer", "octocat", classic=True)
    grant(user, 1001, "admin")
    browser = _sign_in(client, user)
    response = browser.post("/github/hooks", data={"repository": "acme/webhook-manager"})
    assert response.status_code == 302
    page = browser.get("/github/hooks").get_data(as_text=True)
    assert "acme/webhook-manager" in page and "waiting for ping" in page
    hook_id = mirrored.state.hooks[1004][0]["id"]
    row = browser.get(f"/github/hooks/{hook_id}/status", htmx=True).get_data(as_text=True)
    assert row.strip().startswith(f'<tr id="hook-{hook_id}"') and 'hx-trigger="every 3s"' in row
    refused = browser.post("/github/hooks", data={"repository": "acme/infrajet"})
    assert refused.status_code == 409 and "already reach Gantry" in refused.get_data(as_text=True)
    assert browser.post(f"/github/hooks/{hook_id}/remove").status_code == 302
    assert mirrored.state.hooks[1004] == []


def test_hooks_page_says_why_an_app_sign_in_cannot_set_up_a_hook(client: Any, mirrored: Any,
                                                                github_user: Any) -> None:
    browser = _sign_in(client, github_user("maintainer", "octocat"))
    refused = browser.post("/github/hooks", data={"repository": "acme/webhook-manager"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "GITHUB_OAUTH_CLIENT_KIND=oauth_app" in page
    assert "Install the GitHub App on acme/webhook-manager" in page
    assert not mirrored.calls("POST", r"/hooks$")


def test_viewer_cannot_set_up_hooks(client: Any, mirrored: Any, github_user: Any) -> None:
    browser = _sign_in(client, github_user("viewer", "octocat"))
    assert browser.post("/github/hooks", data={"repository": "acme/webhook-manager"}).status_code == 403
    assert not mirrored.calls("POST", r"/hooks$")


def test_admin_can_ask_for_a_reconcile(client: Any, db: Any, fake_github: Any, make_user: Any,
                                       run_jobs: Any) -> None:
    browser = _sign_in(client, make_user("admin"))
    assert browser.post("/github/reconcile").status_code == 302
    run_jobs()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Repository)) == 3


def test_demo_data_is_idempotent(app: Any, db: Any, make_user: Any) -> None:
    from webapp.repos.demo import seed_repositories

    admin = make_user("admin")
    make_user("viewer", username="victor")
    seed_repositories(admin)
    seed_repositories(admin)
    names = set(db.session.scalars(sa.select(Repository.full_name)))
    assert names == {"gantry-demo/infrajet", "gantry-demo/webhook-manager"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Installation)) == 1
    assert db.session.scalars(sa.select(RepositoryAccess.permission)).all() == ["read"]


def test_repository_page_says_inline_why_commits_cannot_be_read(client: Any, mirrored: Any, github_user: Any,
                                                                 grant: Any) -> None:
    """An App sign-in token on a repository without the App: the page names the reason and the fix."""
    from webapp.repos.mirror import upsert_repository

    upsert_repository(mirrored.state.repositories[1004], None)
    user = github_user("maintainer", "octocat")
    grant(user, 1004, "admin")
    page = _sign_in(client, user).get("/repos/acme/webhook-manager")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Commits could not be read" in text and "GITHUB_OAUTH_CLIENT_KIND=oauth_app" in text
    assert not mirrored.calls("GET", r"/commits$")
