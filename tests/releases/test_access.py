"""Who may do what: anonymous, viewer, maintainer, admin, keys without the scope, other repositories' ids."""

from __future__ import annotations

from typing import Any

import pytest

from tests.releases.helpers import environment, published_release

API = "/api/v1/releases"


@pytest.fixture
def world(repo: Any, other_repo: Any, commit: Any, make_user: Any, grant: Any) -> dict[str, Any]:
    sha = commit("feat: x")[-1]
    author = make_user("maintainer", username="author")
    grant(author)
    dev = environment("dev", 0)
    release = published_release("1.0.0", sha, author)
    from webapp.extensions import db
    from webapp.releases.models import Environment, Release

    hidden_env = Environment(repository_id=other_repo.id, name="prod", position=0)
    hidden_release = Release(repository_id=other_repo.id, version="9.9.9", tag_name="v9.9.9", target="main",
                             target_sha=sha, status="published", created_by_id=author.id)
    db.session.add_all([hidden_env, hidden_release])
    db.session.commit()
    return {"dev": dev.id, "release": release.id, "hidden_env": hidden_env.id, "hidden_release": hidden_release.id,
            "author": author}


def test_anonymous_gets_401_on_the_api_and_the_login_page_for_pages(client: Any, world: Any) -> None:
    assert client.get(API).status_code == 401
    promote = client.post(f"{API}/{world['release']}/deployments", json={"environment_id": world["dev"]})
    assert promote.status_code == 401
    assert client.get("/api/v1/repos/1001/environments").status_code == 401
    page = client.get(f"/releases/{world['release']}")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_viewers_read_but_cannot_write(client: Any, world: Any, make_user: Any, make_key: Any, grant: Any) -> None:
    viewer = make_user("viewer")
    grant(viewer, permission="read")
    key = make_key(viewer, "read")
    assert client.get(f"{API}/{world['release']}", headers=key).status_code == 200
    assert client.get("/api/v1/repos/1001/environments", headers=key).json[0]["name"] == "dev"
    for method, url, body in (
        ("post", f"{API}/{world['release']}/deployments", {"environment_id": world["dev"]}),
        ("post", "/api/v1/repos/1001/environments", {"name": "qa"}),
        ("post", f"{API}/{world['release']}/publish", None),
    ):
        answer = getattr(client, method)(url, json=body, headers=key)
        assert answer.status_code == 403 and answer.json["code"] == "role_required", url


def test_a_key_without_the_releases_scope_is_refused(client: Any, world: Any, make_user: Any, make_key: Any,
                                                     grant: Any) -> None:
    maintainer = make_user("maintainer")
    grant(maintainer)
    key = make_key(maintainer, "read", "builds:write")
    answer = client.post(f"{API}/{world['release']}/deployments", json={"environment_id": world["dev"]}, headers=key)
    assert answer.status_code == 403 and answer.json["code"] == "scope_required"
    assert client.post("/api/v1/repos/1001/environments", json={"name": "qa"}, headers=key).status_code == 403


def test_other_repositories_are_404_for_non_admins(client: Any, world: Any, make_user: Any, make_key: Any,
                                                   grant: Any) -> None:
    maintainer = make_user("maintainer")
    grant(maintainer)
    key = make_key(maintainer, "read", "releases:write")
    assert client.get(f"{API}/{world['hidden_release']}", headers=key).status_code == 404
    assert client.get("/api/v1/repos/1002/environments", headers=key).status_code == 404
    assert client.get(f"/api/v1/repos/1002/environments/{world['hidden_env']}", headers=key).status_code == 404
    # another repository's environment id under a visible repository, or the other way round
    assert client.get(f"/api/v1/repos/1001/environments/{world['hidden_env']}", headers=key).status_code == 404
    answer = client.post(f"{API}/{world['release']}/deployments", json={"environment_id": world["hidden_env"]},
                         headers=key)
    assert answer.status_code == 404
    listed = client.get(API, headers=key).json["items"]
    assert [r["version"] for r in listed] == ["1.0.0"]
    assert client.get(f"/releases/{world['hidden_release']}").status_code in (302, 404)


