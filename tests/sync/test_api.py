"""The projects, files and /api/v1/github/ sync endpoints: behaviour, bad input and access rules."""

from __future__ import annotations

import base64

import pytest

from tests.sync.conftest import NAME, OTHER_REPO_ID, OWNER, REPO_ID, remote_files
from webapp.sync.models import Project, ProjectFile, SyncRun
from webapp.sync.plan import blob_sha


@pytest.fixture
def maintainer(make_user, grant):
    user = make_user("maintainer")
    grant(user, REPO_ID)
    return user


@pytest.fixture
def writer(maintainer, make_key):
    return make_key(maintainer, "read", "sync:write")


def test_project_crud_and_files(client, writer, repos, git, db):
    created = client.post("/api/v1/projects", json={"name": "net", "repository_id": REPO_ID,
                                                    "base_path": "/infra/net/"}, headers=writer)
    assert created.status_code == 201, created.json
    project = created.json
    assert project["branch"] == "main" and project["base_path"] == "infra/net"
    url = f"/api/v1/projects/{project['id']}/files/modules/vpc.tf"
    put = client.put(url, json={"content": "resource {}\n"}, headers=writer)
    assert put.status_code == 201 and put.json["sha"] == blob_sha(b"resource {}\n")
    again = client.put(url, json={"content": "resource { a = 1 }\n", "executable": True}, headers=writer)
    assert again.status_code == 200 and again.json["executable"] is True
    binary = base64.b64encode(b"\x00\x01\x02").decode()
    client.put(f"/api/v1/projects/{project['id']}/files/blob.bin", json={"content": binary, "encoding": "base64"},
               headers=writer)
    got = client.get(f"/api/v1/projects/{project['id']}/files/blob.bin", headers=writer)
    assert got.json["encoding"] == "base64" and base64.b64decode(got.json["content"]) == b"\x00\x01\x02"
    listing = client.get(f"/api/v1/projects/{project['id']}/files", headers=writer).json
    assert [f["path"] for f in listing] == ["blob.bin", "modules/vpc.tf"]
    assert client.delete(url, headers=writer).status_code == 204
    assert client.get(url, headers=writer).status_code == 404
    patched = client.patch(f"/api/v1/projects/{project['id']}", json={"name": "network"}, headers=writer)
    assert patched.json["name"] == "network"
    assert client.delete(f"/api/v1/projects/{project['id']}", headers=writer).status_code == 204
    db.session.expire_all()
    assert db.session.query(Project).count() == 0 and db.session.query(ProjectFile).count() == 0


@pytest.mark.parametrize("path,problem", [
    ("../etc/passwd", "'..'"), (".git/config", ".git"), ("a/../../b", "'..'"),
])
def test_bad_paths_are_refused(client, writer, project, path, problem):
    response = client.put(f"/api/v1/projects/{project.id}/files/{path}", json={"content": "x"}, headers=writer)
    assert response.status_code in (404, 422)
    if response.status_code == 422:
        assert problem in response.json["message"]


def test_bad_bodies_get_clear_errors(client, writer, project, repos):
    assert client.post("/api/v1/projects", json={"name": ""}, headers=writer).status_code == 422
    response = client.put(f"/api/v1/projects/{project.id}/files/a.txt", json={"content": "@@", "encoding": "base64"},
                          headers=writer)
    assert response.status_code == 422 and response.json["code"] == "validation_error"
    response = client.post("/api/v1/github/sync/manual-trigger", json={"project_id": project.id,
                                                                       "paths": ["nope.tf"]}, headers=writer)
    assert response.status_code == 422 and response.json["errors"]["paths"] == ["nope.tf"]
    response = client.post("/api/v1/github/sync/retry", json={"run_id": 999}, headers=writer)
    assert response.status_code == 404


