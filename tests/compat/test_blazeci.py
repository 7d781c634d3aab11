"""BlazeCI's users, moved to Gantry: the requests its document shows, in its order, at /compat/blazeci
(seed 000), read from the document itself with only the base URL swapped. (Its two GitHub OAuth
requests, and the JWT they hand out, are tested with the shared sign-in service; here the bearer
token is one Gantry issued to the signed-in person.)

The deployment has BlazeCI's ECS settings (ECS_CLUSTER, ECS_TASK_DEFINITION, ECS_SUBNETS,
ECS_SECURITY_GROUPS), so the documented `{"labels": ["blazeci-small"], "max_runners": 5}` creates a pool.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.compat.seed_document import curl_requests, document
from tests.fakes.aws import fake_aws, moto_server  # noqa: F401  (fixtures)
from tests.runners.conftest import new_job_id, workflow_job, world  # noqa: F401  (fixture)
from tests.webhooks.helpers import webhook_request

BASE = "/compat/blazeci"
DOC_BASES = ("http://localhost:8000",)


@pytest.fixture
def deployment(app: Any, db: Any, fake_aws: Any, world: Any, make_user: Any,  # noqa: F811
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """BlazeCI's ECS settings, and a signed-in maintainer of acme/infrajet (repository 1001)."""
    from webapp.auth import tokens
    from webapp.repos.models import RepositoryAccess

    settings = fake_aws.pool_settings()
    for name, value in {"ECS_CLUSTER": settings["cluster"], "ECS_TASK_DEFINITION": settings["task_definition"],
                        "ECS_SUBNETS": settings["subnets"], "ECS_SECURITY_GROUPS": settings["security_groups"],
                        "ECS_LAUNCH_TYPE": "FARGATE"}.items():
        monkeypatch.setitem(app.config, name, value)
    user = make_user("maintainer", username="octocat")
    db.session.add(RepositoryAccess(user_id=user.id, repository_id=1001, permission="admin"))
    db.session.commit()
    return {"YOUR_JWT_TOKEN": tokens.issue_tokens(user).access_token}


def deployment_cluster(client: Any) -> str:
    return str(client.application.config["ECS_CLUSTER"])


def test_every_documented_request_answers(client: Any, deployment: dict[str, str]) -> None:
    requests = [r for r in curl_requests(document("000_blazeci.md")) if "/auth/github/" not in r.url]
    assert [f"{r.method} {r.path(DOC_BASES)}" for r in requests] == [
        "GET /repos", "POST /repos/123/runners", "GET /runners", "DELETE /runners/456"]
    values = dict(deployment)
    answers = {}
    for request in requests:
        # The document's ids (repository 123, runner 456) are examples: its user's repository here is 1001.
        values["/repos/123/"] = "/repos/1001/"
        answers[request.path(DOC_BASES)] = request.send(client, BASE, DOC_BASES, values)
    repos = answers["/repos"]
    assert repos.status_code == 200 and [r["full_name"] for r in repos.json["items"]] == ["acme/infrajet"]
    pool = answers["/repos/123/runners"]
    assert pool.status_code == 201, pool.json
    assert pool.json["labels"] == ["blazeci-small"] and pool.json["max_runners"] == 5
    assert pool.json["name"] == "infrajet-blazeci-small" and pool.json["repository_id"] == 1001
    assert pool.json["cluster"] == deployment_cluster(client)
    assert answers["/runners"].status_code == 200 and answers["/runners"].json["items"] == []
    gone = answers["/runners/456"]
    assert gone.status_code == 404 and gone.json["code"] == "not_found" and gone.json["detail"]


def test_github_delivers_to_blazecis_webhook_path_and_its_runner_can_be_removed(
        client: Any, deployment: dict[str, str], fake_github: Any, fake_aws: Any, run_jobs: Any) -> None:  # noqa: F811
    """`POST /webhooks/github` under the base URL is the intake: a queued job there launches a runner
    from the documented pool, which `GET /runners` lists and `DELETE /runners/{runner_id}` stops."""
    headers = {"Authorization": f"Bearer {deployment['YOUR_JWT_TOKEN']}"}
    pool = client.post(f"{BASE}/repos/1001/runners", json={"labels": ["blazeci-small"], "max_runners": 5},
                       headers=headers)
    assert pool.status_code == 201, pool.json
    job = workflow_job("queued", new_job_id(), labels=["blazeci-small"])
    body, sent = webhook_request("workflow_job", job, DEFAULT_WEBHOOK_SECRET)
    delivered = client.post(f"{BASE}/webhooks/github", data=body, headers=sent)
    assert delivered.status_code == 202 and delivered.json["status"] == "accepted", delivered.json
    assert client.post(f"{BASE}/webhooks/github", data=body, headers=sent).json["status"] == "duplicate"
    run_jobs()
    runners = client.get(f"{BASE}/runners", headers=headers)
    assert runners.status_code == 200
    [runner] = runners.json["items"]
    assert runner["pool"] == pool.json["name"] and runner["state"] == "launching"
    assert runner["task_arn"] in fake_aws.running_tasks()
    removed = client.delete(f"{BASE}/runners/{runner['id']}", headers=headers)
    assert removed.status_code == 200 and removed.json["state"] == "stopped", removed.json
    assert runner["task_arn"] not in fake_aws.running_tasks()
    unsigned_body, unsigned = webhook_request("workflow_job", job, None)
    refused = client.post(f"{BASE}/webhooks/github", data=unsigned_body, headers=unsigned)
    assert refused.status_code == 401 and refused.json["code"] == "signature_missing" and refused.json["detail"]


def test_pool_defaults_come_from_the_ecs_settings_in_api_v1_too(client: Any, deployment: dict[str, str],
                                                                app: Any) -> None:
    headers = {"Authorization": f"Bearer {deployment['YOUR_JWT_TOKEN']}"}
    first = client.post("/api/v1/repos/1001/runners", json={"labels": ["blazeci-small"], "max_runners": 5},
                        headers=headers)
    assert first.status_code == 201, first.json
    assert first.json["cluster"] == app.config["ECS_CLUSTER"]
    assert first.json["subnets"] == app.config["ECS_SUBNETS"]
    second = client.post("/api/v1/repos/1001/runners", json={"labels": ["blazeci-small"], "max_runners": 2},
                         headers=headers)
    assert second.status_code == 201 and second.json["name"] == "infrajet-blazeci-small-2"


def test_without_ecs_settings_the_answer_says_what_to_set(client: Any, deployment: dict[str, str], app: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "ECS_CLUSTER", "")
    headers = {"Authorization": f"Bearer {deployment['YOUR_JWT_TOKEN']}"}
    response = client.post(f"{BASE}/repos/1001/runners", json={"labels": ["blazeci-small"], "max_runners": 5},
                           headers=headers)
    assert response.status_code == 422
    assert any(d["loc"] == ["body", "cluster"] and "ECS_CLUSTER" in d["msg"] for d in response.json["detail"])


def test_health_answers(client: Any) -> None:
    assert client.get(f"{BASE}/health").json == {"status": "healthy"}
    db_health = client.get(f"{BASE}/health/db")
    assert db_health.status_code == 200 and db_health.json == {"status": "healthy", "database": "postgresql"}
    assert client.get(f"{BASE}/health/github").status_code == 401  # GitHub details need credentials
