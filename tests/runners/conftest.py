"""Fixtures for runner tests: moto (AWS), the GitHub fake's world in the database, workflow_job
payloads built from the real ones, and delivery through the real webhook pipeline."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.fakes.aws import FakeAws, fake_aws, moto_server  # noqa: F401  (fixtures)
from tests.shared_data import WEBHOOKS_DIR

PAYLOAD_FILES = {
    "queued": "queued.json",
    "waiting": "waiting.json",
    "in_progress": "in_progress.json",
    "completed": "completed.success.with-organization.json",
}
_job_ids = itertools.count(7_000_000)
# Payload times: queued at BASE, started 42 s later, completed 5 minutes after BASE.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
STARTED = BASE + timedelta(seconds=42)
COMPLETED = BASE + timedelta(minutes=5)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def workflow_job(action: str, job_id: int, *, labels: list[str] | None = None, repo_id: int = 1001,
                 full_name: str = "acme/infrajet", runner_name: str | None = None, attempt: int = 1,
                 installation_id: int = 101) -> dict[str, Any]:
    """A real workflow_job payload of `action`, pointed at one of our repositories and jobs."""
    payload = copy.deepcopy(json.loads((WEBHOOKS_DIR / "workflow_job" / PAYLOAD_FILES[action]).read_text()))
    wj = payload["workflow_job"]
    wj.update({"id": job_id, "run_attempt": attempt, "status": action,
               "labels": labels if labels is not None else ["self-hosted", "linux"],
               "created_at": _iso(BASE), "started_at": _iso(BASE)})
    if action in ("in_progress", "completed"):
        wj["started_at"] = _iso(STARTED)
        wj["runner_name"] = runner_name
        wj["runner_id"] = 77 if runner_name else None
    else:
        wj["runner_name"] = wj["runner_id"] = None
    if action == "completed":
        wj["completed_at"] = _iso(COMPLETED)
        wj["conclusion"] = "success"
    payload["action"] = action
    payload["repository"] = {**payload["repository"], "id": repo_id, "full_name": full_name}
    payload["installation"] = {"id": installation_id}
    return payload


def new_job_id() -> int:
    return next(_job_ids)


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """The fake GitHub's default world as Gantry mirrors it: installation 101 (org acme) with
    acme/infrajet (1001) and acme/widgets (1002); installation 102 (user octo-user)."""
    from webapp.repos.models import Installation, Repository

    db.session.add_all([Installation(id=101, account_login="acme", account_type="Organization"),
                        Installation(id=102, account_login="octo-user", account_type="User")])
    db.session.flush()
    db.session.add_all([
        Repository(id=1001, installation_id=101, owner="acme", name="infrajet", full_name="acme/infrajet"),
        Repository(id=1002, installation_id=101, owner="acme", name="widgets", full_name="acme/widgets"),
        Repository(id=1003, installation_id=102, owner="octo-user", name="dotfiles", full_name="octo-user/dotfiles"),
    ])
    db.session.commit()
    return {"installation": 101, "infrajet": 1001, "widgets": 1002}


@pytest.fixture
def make_pool(app: Flask, db: Any, world: dict[str, Any]) -> Callable[..., Any]:
    """Insert a pool directly (no AWS check): make_pool(name="linux", labels=[...], max_runners=3)."""
    from webapp.runners.models import RunnerPool

    counter = itertools.count(1)

    def make(**fields: Any) -> Any:
        values: dict[str, Any] = {
            "name": f"pool{next(counter)}", "scope": "repository", "repository_id": 1001, "installation_id": 101,
            "labels": ["self-hosted", "linux"], "max_runners": 5, "min_idle": 0, "region": "us-east-1",
            "cluster": "gantry-runners", "task_definition": "gantry-runner", "capacity": "FARGATE",
            "subnets": [], "security_groups": [], "container_name": "runner", "task_cpu": 1024, "task_memory": 2048,
        }
        aws = fields.pop("aws", None)
        if aws is not None:
            values.update(aws.pool_settings())
        values.update(fields)
        pool = RunnerPool(**values)
        db.session.add(pool)
        db.session.commit()
        db.session.refresh(pool)
        db.session.expunge(pool)  # a plain record: workers in this thread end the session
        return pool

    return make


def process(app: Flask, payload: dict[str, Any]) -> str:
    """Run the workflow_job handler the way webhook processing does: one transaction, whose
    commit queues the launches the handler deferred."""
    from webapp.extensions import db
    from webapp.runners.service import on_workflow_job
    from webapp.webhooks.router import WebhookEvent

    with app.app_context():
        event = WebhookEvent(delivery_pk=0, delivery_id=str(uuid.uuid4()), event="workflow_job",
                             action=payload["action"], payload=payload,
                             installation_id=(payload.get("installation") or {}).get("id"),
                             repository_id=payload["repository"]["id"], received_at=None)  # type: ignore[arg-type]
        try:
            result = on_workflow_job(event)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        db.session.remove()
        return result


@pytest.fixture
def handle(app: Flask) -> Callable[[dict[str, Any]], str]:
    """Process one workflow_job payload as the webhook pipeline would, in a fresh app context."""
    return lambda payload: process(app, payload)


@pytest.fixture
def post_job(client: Any) -> Callable[..., Any]:
    """POST a signed workflow_job delivery to /webhooks/github (the real intake)."""
    from tests.webhooks.helpers import post_webhook

    def send(payload: dict[str, Any]) -> Any:
        response = post_webhook(client, "workflow_job", payload, DEFAULT_WEBHOOK_SECRET)
        assert response.status_code == 202, response.get_data(as_text=True)
        return response

    return send


def launch_queued(app: Flask) -> int:
    """Run every queued launch job in this process (no scheduler: delayed retries stay queued)."""
    from webapp.core.rq_worker import run_jobs_now

    return run_jobs_now(app, queues=("high",))


__all__ = ["FakeAws", "launch_queued", "new_job_id", "process", "workflow_job"]