def test_file_over_the_limit_is_413(client, writer, project, app, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_MAX_FILE_BYTES", 10)
    response = client.put(f"/api/v1/projects/{project.id}/files/big.txt", json={"content": "x" * 11},
                          headers=writer)
    assert response.status_code == 413 and response.json["code"] == "payload_too_large"


def test_sync_endpoints_end_to_end(client, writer, project, git, run_jobs, db):
    started = client.post("/api/v1/github/sync/project", json={"project_id": project.id, "message": "First"},
                          headers=writer)
    assert started.status_code == 202 and started.json["status"] == "queued"
    status = client.get(f"/api/v1/github/sync/status/{project.id}", headers=writer).json
    assert status["active"] is True and status["state"] == "queued"
    run_jobs()
    status = client.get(f"/api/v1/github/sync/status/{project.id}", headers=writer).json
    assert status["state"] == "succeeded" and status["active"] is False
    assert status["last_commit_sha"] == git.head(OWNER, NAME).sha

    git.commit_files(OWNER, NAME, {"infra/main.tf": "on github\n"})
    client.put(f"/api/v1/projects/{project.id}/files/main.tf", json={"content": "here\n"}, headers=writer)
    client.put(f"/api/v1/projects/{project.id}/files/new.tf", json={"content": "new\n"}, headers=writer)
    plan = client.post("/api/v1/github/sync/check-conflicts", json={"project_id": project.id}, headers=writer)
    assert plan.status_code == 200
    assert plan.json["counts"] == {"write": 1, "delete": 0, "keep_remote": 0, "conflict": 1, "unchanged": 1}
    assert {f["path"]: f["action"] for f in plan.json["files"]} == {"main.tf": "conflict", "new.tf": "write"}
    head = git.head(OWNER, NAME).sha
    assert git.head(OWNER, NAME).sha == head  # the dry run wrote nothing

    manual = client.post("/api/v1/github/sync/manual-trigger", json={"project_id": project.id,
                                                                     "paths": ["new.tf"]}, headers=writer)
    assert manual.status_code == 202
    run_jobs()
    assert remote_files(git)["infra/new.tf"][0] == b"new\n"
    assert remote_files(git)["infra/main.tf"][0] == b"on github\n"

    history = client.get(f"/api/v1/github/sync/history/{project.id}?limit=1", headers=writer).json
    assert history["items"][0]["id"] == manual.json["id"] and history["next_cursor"]
    older = client.get(f"/api/v1/github/sync/history/{project.id}?cursor={history['next_cursor']}",
                       headers=writer).json
    assert [r["id"] for r in older["items"]] == [started.json["id"]]
    assert older["items"][0]["files"][0]["path"] in ("main.tf", "vars.tf")

    metrics = client.get("/api/v1/github/sync/metrics", headers=writer).json
    assert metrics["syncs"] == 2 and metrics["successes"] == 2 and metrics["failures"] == 0
    assert metrics["files"] == 3 and metrics["api_calls"] > 0 and metrics["last_sync"]


def test_conflict_resolution_over_the_api(client, writer, project, git, run_jobs, db):
    client.post("/api/v1/github/sync/project", json={"project_id": project.id}, headers=writer)
    run_jobs()
    git.commit_files(OWNER, NAME, {"infra/main.tf": "on github\n"})
    client.put(f"/api/v1/projects/{project.id}/files/main.tf", json={"content": "here\n"}, headers=writer)
    run = client.post("/api/v1/github/sync/project", json={"project_id": project.id}, headers=writer).json
    run_jobs()
    got = client.get(f"/api/v1/github/sync/runs/{run['id']}", headers=writer).json
    assert got["status"] == "conflict" and got["conflicts"] == 1
    bad = client.post(f"/api/v1/github/sync/runs/{run['id']}/resolve", json={"path": "main.tf", "choice": "x"},
                      headers=writer)
    assert bad.status_code == 422
    done = client.post(f"/api/v1/github/sync/runs/{run['id']}/resolve",
                       json={"path": "main.tf", "choice": "overwrite"}, headers=writer)
    assert done.status_code == 200
    run_jobs()
    assert remote_files(git)["infra/main.tf"][0] == b"here\n"
    again = client.post(f"/api/v1/github/sync/runs/{run['id']}/resolve",
                        json={"path": "main.tf", "choice": "overwrite"}, headers=writer)
    assert again.status_code == 409


def test_retry_endpoint_only_for_failed_runs(client, writer, project, git, run_jobs, fake_github, db):
    fake_github.fail("GET", r"/branches/main$", 404, times=1)
    run = client.post("/api/v1/github/sync/project", json={"project_id": project.id}, headers=writer).json
    run_jobs()
    failed = client.get(f"/api/v1/github/sync/runs/{run['id']}", headers=writer).json
    assert failed["status"] == "failed" and "does not exist" in failed["error"]
    retried = client.post("/api/v1/github/sync/retry", json={"run_id": run["id"]}, headers=writer)
    assert retried.status_code == 202
    run_jobs()
    done = client.get(f"/api/v1/github/sync/runs/{run['id']}", headers=writer).json
    assert done["status"] == "succeeded" and done["attempts"] == 2
    again = client.post("/api/v1/github/sync/retry", json={"run_id": run["id"]}, headers=writer)
    assert again.status_code == 409 and again.json["code"] == "not_retryable"


def test_repositories_push_and_sync_take_a_files_map(client, writer, repos, git, run_jobs, db):
    pushed = client.post("/api/v1/github/repositories/push", json={
        "repository_id": REPO_ID, "base_path": "deploy", "message": "Push from CI",
        "files": {"app.yaml": "replicas: 2\n",
                  "run.sh": {"content": "#!/bin/sh\n", "executable": True},
                  "icon.bin": {"content": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"}},
    }, headers=writer)
    assert pushed.status_code == 202, pushed.json
    run_jobs()
    files = remote_files(git)
    assert files["deploy/app.yaml"] == (b"replicas: 2\n", "100644")
    assert files["deploy/run.sh"] == (b"#!/bin/sh\n", "100755")
    assert files["deploy/icon.bin"][0] == b"\x00\xff"
    assert git.head(OWNER, NAME).message.startswith("Push from CI")
    synced = client.post("/api/v1/github/repositories/sync", json={
        "repository_id": REPO_ID, "base_path": "deploy", "files": {"app.yaml": "replicas: 3\n"}}, headers=writer)
    assert synced.status_code == 202
    run_jobs()
    files = remote_files(git)
    assert files["deploy/app.yaml"][0] == b"replicas: 3\n"
    assert "deploy/run.sh" not in files and "deploy/icon.bin" not in files
    assert db.session.query(Project).count() == 1  # the same binding was reused
    bad = client.post("/api/v1/github/repositories/push", json={"repository_id": REPO_ID, "files": {"a": 5}},
                      headers=writer)
    assert bad.status_code == 422


# --- access rules ------------------------------------------------------------------------------


def _routes(project_id, run_id):
    return [
        ("get", "/api/v1/projects", None, "read"),
        ("post", "/api/v1/projects", {"name": "x", "repository_id": REPO_ID}, "write"),
        ("get", f"/api/v1/projects/{project_id}", None, "read"),
        ("patch", f"/api/v1/projects/{project_id}", {"name": "y"}, "write"),
        ("get", f"/api/v1/projects/{project_id}/files", None, "read"),
        ("get", f"/api/v1/projects/{project_id}/files/main.tf", None, "read"),
        ("put", f"/api/v1/projects/{project_id}/files/main.tf", {"content": "z\n"}, "write"),
        ("delete", f"/api/v1/projects/{project_id}/files/vars.tf", None, "write"),
        ("post", "/api/v1/github/sync/project", {"project_id": project_id}, "write"),
        ("post", "/api/v1/github/sync/manual-trigger", {"project_id": project_id, "paths": ["main.tf"]}, "write"),
        ("get", f"/api/v1/github/sync/history/{project_id}", None, "read"),
        ("get", f"/api/v1/github/sync/status/{project_id}", None, "read"),
        ("get", f"/api/v1/github/sync/runs/{run_id}", None, "read"),
        ("post", "/api/v1/github/sync/retry", {"run_id": run_id}, "write"),
        ("post", f"/api/v1/github/sync/runs/{run_id}/resolve", {"path": "main.tf", "choice": "overwrite"}, "write"),
        ("post", "/api/v1/github/sync/check-conflicts", {"project_id": project_id}, "read"),
        ("get", "/api/v1/github/sync/metrics", None, "read"),
        ("post", "/api/v1/github/repositories/push", {"repository_id": REPO_ID, "files": {"a.txt": "a"}}, "write"),
        ("post", "/api/v1/github/repositories/sync", {"repository_id": REPO_ID, "files": {"a.txt": "a"}}, "write"),
        ("delete", f"/api/v1/projects/{project_id}", None, "write"),
    ]


@pytest.fixture
def failed_run(project, db):
    run = SyncRun(project_id=project.id, repository_id=REPO_ID, branch="main", sync_id="f" * 32, status="failed")
    db.session.add(run)
    db.session.commit()
    return run.id


def test_anonymous_gets_401(client, project, failed_run):
    for method, url, body, _ in _routes(project.id, failed_run):
        response = getattr(client, method)(url, json=body)
        assert response.status_code == 401, (method, url)


def test_viewer_reads_but_cannot_write(client, make_user, make_key, grant, project, failed_run):
    viewer = make_user("viewer")
    grant(viewer, REPO_ID, "read")
    headers = make_key(viewer, "read")
    for method, url, body, kind in _routes(project.id, failed_run):
        response = getattr(client, method)(url, json=body, headers=headers)
        if kind == "read":
            assert response.status_code == 200, (method, url, response.json)
        else:
            assert response.status_code == 403, (method, url)


def test_key_without_sync_write_scope_is_403(client, maintainer, make_key, project, failed_run):
    headers = make_key(maintainer, "read", "builds:write")
    for method, url, body, kind in _routes(project.id, failed_run):
        if kind == "write":
            response = getattr(client, method)(url, json=body, headers=headers)
            assert response.status_code == 403 and response.json["code"] == "scope_required", (method, url)


def test_maintainer_and_admin_may_write(client, writer, make_user, make_key, project, failed_run, run_jobs):
    admin_headers = make_key(make_user("admin"), "admin")
    for headers in (writer, admin_headers):
        client.put(f"/api/v1/projects/{project.id}/files/vars.tf", json={"content": "v\n"}, headers=headers)
        for method, url, body, _kind in _routes(project.id, failed_run)[:-1]:
            response = getattr(client, method)(url, json=body, headers=headers)
            assert response.status_code < 400 or response.status_code == 409, (method, url, response.json)


def test_other_repositorys_project_is_404(client, make_user, make_key, grant, repos, git, admin, db):
    from webapp.sync import service

    other = service.create_project(admin, {"name": "widgets", "repository_id": OTHER_REPO_ID})
    service.put_file(admin, other.id, "a.txt", b"a")
    other_id = other.id
    run = SyncRun(project_id=other_id, repository_id=OTHER_REPO_ID, branch="main", sync_id="e" * 32,
                  status="failed")
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    user = make_user("maintainer")
    grant(user, REPO_ID)  # access to infrajet only
    headers = make_key(user, "read", "sync:write")
    for method, url, body, _ in _routes(other_id, run_id):
        if url in ("/api/v1/projects", "/api/v1/github/sync/metrics") or "repositories/" in url:
            continue
        response = getattr(client, method)(url, json=body, headers=headers)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/api/v1/projects", headers=headers).json == []
    response = client.post("/api/v1/projects", json={"name": "x", "repository_id": OTHER_REPO_ID}, headers=headers)
    assert response.status_code == 404
    response = client.post("/api/v1/github/repositories/push",
                           json={"repository_id": OTHER_REPO_ID, "files": {"a.txt": "b"}}, headers=headers)
    assert response.status_code == 404
    assert client.get("/api/v1/github/sync/metrics", headers=headers).json["syncs"] == 0


@pytest.mark.parametrize("branch", ["refs/heads/../../x", "a..b", "<script>alert(1)</script>", "x.lock", "a/.b",
                                    "-x", "a b", "@", "x@{1}", "a/", "a.", "refs/tags/v1", "a//b", "a\\b", "a\tb"])
def test_a_branch_git_would_refuse_is_422(client, writer, repos, db, branch):
    from webapp.sync.models import Project

    created = client.post("/api/v1/projects", json={"name": "net", "repository_id": REPO_ID, "branch": branch},
                          headers=writer)
    assert created.status_code == 422, created.json
    assert "branch" in created.json["errors"]
    assert db.session.query(Project).count() == 0


def test_branch_names_git_accepts_are_kept(client, writer, repos):
    created = client.post("/api/v1/projects", json={"name": "net", "repository_id": REPO_ID,
                                                    "branch": "refs/heads/release/1.2"}, headers=writer)
    assert created.status_code == 201 and created.json["branch"] == "release/1.2"
    moved = client.patch(f"/api/v1/projects/{created.json['id']}", json={"branch": "x/../y"}, headers=writer)
    assert moved.status_code == 422 and "branch" in moved.json["errors"]
