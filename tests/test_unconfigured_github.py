"""Without a GitHub App (a fresh `make run`), background work that needs GitHub skips with one INFO line
instead of raising into RQ's retries; with an App configured the same work still fails loudly."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from tests.core.conftest import build_app  # noqa: F401  (fixture)
from tests.fakes.aws import moto_server, setup_world  # noqa: F401  (moto_server: fixture)
from tests.found import found
from webapp.core.models import utcnow

MISSING = "no GitHub App is configured"


@pytest.fixture
def bare(build_app: Callable[..., Flask], moto_server: str) -> Flask:  # noqa: F811
    """An app with every GitHub setting empty (and AWS on moto, so ECS answers as it would)."""
    setup_world(moto_server)
    return build_app(AWS_ENDPOINT_URL=moto_server, AWS_REGION="us-east-1")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    for name in ("webapp", "tasks", "rq"):
        caplog.set_level(logging.INFO, logger=name)
    yield caplog


@pytest.fixture
def seeded(bare: Flask) -> Any:
    """The demo data of `flask seed-demo` (releases, runners, projects...), as `make run` starts with."""
    from webapp.auth.service import find_user
    from webapp.cli import seed_demo
    from webapp.extensions import db

    with bare.app_context():
        found(seed_demo.callback)("admin", "correct-horse-battery-x")
        admin_id = found(find_user("admin")).id
        db.session.remove()
    return admin_id


def work(app: Flask, func: Callable[..., Any] | None, *args: Any) -> Any:
    """Enqueue `func(*args)` (None: only what is queued already) and let a worker run everything queued.

    Every job must finish: none failed, none waiting for a retry. Returns `func`'s result.
    """
    from webapp.core.jobs import enqueue, redis_connection
    from webapp.core.rq_worker import run_jobs_now
    from webapp.extensions import db

    with app.app_context():
        job = enqueue(func, *args, job_id=f"test-{func.__name__}") if func is not None else None
        assert run_jobs_now(app) >= 1
        connection = redis_connection()
        failed = sum(FailedJobRegistry(q, connection=connection).count for q in ("high", "default", "low"))
        retries = sum(ScheduledJobRegistry(q, connection=connection).count for q in ("high", "default", "low"))
        assert (failed, retries) == (0, 0)
        db.session.remove()
        if job is None:
            return None
        job.refresh()
        assert job.get_status() == "finished"
        return job.return_value()


def quiet(logs: pytest.LogCaptureFixture, *, lines: int = 1) -> list[str]:
    """Nothing above INFO was logged, and `lines` INFO lines said GitHub is not set up."""
    loud = [f"{r.name}: {r.getMessage()}" for r in logs.records if r.levelno >= logging.WARNING]
    assert loud == []
    said = [r.getMessage() for r in logs.records if r.levelno == logging.INFO and "GitHub" in r.getMessage()
            and "configured" in r.getMessage()]
    assert len(said) == lines, said
    return said


def read(app: Flask, fn: Callable[[], Any]) -> Any:
    from webapp.extensions import db

    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def test_repositories_reconcile_skips(bare: Flask, logs: pytest.LogCaptureFixture) -> None:
    from tasks.repos import reconcile_installations

    assert work(bare, reconcile_installations) == f"skipped: {MISSING}"
    assert quiet(logs) == [f"reconcile_installations skipped: {MISSING}"]


def test_access_refresh_skips_without_github_sign_in(bare: Flask, logs: pytest.LogCaptureFixture) -> None:
    from tasks.repos import sync_all_user_access, sync_user_access

    assert work(bare, sync_all_user_access) == "skipped: no GitHub sign-in is configured"
    assert work(bare, sync_user_access, 1) == "skipped: no GitHub sign-in is configured"
    quiet(logs, lines=2)


def test_webhook_redelivery_skips(bare: Flask, logs: pytest.LogCaptureFixture) -> None:
    from tasks.webhooks import redeliver_failed_deliveries
    from webapp.webhooks.models import RedeliveryCheckpoint

    assert work(bare, redeliver_failed_deliveries) == {"skipped": 1}
    quiet(logs)
    assert read(bare, lambda: RedeliveryCheckpoint.query.count()) == 0


def test_releases_sweep_mirrors_nothing_and_still_moves_deployments(seeded: int, bare: Flask,
                                                                    logs: pytest.LogCaptureFixture) -> None:
    from tasks.releases import sweep_deployments
    from webapp.core.jobs import get_queue

    result = work(bare, sweep_deployments)
    assert result["remirrored"] == 0
    assert read(bare, lambda: get_queue("default").count) == 0  # no mirror job left to fail
    quiet(logs)


def test_deployment_mirror_skips_and_leaves_it_to_the_sweep(seeded: int, bare: Flask,
                                                            logs: pytest.LogCaptureFixture) -> None:
    from tasks.releases import mirror_deployment
    from webapp.extensions import db
    from webapp.releases.github_mirror import out_of_sync_deployments
    from webapp.releases.models import Deployment

    stale = read(bare, out_of_sync_deployments)
    assert stale, "the demo data has deployments GitHub has not heard about"
    assert work(bare, mirror_deployment, stale[0]) == f"skipped: {MISSING}"
    quiet(logs)
    assert read(bare, lambda: found(db.session.get(Deployment, stale[0])).github_deployment_id) is None
    assert stale[0] in read(bare, out_of_sync_deployments)  # mirrored once an App is set up


def test_publishing_fails_on_the_release_instead_of_retrying(seeded: int, bare: Flask,
                                                             logs: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import select

    from tasks.releases import publish_release
    from webapp.extensions import db
    from webapp.releases.models import Release

    def ask() -> int:
        release = found(db.session.scalar(select(Release).order_by(Release.id.desc()).limit(1)))
        release.status, release.publish_error, release.github_release_id = "publishing", None, None
        db.session.commit()
        return int(release.id)

    release_id = read(bare, ask)
    assert work(bare, publish_release, release_id) == "failed"
    quiet(logs)
    status, error = read(bare, lambda: db.session.execute(
        select(Release.status, Release.publish_error).where(Release.id == release_id)).one())
    assert status == "failed"
    assert error == "No GitHub App is configured: set one up, then publish again."


def test_a_sync_run_fails_with_a_clear_message_instead_of_retrying(seeded: int, bare: Flask,
                                                                   logs: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import select

    from tasks.sync import requeue_stalled_syncs
    from webapp.auth.models import User
    from webapp.extensions import db
    from webapp.sync import runs
    from webapp.sync.models import Project, SyncRun

    def start() -> int:
        project = found(db.session.scalar(select(Project).where(Project.name == "infrastructure")))
        return int(runs.start_sync(found(db.session.get(User, seeded)), project.id).id)

    run_id = read(bare, start)
    work(bare, None)  # the run's own job
    quiet(logs)
    status, error = read(bare, lambda: db.session.execute(
        select(SyncRun.status, SyncRun.error).where(SyncRun.id == run_id)).one())
    assert status == "failed"
    assert error == f"Not synced: {MISSING}. Set one up, then retry the run."
    assert work(bare, requeue_stalled_syncs) == 0
    quiet(logs)


def pool_of_acme(**fields: Any) -> Any:
    """Repository acme/app (4001, installation 401) and a runner pool for it on moto's cluster (flushed)."""
    from tests.fakes.aws import CLUSTER, TASK_FAMILY
    from webapp.extensions import db
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import RunnerPool

    db.session.add(Installation(id=401, account_login="acme", account_type="Organization"))
    db.session.flush()
    db.session.add(Repository(id=4001, installation_id=401, owner="acme", name="app", full_name="acme/app"))
    db.session.flush()
    pool = RunnerPool(name="linux", scope="repository", repository_id=4001, installation_id=401,
                      region="us-east-1", cluster=CLUSTER, task_definition=TASK_FAMILY, **fields)
    db.session.add(pool)
    db.session.flush()
    return pool


