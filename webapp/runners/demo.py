"""Demo data for `flask seed-demo`: two pools with runners in every state and a week of job history."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.repos.models import Installation, Repository
from webapp.runners.models import (
    BUSY,
    FAILED,
    FINISHED,
    IDLE,
    LAUNCHING,
    Runner,
    RunnerEvent,
    RunnerPool,
    WorkflowJob,
    new_launch_token,
)
from webapp.runners.pools import launch_defaults

DEMO_INSTALLATION = 4_000_001
DEMO_REPOSITORY = 4_000_101


def _owner() -> tuple[Installation, Repository]:
    repo = db.session.scalar(select(Repository).where(Repository.installation_id.is_not(None),
                                                      Repository.removed_at.is_(None)).order_by(Repository.id))
    if repo is not None and repo.installation is not None:
        return repo.installation, repo
    installation = db.session.get(Installation, DEMO_INSTALLATION) or Installation(
        id=DEMO_INSTALLATION, account_login="gantry-demo", account_type="Organization")
    repo = db.session.get(Repository, DEMO_REPOSITORY) or Repository(
        id=DEMO_REPOSITORY, installation_id=DEMO_INSTALLATION, owner="gantry-demo", name="engine",
        full_name="gantry-demo/engine", html_url="https://github.com/gantry-demo/engine")
    db.session.add_all([installation, repo])
    db.session.flush()
    return installation, repo


def _pool(name: str, **fields: Any) -> RunnerPool:
    pool = db.session.scalar(select(RunnerPool).where(RunnerPool.name == name))
    if pool is None:
        pool = RunnerPool(name=name, region="eu-west-1", cluster="gantry-demo-runners",
                          task_definition="gantry-runner:3",
                          capacity="FARGATE", subnets=["subnet-0a1b2c3d"], security_groups=["sg-0a1b2c3d"],
                          container_name="runner", task_cpu=2048, task_memory=4096, **fields)
        db.session.add(pool)
    if current_app.config.get("SANDBOX"):  # the sandbox's moto is new at every start: launch there
        for key, value in {**launch_defaults(), "region": current_app.config["AWS_REGION"]}.items():
            setattr(pool, key, value)
    db.session.flush()
    return pool


def seed_runners(admin: Any) -> None:
    """Idempotent: does nothing when the demo pools already have runners."""
    installation, repo = _owner()
    linux = _pool("linux", scope="repository", repository_id=repo.id, installation_id=installation.id,
                  labels=["self-hosted", "linux", "x64"], max_runners=10, min_idle=1)
    gpu = _pool("gpu", scope="organization", repository_id=None, installation_id=installation.id,
                labels=["self-hosted", "linux", "gpu"], max_runners=4, cpu=4096, memory=16384)
    if db.session.scalar(select(Runner.id).where(Runner.pool_id.in_([linux.id, gpu.id])).limit(1)):
        return
    rng = random.Random(5)
    now = utcnow()
    for index in range(60):
        pool = linux if index % 4 else gpu
        queued = now - timedelta(hours=rng.uniform(0.5, 24 * 7))
        wait = rng.choice([5, 12, 20, 35, 50, 90, 240, 700])
        started = queued + timedelta(seconds=wait)
        done = started + timedelta(minutes=rng.uniform(2, 30))
        job = WorkflowJob(github_job_id=9_000_000 + index, run_attempt=1, run_id=8_000_000 + index // 3,
                          repository_id=repo.id, repository_full_name=repo.full_name, installation_id=installation.id,
                          name=rng.choice(["build", "test", "lint", "e2e", "train"]), workflow_name="CI",
                          labels=list(pool.labels), status="completed",
                          conclusion=rng.choice(["success"] * 5 + ["failure"]),
                          pool_id=pool.id, matched=True, self_hosted=True, queued_at=queued, started_at=started,
                          completed_at=done)
        db.session.add(job)
        db.session.flush()
        _runner(pool, FINISHED, queued, started, done, job, repo.id, "Job completed (success)")
    _runner(linux, IDLE, now - timedelta(minutes=3), None, None, None, repo.id, None)
    _runner(linux, LAUNCHING, now - timedelta(seconds=20), None, None, None, repo.id, None)
    busy_job = WorkflowJob(github_job_id=9_100_000, run_attempt=1, repository_id=repo.id,
                           repository_full_name=repo.full_name, installation_id=installation.id, name="deploy",
                           labels=list(linux.labels), status="in_progress", pool_id=linux.id, matched=True,
                           self_hosted=True, queued_at=now - timedelta(minutes=6),
                           started_at=now - timedelta(minutes=5))
    db.session.add(busy_job)
    db.session.flush()
    _runner(linux, BUSY, now - timedelta(minutes=6), now - timedelta(minutes=5), None, busy_job, repo.id, None)
    failed = _runner(gpu, FAILED, now - timedelta(hours=2), None, now - timedelta(hours=2), None, None,
                     "Gave up after 5 attempts: RunTask: RESOURCE:GPU")
    db.session.add(RunnerEvent(runner=failed, pool_id=gpu.id, kind="launch_failed", reason="capacity",
                               message="RunTask: RESOURCE:GPU"))
    db.session.add(WorkflowJob(github_job_id=9_200_000, run_attempt=1, repository_id=repo.id,
                               repository_full_name=repo.full_name, installation_id=installation.id, name="arm build",
                               labels=["self-hosted", "arm64"], status="queued", matched=False, self_hosted=True,
                               queued_at=now - timedelta(minutes=9)))
    db.session.commit()


def _runner(pool: RunnerPool, state: str, requested: Any, busy: Any, ended: Any, job: Any, repo_id: int | None,
            reason: str | None) -> Runner:
    token = new_launch_token()
    runner = Runner(pool_id=pool.id, state=state, launch_token=token, name=f"pending-{token}", repository_id=repo_id,
                    requested_at=requested, launching_at=requested + timedelta(seconds=2) if state != FAILED else None,
                    registered_at=requested + timedelta(seconds=25) if state not in (LAUNCHING, FAILED) else None,
                    busy_at=busy, ended_at=ended, stop_reason=reason, job_id=job.id if job else None,
                    launch_attempts=1 if state != FAILED else 5, vcpus=pool.vcpus, memory_gb=pool.memory_gb,
                    hourly_cost=pool.hourly_cost,
                    idle_since=requested + timedelta(seconds=25) if state == IDLE else None,
                    task_arn=None if state == FAILED else
                    f"arn:aws:ecs:{pool.region}:123456789012:task/{pool.cluster}/{token}")
    db.session.add(runner)
    db.session.flush()
    runner.name = f"gantry-{pool.name}-{runner.id}"
    db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind="requested", message="Requested", at=requested))
    if runner.launching_at:
        db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind=LAUNCHING, message="Task started",
                                   at=runner.launching_at))
    if runner.registered_at:
        db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind=IDLE, message="Registered with GitHub",
                                   at=runner.registered_at))
    if busy:
        db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind=BUSY, message="Took a job", at=busy))
    if ended:
        db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind=state, message=reason or state, at=ended))
    return runner