def test_admins_see_every_repository(client: Any, world: Any, make_user: Any, make_key: Any) -> None:
    admin = make_user("admin")
    key = make_key(admin, "read", "admin")
    assert {r["version"] for r in client.get(API, headers=key).json["items"]} == {"1.0.0", "9.9.9"}


def test_approvals_are_recorded_as_the_key_owner(client: Any, world: Any, make_user: Any, make_key: Any,
                                                 grant: Any, db: Any) -> None:
    from webapp.releases.models import Environment

    dev = db.session.get(Environment, world["dev"])
    dev.required_approvals = 1
    db.session.commit()
    approver = make_user("maintainer", username="approver")
    grant(approver)
    deployment = client.post(f"{API}/{world['release']}/deployments", json={"environment_id": world["dev"]},
                             headers=make_key(world["author"], "read", "releases:write")).json
    approved = client.post(f"{API}/deployments/{deployment['id']}/approvals", json={},
                           headers=make_key(approver, "read", "releases:write")).json
    assert approved["approvals"][0]["username"] == "approver" and approved["approvals"][0]["via"] == "api_key"


def test_linked_builds_show_only_where_their_repository_is_visible(client: Any, world: Any, browser: Any,
                                                                   login_as: Any, grant: Any, make_user: Any,
                                                                   make_key: Any, db: Any) -> None:
    from tests.builds.conftest import build_body
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.releases.models import Release

    load_default_catalogue()
    admin = make_key(make_user("admin"), "admin")
    shown = client.post("/api/v1/builds", json=build_body("visible-build-1", repository="acme/infrajet"),
                        headers=admin).json
    hidden = client.post("/api/v1/builds", json=build_body("hidden-build-7", repository="acme/widgets",
                                                           pipeline_url="https://ci.example/secret-pipeline"),
                         headers=admin).json
    release = db.session.get(Release, world["release"])
    release.build_uuids = sorted([shown["uuid"], hidden["uuid"]])
    db.session.commit()

    grant(login_as("viewer"), permission="read")  # sees acme/infrajet, not acme/widgets
    page = browser.get(f"/releases/{world['release']}").get_data(as_text=True)
    assert "visible-build-1" in page and shown["uuid"] in page
    assert "hidden-build-7" not in page and "secret-pipeline" not in page and hidden["uuid"] not in page

    login_as("admin")
    page = browser.get(f"/releases/{world['release']}").get_data(as_text=True)
    assert "visible-build-1" in page and "hidden-build-7" in page


def test_the_api_names_only_linked_builds_the_reader_may_see(client: Any, world: Any, grant: Any,
                                                             make_user: Any, make_key: Any, db: Any) -> None:
    from tests.builds.conftest import build_body
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.releases.models import Release

    load_default_catalogue()
    admin = make_key(make_user("admin"), "admin")
    shown = client.post("/api/v1/builds", json=build_body("visible-build-1", repository="acme/infrajet"),
                        headers=admin).json["uuid"]
    hidden = client.post("/api/v1/builds", json=build_body("hidden-build-7", repository="acme/widgets"),
                         headers=admin).json["uuid"]
    unknown = "00000000-0000-4000-8000-000000000001"  # not (yet) a build anywhere: nothing to hide
    release = db.session.get(Release, world["release"])
    release.build_uuids = sorted([shown, hidden, unknown])
    db.session.commit()
    maintainer = make_user("maintainer")
    grant(maintainer)  # acme/infrajet, not acme/widgets
    key = make_key(maintainer, "read", "releases:write")

    one = client.get(f"{API}/{world['release']}", headers=key).json
    listed = client.get(API, headers=key).json["items"]
    by_admin = client.get(f"{API}/{world['release']}", headers=admin).json
    relinked = client.put(f"{API}/{world['release']}/builds", json={"build_uuids": []}, headers=key)

    assert one["build_uuids"] == sorted([shown, unknown])
    assert [r["build_uuids"] for r in listed] == [sorted([shown, unknown])]
    assert by_admin["build_uuids"] == sorted([shown, hidden, unknown])
    # the link they never saw is not theirs to remove
    assert relinked.status_code == 200 and relinked.json["build_uuids"] == []
    db.session.expire_all()
    assert db.session.get(Release, world["release"]).build_uuids == [hidden]
