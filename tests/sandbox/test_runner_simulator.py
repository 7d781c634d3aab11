"""The runner simulator: a job queued on the GitHub simulator runs on a runner Gantry launches in moto."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sandbox import world as sandbox_world
from sandbox.github import actions, events, jobs

LABELS = ["self-hosted", "linux", "x64"]


def _pool(app: Flask, sandbox: sandbox_world.Sandbox) -> int:
    from webapp.extensions import db
    from webapp.repos.demo import seed_repositories
    from webapp.runners.models import RunnerPool

    with app.app_context():
        seed_repositories(None)
        pool = RunnerPool(name="sandbox-linux", scope="repository", repository_id=900103, installation_id=900001,
                          labels=LABELS, max_runners=2, min_idle=0, region=sandbox.aws.region,
                          cluster=sandbox.aws.cluster, task_definition=sandbox.aws.task_definition, capacity="FARGATE",
                          subnets=[sandbox.aws.subnet_id], security_groups=[sandbox.aws.security_group_id],
                          container_name="runner", task_cpu=1024, task_memory=2048)
        db.session.add(pool)
        db.session.commit()
        pool_id = pool.id
        db.session.remove()
    return pool_id


def _work(app: Flask) -> None:
    """Run every queued Gantry job, in the sandbox app's context (as its worker would)."""
    from webapp.core.rq_worker import run_jobs_now

    with app.app_context():
        run_jobs_now(app)


def _rows(app: Flask, job_id: int) -> tuple[Any, Any]:
    from webapp.extensions import db
    from webapp.runners.models import Runner, WorkflowJob

    with app.app_context():
        job = db.session.scalar(select(WorkflowJob).where(WorkflowJob.github_job_id == job_id))
        runner = db.session.scalar(select(Runner).where(Runner.job_id == job.id)) if job else None
        found = ((job.status, job.conclusion, job.runner_name) if job else None,
                 (runner.state, runner.name, runner.stop_reason) if runner else None)
        db.session.remove()
    return found


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_a_queued_job_runs_on_a_launched_runner_to_completion(app: Flask, sandbox_app: Flask, live_gantry: str,
                                                               sandbox: sandbox_world.Sandbox, outcome: str) -> None:
    _pool(sandbox_app, sandbox)
    state = sandbox.github.state
    record = jobs.queue(state, "gantry-demo/engine", LABELS, outcome=outcome)
    assert events.sent(state)[-1]["status"] == 202  # signed with the App's secret: accepted by the intake
    _work(sandbox_app)  # the delivery is handled; the pool launches a runner in moto
    running = sandbox.aws.ecs.list_tasks(cluster=sandbox.aws.cluster, desiredStatus="RUNNING")["taskArns"]
    assert len(running) == 1

    assert sandbox.runners.step() == 1  # the container reads its JIT config from SSM, takes the job, ends
    _work(sandbox_app)  # Gantry handles in_progress and completed

    sent = [(e["event"], e["action"], e["status"]) for e in events.sent(state)[-3:]]
    assert sent == [("workflow_job", "queued", 202), ("workflow_job", "in_progress", 202),
                    ("workflow_job", "completed", 202)]
    job, runner = _rows(sandbox_app, record["job"]["id"])
    assert runner is not None and job == ("completed", outcome, runner[1])
    assert runner[0] == "finished" and runner[2] == f"Job completed ({outcome})"
    task = sandbox.aws.ecs.describe_tasks(cluster=sandbox.aws.cluster, tasks=running)["tasks"][0]
    assert (task["desiredStatus"], task["lastStatus"]) == ("STOPPED", "STOPPED")
    assert task["stoppedReason"] == "Essential container in task exited"
    assert actions.find(state, runner[1]) is None  # the ephemeral runner is gone from GitHub


def test_a_task_without_a_jit_config_stops_at_once(sandbox: sandbox_world.Sandbox) -> None:
    ecs = sandbox.aws.ecs
    network = {"awsvpcConfiguration": {"subnets": [sandbox.aws.subnet_id],
                                       "securityGroups": [sandbox.aws.security_group_id]}}
    arn = ecs.run_task(cluster=sandbox.aws.cluster, taskDefinition=sandbox.aws.task_definition, launchType="FARGATE",
                       networkConfiguration=network)["tasks"][0]["taskArn"]
    assert sandbox.runners.step() == 1
    task = ecs.describe_tasks(cluster=sandbox.aws.cluster, tasks=[arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"
    assert task["stoppedReason"] == "Runner could not read its JIT config or registration"

