"""/api/v1 runner pools and runners: CRUD, validation against AWS, access rules."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.runners.conftest import launch_queued, new_job_id, workflow_job
from webapp.core.audit import AuditEvent
from webapp.repos.models import RepositoryAccess
from webapp.runners.models import Runner, RunnerPool


def _grant(db, user, repo_id):
    db.session.add(RepositoryAccess(user_id=user.id, repository_id=repo_id, permission="write"))
    db.session.commit()


@pytest.fixture
def maintainer(db, make_user, world):
    user = make_user("maintainer")
    _grant(db, user, 1001)
    return user


def _body(fake_aws, **overrides):
    body = {"name": "linux", "labels": ["self-hosted", "Linux"], "max_runners": 4, "min_idle": 1,
            **fake_aws.pool_settings()}
    body.update(overrides)
    return body


class TestCreate:
    def test_a_maintainer_creates_a_repository_pool_checked_against_aws(self, client, db, maintainer, make_key,
                                                                        fake_aws):
        response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws),
                               headers=make_key(maintainer, "runners:write"))
        assert response.status_code == 201, response.json
        body = response.json
        assert body["scope"] == "repository" and body["repository_id"] == 1001 and body["installation_id"] == 101
        assert body["owner"] == "acme/infrajet"
        assert body["labels"] == ["self-hosted", "Linux"]
        assert body["task_cpu"] == 1024 and body["task_memory"] == 2048  # read from the task definition
        assert body["hourly_cost"] == pytest.approx(0.04048 + 2 * 0.004445)
        db.session.expire_all()
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.target_type == "runner_pool")) == \
            "runner_pool.create"

    BAD_SETTINGS: list[tuple[dict[str, Any], str, str]] = [
        ({"labels": []}, "labels", "at least one label"),
        ({"labels": ["ok", "no spaces"]}, "labels", "not a valid label"),
        ({"max_runners": 2, "min_idle": 3}, "min_idle", "cannot be more than max_runners"),
        ({"subnets": []}, "subnets", "at least one subnet"),
        ({"security_groups": ["default"]}, "security_groups", "not security group ids"),
        ({"name": "Bad Name"}, "name", "lower-case"),
        ({"region": "moon-1"}, "region", "not an AWS region"),
        ({"capacity": "LAMBDA"}, "capacity", "Must be one of"),
        ({"max_runners": "many"}, "max_runners", "Not a valid integer"),
        ({"runner_group_id": 3}, "runner_group_id", "organisation pools"),
    ]

    def test_bad_settings_get_a_clear_422(self, client, db, maintainer, make_key, fake_aws):
        headers = make_key(maintainer, "runners:write")
        for overrides, field, text in self.BAD_SETTINGS:
            response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws, **overrides), headers=headers)
            assert response.status_code == 422, (overrides, response.json)
            errors = response.json["errors"].get("json", response.json["errors"])  # schema or service errors
            assert field in errors and text in str(errors[field]), response.json
        assert db.session.scalar(select(RunnerPool.id)) is None

    MISSING_IN_AWS: list[tuple[dict[str, Any], str]] = [
        ({"cluster": "nope"}, "cluster"),
        ({"task_definition": "missing-family"}, "task_definition"),
        ({"container_name": "sidecar"}, "container_name"),
        ({"subnets": ["subnet-0123456789abcdef0"]}, "subnets"),
        ({"security_groups": ["sg-0123456789abcdef0"]}, "security_groups"),
    ]

    def test_what_aws_does_not_have_is_refused(self, client, db, maintainer, make_key, fake_aws):
        headers = make_key(maintainer, "runners:write")
        for overrides, field in self.MISSING_IN_AWS:
            response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws, **overrides), headers=headers)
            assert response.status_code == 422, (overrides, response.json)
            assert field in response.json["errors"], response.json
        assert db.session.scalar(select(RunnerPool.id)) is None

    def test_a_taken_name_is_refused(self, client, maintainer, make_key, fake_aws):
        headers = make_key(maintainer, "runners:write")
        assert client.post("/api/v1/repos/1001/runners", json=_body(fake_aws), headers=headers).status_code == 201
        response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws), headers=headers)
        assert response.status_code == 422 and "name" in response.json["errors"]

    def test_organisation_pools_are_for_admins(self, client, maintainer, make_user, make_key, fake_aws):
        body = _body(fake_aws, scope="organization", installation_id=101, runner_group_id=3)
        response = client.post("/api/v1/runner-pools", json=body, headers=make_key(maintainer, "runners:write"))
        assert response.status_code == 403
        response = client.post("/api/v1/runner-pools", json=body, headers=make_key(make_user("admin"), "admin"))
        assert response.status_code == 201, response.json
        assert response.json["scope"] == "organization" and response.json["runner_group_id"] == 3
        listed = client.get("/api/v1/repos/1001/runners", headers=make_key(maintainer, "read")).json["items"]
        assert [p["name"] for p in listed] == ["linux"]  # the organisation's pool serves the repository

    def test_a_user_installation_cannot_have_an_organisation_pool(self, client, make_user, make_key, fake_aws):
        body = _body(fake_aws, scope="organization", installation_id=102)
        response = client.post("/api/v1/runner-pools", json=body, headers=make_key(make_user("admin"), "admin"))
        assert response.status_code == 422 and "installation_id" in response.json["errors"]


class TestAccess:
    def test_anonymous_gets_401(self, client):
        for method, url in [
            ("post", "/api/v1/repos/1001/runners"), ("get", "/api/v1/runner-pools"), ("get", "/api/v1/runners"),
            ("post", "/api/v1/runner-pools"), ("get", "/api/v1/runners/1"), ("delete", "/api/v1/runners/1"),
            ("get", "/api/v1/runner-pools/1"), ("patch", "/api/v1/runner-pools/1"),
            ("delete", "/api/v1/runner-pools/1"),
        ]:
            assert getattr(client, method)(url, json={}).status_code == 401, (method, url)

    def test_a_viewer_cannot_write(self, client, db, make_user, make_key, fake_aws, world):
        viewer = make_user("viewer")
        _grant(db, viewer, 1001)
        response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws), headers=make_key(viewer, "read"))
        assert response.status_code == 403

    def test_a_key_without_the_runners_scope_cannot_write(self, client, maintainer, make_key, fake_aws):
        response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws),
                               headers=make_key(maintainer, "read", "builds:write"))
        assert response.status_code == 403 and response.json["code"] == "scope_required"

    def test_another_repositorys_ids_are_404(self, client, maintainer, make_key, make_pool, fake_aws, handle):
        other = make_pool(name="widgets", repository_id=1002, aws=fake_aws)
        handle(workflow_job("queued", new_job_id(), repo_id=1002, full_name="acme/widgets"))
        headers = make_key(maintainer, "read", "runners:write")
        runner_id = 1
        assert client.post("/api/v1/repos/1002/runners", json=_body(fake_aws), headers=headers).status_code == 404
        assert client.get("/api/v1/repos/1002/runners", headers=headers).status_code == 404
        assert client.get("/api/v1/repos/1001/runners", headers=headers).json == {"items": []}
        assert client.get(f"/api/v1/runner-pools/{other.id}", headers=headers).status_code == 404
        assert client.patch(f"/api/v1/runner-pools/{other.id}", json={"max_runners": 1},
                            headers=headers).status_code == 404
        assert client.delete(f"/api/v1/runner-pools/{other.id}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/runners/{runner_id}", headers=headers).status_code == 404
        assert client.delete(f"/api/v1/runners/{runner_id}", headers=headers).status_code == 404
        assert client.get("/api/v1/runners", headers=headers).json["items"] == []
        assert [p["name"] for p in client.get("/api/v1/runner-pools", headers=headers).json["items"]] == []


class TestPoolItem:
    def test_update_rechecks_aws_and_clears_a_degraded_status(self, client, db, maintainer, make_key, make_pool,
                                                              fake_aws):
        pool = make_pool(name="linux", aws=fake_aws, status="degraded", degraded_reason="RunTask: ClientException")
        headers = make_key(maintainer, "runners:write")
        response = client.patch(f"/api/v1/runner-pools/{pool.id}", json={"task_definition": "missing"},
                                headers=headers)
        assert response.status_code == 422 and "task_definition" in response.json["errors"]
        response = client.patch(f"/api/v1/runner-pools/{pool.id}", json={"max_runners": 9, "labels": ["gpu"]},
                                headers=headers)
        assert response.status_code == 200, response.json
        assert response.json["max_runners"] == 9 and response.json["labels"] == ["gpu"]
        assert response.json["status"] == "ok" and response.json["degraded_reason"] is None

    def test_delete_refuses_while_runners_are_alive(self, client, db, maintainer, make_key, make_pool, fake_aws,
                                                    handle):
        pool = make_pool(name="linux", aws=fake_aws)
        handle(workflow_job("queued", new_job_id()))
        headers = make_key(maintainer, "runners:write")
        response = client.delete(f"/api/v1/runner-pools/{pool.id}", headers=headers)
        assert response.status_code == 409
        db.session.execute(db.update(Runner).values(state="stopped"))
        db.session.commit()
        assert client.delete(f"/api/v1/runner-pools/{pool.id}", headers=headers).status_code == 204
        db.session.expire_all()
        assert db.session.get(RunnerPool, pool.id) is None


class TestRunners:
    def test_list_filter_get_and_stop(self, app, client, db, maintainer, make_key, make_pool, fake_aws, fake_github,
                                      handle):
        pool = make_pool(name="linux", aws=fake_aws, max_runners=5)
        headers = make_key(maintainer, "read", "runners:write")
        for _ in range(2):
            handle(workflow_job("queued", new_job_id()))
        launch_queued(app)
        listed = client.get(f"/api/v1/runners?status=alive&pool_id={pool.id}&repository_id=1001", headers=headers)
        assert listed.status_code == 200
        items = listed.json["items"]
        assert len(items) == 2 and {i["state"] for i in items} == {"launching"} and items[0]["pool"] == "linux"
        assert client.get("/api/v1/runners?status=busy", headers=headers).json["items"] == []
        assert client.get("/api/v1/runners?status=nonsense", headers=headers).status_code == 422
        page = client.get("/api/v1/runners?limit=1", headers=headers).json
        assert len(page["items"]) == 1 and page["next_cursor"]
        runner_id = items[0]["id"]
        detail = client.get(f"/api/v1/runners/{runner_id}", headers=headers).json
        assert [e["kind"] for e in detail["events"]] == ["requested", "launching"]
        stopped = client.delete(f"/api/v1/runners/{runner_id}", headers=headers)
        assert stopped.status_code == 200, stopped.json
        assert stopped.json["state"] == "stopped" and stopped.json["stop_reason"].startswith("Stopped by")
        assert detail["task_arn"] not in fake_aws.running_tasks()
        assert fake_github.calls("DELETE", rf"/actions/runners/{detail['github_runner_id']}$")
        assert client.delete(f"/api/v1/runners/{runner_id}", headers=headers).status_code == 200  # idempotent


def test_a_new_pool_with_warm_runners_launches_them_right_away(client, db, maintainer, make_key, fake_aws,
                                                                 fake_github, run_jobs):
    response = client.post("/api/v1/repos/1001/runners", json=_body(fake_aws, min_idle=2),
                           headers=make_key(maintainer, "runners:write"))
    assert response.status_code == 201
    run_jobs()  # the scaling job queued by the save, then the two launches it decided
    db.session.expire_all()
    assert [r.state for r in db.session.scalars(select(Runner))] == ["launching", "launching"]
    assert len(fake_aws.running_tasks()) == 2
