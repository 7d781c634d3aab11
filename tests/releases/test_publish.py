"""Cutting and publishing releases against the fake GitHub: preview, notes, one tag and one release."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.github.releases import lose_response, releases_of, tags_of
from tests.releases.conftest import NAME, OWNER, REPO_ID

API = "/api/v1/releases"


@pytest.fixture
def maintainer(make_user: Any, make_key: Any, grant: Any) -> tuple[Any, dict[str, str]]:
    user = make_user("maintainer")
    grant(user)
    return user, make_key(user, "read", "releases:write")


def cut(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post(API, json={"repository_id": REPO_ID, **body}, headers=headers)


def test_preview_shows_version_notes_and_range_and_writes_nothing(client: Any, commit: Any, maintainer: Any,
                                                                   fake_github: Any, db: Any) -> None:
    shas = commit("feat(ui): dark mode (#12)", "fix: crash on save", "chore: deps")
    response = client.post(f"{API}/preview", json={"repository_id": REPO_ID, "target": "main"},
                           headers=maintainer[1])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["target_sha"] == shas[-1] and body["base_sha"] is None
    assert body["version"] == "0.1.0" and body["tag_name"] == "v0.1.0"
    assert [s["title"] for s in body["sections"]] == ["Features", "Bug fixes", "Chores", "Other changes"]
    assert body["sections"][0]["changes"][0]["pr_number"] == 12
    assert "- **ui:** dark mode (#12)" in body["markdown"]
    assert not fake_github.calls("POST", r"^/repos/")  # a preview writes nothing to GitHub
    from webapp.releases.models import Release

    assert db.session.query(Release).count() == 0


def test_cut_resolves_target_to_sha_and_next_release_reads_compare(client: Any, commit: Any, maintainer: Any,
                                                                    fake_github: Any) -> None:
    first = commit("feat: first")
    created = cut(client, maintainer[1], target="main", version="1.0.0")
    assert created.status_code == 201, created.json
    assert created.json["target_sha"] == first[-1] and created.json["status"] == "draft"
    second = commit("fix: typo", "feat(api): pagination", "docs: readme\n\nRelease-As: 1.5.0")
    preview = client.post(f"{API}/preview", json={"repository_id": REPO_ID}, headers=maintainer[1]).json
    assert preview["base_sha"] == first[-1] and preview["target_sha"] == second[-1]
    assert preview["commit_count"] == 3 and preview["previous_version"] == "1.0.0"
    assert preview["version"] == "1.5.0" and preview["bump"] == "release-as"
    assert fake_github.calls("GET", rf"/repos/{OWNER}/{NAME}/compare/{first[-1]}\.\.\.{second[-1]}")
    again = cut(client, maintainer[1])
    assert again.status_code == 201 and again.json["version"] == "1.5.0"


def test_nothing_to_release_is_said_not_skipped(client: Any, commit: Any, maintainer: Any) -> None:
    commit("feat: one")
    assert cut(client, maintainer[1], version="1.0.0").status_code == 201
    preview = client.post(f"{API}/preview", json={"repository_id": REPO_ID}, headers=maintainer[1]).json
    assert preview["releasable"] is False and "no commits" in preview["reason"]
    refused = cut(client, maintainer[1])
    assert refused.status_code == 409 and refused.json["code"] == "nothing_to_release"
    commit("chore: tidy", "docs: typo")
    chores = client.post(f"{API}/preview", json={"repository_id": REPO_ID}, headers=maintainer[1]).json
    assert chores["releasable"] is False and chores["reason"].startswith("Nothing releasable")
    assert cut(client, maintainer[1], version="1.0.1").status_code == 201  # a person may still decide to


def test_versions_are_unique_and_must_move_forward(client: Any, commit: Any, maintainer: Any) -> None:
    commit("feat: one")
    assert cut(client, maintainer[1], version="2.0.0").status_code == 201
    commit("fix: two")
    backwards = cut(client, maintainer[1], version="1.9.0")
    assert backwards.status_code == 422 and "version" in backwards.json["errors"]
    junk = cut(client, maintainer[1], version="2.1")
    assert junk.status_code == 422 and junk.json["errors"] == {"version": ["not a semantic version, e.g. 1.4.0"]}
    unknown = cut(client, maintainer[1], target="no-such-branch")
    assert unknown.status_code == 422 and "target" in unknown.json["errors"]


def publish(client: Any, headers: dict[str, str], release_id: int) -> Any:
    return client.post(f"{API}/{release_id}/publish", headers=headers)


def test_publish_creates_one_tag_and_one_release(client: Any, commit: Any, maintainer: Any, fake_github: Any,
                                                 run_jobs: Any, db: Any) -> None:
    shas = commit("feat: shiny")
    release = cut(client, maintainer[1], version="1.0.0", title="Shiny").json
    assert publish(client, maintainer[1], release["id"]).status_code == 202
    run_jobs()
    got = client.get(f"{API}/{release['id']}", headers=maintainer[1]).json
    assert got["status"] == "published" and got["github_release_id"]
    assert tags_of(fake_github, OWNER, NAME) == {"v1.0.0": shas[-1]}
    [made] = releases_of(fake_github, OWNER, NAME)
    assert made["name"] == "Shiny" and "shiny" in made["body"]
    # publishing again does nothing more
    assert publish(client, maintainer[1], release["id"]).json["status"] == "published"
    run_jobs()
    assert len(fake_github.calls("POST", r"/releases$")) == 1
    assert len(fake_github.calls("POST", r"/git/refs$")) == 1


@pytest.mark.parametrize("failure", [
    ("fail", "GET", r"/git/ref/tags/"),         # could not look for the tag
    ("fail", "POST", r"/git/refs$"),            # could not create the tag
    ("fail", "GET", r"/releases/tags/"),        # could not look for the release
    ("fail", "POST", r"/releases$"),            # could not create the release
    ("lose", "POST", r"/releases$"),            # the release was created but the answer was lost
])
def test_publish_retried_after_a_failure_at_any_step_leaves_one_tag_and_one_release(
        failure: tuple[str, str, str], client: Any, commit: Any, maintainer: Any, fake_github: Any, run_jobs: Any,
        db: Any) -> None:
    from webapp.releases import publishing
    from webapp.releases.models import Release

    shas = commit("fix: important")
    release_id = cut(client, maintainer[1], version="1.0.1").json["id"]
    kind, method, pattern = failure
    if kind == "fail":
        # the client retries an idempotent GET twice itself; a POST is tried once
        fake_github.fail(method, pattern, 502, times=3 if method == "GET" else 1)
    else:
        lose_response(fake_github, method, pattern)
    assert publish(client, maintainer[1], release_id).status_code == 202
    db.session.expire_all()
    with pytest.raises(Exception):  # noqa: B017 - the task raises so RQ retries it
        publishing.run_publish(release_id)
    db.session.expire_all()
    stuck = db.session.get(Release, release_id)
    assert stuck.status == "publishing" and stuck.publish_error
    assert publishing.run_publish(release_id) == "published"  # the retry completes what is missing
    db.session.expire_all()
    done = db.session.get(Release, release_id)
    assert done.status == "published" and done.publish_error is None
    assert tags_of(fake_github, OWNER, NAME) == {"v1.0.1": shas[-1]}
    assert len(releases_of(fake_github, OWNER, NAME)) == 1
    assert done.github_release_id == releases_of(fake_github, OWNER, NAME)[0]["id"]


def test_a_tag_left_by_a_lost_attempt_is_reused(client: Any, commit: Any, maintainer: Any, fake_github: Any,
                                                run_jobs: Any) -> None:
    shas = commit("feat: x")
    release_id = cut(client, maintainer[1], version="0.2.0").json["id"]
    fake_github.state.extra["git"].repo(OWNER, NAME).refs["refs/tags/v0.2.0"] = shas[-1]
    publish(client, maintainer[1], release_id)
    run_jobs()
    assert client.get(f"{API}/{release_id}", headers=maintainer[1]).json["status"] == "published"
    assert not fake_github.calls("POST", r"/git/refs$")
    assert len(releases_of(fake_github, OWNER, NAME)) == 1


def test_a_tag_on_another_commit_stops_publishing_with_a_reason(client: Any, commit: Any, maintainer: Any,
                                                               fake_github: Any, run_jobs: Any) -> None:
    shas = commit("feat: x", "fix: y")
    release_id = cut(client, maintainer[1], version="0.3.0").json["id"]
    fake_github.state.extra["git"].repo(OWNER, NAME).refs["refs/tags/v0.3.0"] = shas[0]
    publish(client, maintainer[1], release_id)
    run_jobs()
    got = client.get(f"{API}/{release_id}", headers=maintainer[1]).json
    assert got["status"] == "failed" and "already exists on GitHub" in got["publish_error"]
    assert releases_of(fake_github, OWNER, NAME) == []


def test_publishing_is_audited_and_lost_enqueues_are_swept(client: Any, commit: Any, maintainer: Any,
                                                          run_jobs: Any, db: Any, fake_github: Any) -> None:
    from webapp.core.audit import AuditEvent
    from webapp.releases import deployments
    from webapp.releases.models import Release

    commit("feat: x")
    release_id = cut(client, maintainer[1], version="0.1.0").json["id"]
    db.session.get(Release, release_id).status = "publishing"  # asked for, but the job never made it to Redis
    db.session.commit()
    deployments.sweep()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Release, release_id).status == "published"
    actions = {e.action for e in db.session.query(AuditEvent).filter_by(target_type="release")}
    assert {"release.create", "release.published"} <= actions


def test_a_repository_without_the_app_fails_publishing_with_a_reason(client: Any, commit: Any, maintainer: Any,
                                                                     run_jobs: Any, db: Any) -> None:
    from webapp.releases import deployments
    from webapp.repos.models import Repository

    commit("feat: x")
    release_id = cut(client, maintainer[1], version="1.0.0").json["id"]
    db.session.get(Repository, REPO_ID).installation_id = None  # the App was removed meanwhile
    db.session.commit()
    publish(client, maintainer[1], release_id)
    run_jobs()
    got = client.get(f"{API}/{release_id}", headers=maintainer[1]).json
    assert got["status"] == "failed" and "not in a GitHub App installation" in got["publish_error"]
    assert deployments.sweep()["remirrored"] == 0  # nothing is retried behind people's backs