def test_runners_reconcile_checks_ecs_but_neither_asks_github_nor_launches(
        bare: Flask, logs: pytest.LogCaptureFixture, moto_server: str) -> None:  # noqa: F811
    from sqlalchemy import func, select

    from tasks.runners import reconcile_runners
    from webapp.extensions import db
    from webapp.runners.models import Runner, WorkflowJob

    def world() -> None:
        pool = pool_of_acme(labels=["self-hosted", "linux"], min_idle=1)
        # waiting long enough that the reconciler would ask GitHub about it, and demand to launch for
        db.session.add(WorkflowJob(github_job_id=99, repository_id=4001, repository_full_name="acme/app",
                                   installation_id=401, status="queued", pool_id=pool.id, matched=True,
                                   self_hosted=True, labels=["self-hosted", "linux"],
                                   queued_at=utcnow() - timedelta(hours=1)))
        db.session.commit()

    read(bare, world)
    result = work(bare, reconcile_runners)
    assert result["parameters_deleted:us-east-1"] == 0  # the ECS/SSM side still ran
    assert not any(key.startswith("launched") for key in result)
    quiet(logs)
    assert read(bare, lambda: db.session.scalar(select(func.count()).select_from(Runner))) == 0


def test_a_launch_without_an_app_fails_the_runner_and_says_why_on_the_pool(bare: Flask, logs: Any) -> None:
    from webapp.extensions import db
    from webapp.runners.launcher import launch_runner
    from webapp.runners.models import Runner, RunnerPool

    def world() -> int:
        pool = pool_of_acme(labels=["self-hosted"])
        runner = Runner(pool_id=pool.id, name="gantry-linux-1", repository_id=4001)
        db.session.add(runner)
        db.session.commit()
        return int(runner.id)

    runner_id = read(bare, world)
    assert read(bare, lambda: launch_runner(runner_id)) == "failed"  # not raised: no retry would help
    runner = read(bare, lambda: db.session.get(Runner, runner_id))
    assert runner.state == "failed"
    pool = read(bare, lambda: db.session.get(RunnerPool, runner.pool_id))
    assert (pool.status, pool.degraded_reason) == ("degraded", "No runner can register: No GitHub App is configured.")


def test_with_an_app_configured_a_github_failure_still_raises(build_app: Callable[..., Flask],  # noqa: F811
                                                            fake_github_server: Any) -> None:
    """The skip is about configuration only: a configured App whose GitHub does not answer fails the job."""
    from sandbox.github import fake_github_settings
    from tasks.repos import reconcile_installations
    from webapp.integrations.github import GitHubError

    unreachable = build_app(**{**fake_github_settings(fake_github_server), "GITHUB_API_URL": "http://127.0.0.1:9"})
    with pytest.raises(GitHubError) as failure:
        read(unreachable, reconcile_installations)
    assert failure.value.status is None and "configured" not in failure.value.message
