"""The workflow_job ledger: forward-only states, any delivery order, duplicates, matching."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from tests.runners.conftest import BASE, COMPLETED, STARTED, new_job_id, workflow_job
from webapp.runners.models import Runner, WorkflowJob

ACTIONS = ("queued", "waiting", "in_progress", "completed")


def _job(db, job_id):
    db.session.expire_all()
    return db.session.scalar(select(WorkflowJob).where(WorkflowJob.github_job_id == job_id))


def _snapshot(job):
    return (job.status, job.conclusion, job.runner_name, job.started_at, job.completed_at, job.queued_at,
            job.pool_id, job.labels)


def test_every_delivery_order_ends_in_the_same_state(db, make_pool, handle):
    # All 24 orders in one test (one job each): the shared per-test teardown costs more than a scenario.
    pool = make_pool(name="linux", max_runners=30)
    for order in itertools.permutations(ACTIONS):
        job_id = new_job_id()
        for action in order:
            handle(workflow_job(action, job_id, runner_name="gantry-linux-900"))
        job = _job(db, job_id)
        assert (job.status, job.conclusion, job.runner_name, job.pool_id) == (
            "completed", "success", "gantry-linux-900", pool.id), order
        assert (job.queued_at, job.started_at, job.completed_at) == (BASE, STARTED, COMPLETED), order
        # delivering everything again (duplicates, reversed) changes nothing and launches nothing
        before = _snapshot(job)
        runners_before = db.session.scalar(select(func.count()).select_from(Runner))
        for action in reversed(order):
            handle(workflow_job(action, job_id, runner_name="gantry-linux-900"))
        assert _snapshot(_job(db, job_id)) == before, order
        assert db.session.scalar(select(func.count()).select_from(Runner)) == runners_before, order
    # the first order that saw the job queued asked for one runner; every later order found it
    # still warm (counts, not events), so nothing more was launched
    assert db.session.scalar(select(func.count()).select_from(Runner)) == 1


def test_duplicate_queued_deliveries_launch_one_runner(db, make_pool, handle):
    make_pool(name="linux", max_runners=5)
    job_id = new_job_id()
    for _ in range(4):
        handle(workflow_job("queued", job_id))
    assert db.session.scalar(select(func.count()).select_from(WorkflowJob)) == 1
    assert db.session.scalar(select(func.count()).select_from(Runner)) == 1


def test_a_new_run_attempt_is_a_new_ledger_row(db, make_pool, handle):
    make_pool(name="linux")
    job_id = new_job_id()
    handle(workflow_job("queued", job_id, attempt=1))
    handle(workflow_job("completed", job_id, attempt=1))
    handle(workflow_job("queued", job_id, attempt=2))
    rows = db.session.execute(select(WorkflowJob.run_attempt, WorkflowJob.status)
                              .order_by(WorkflowJob.run_attempt)).all()
    assert rows == [(1, "completed"), (2, "queued")]


def test_in_progress_links_the_runner_by_name_and_completed_finishes_it(db, make_pool, handle):
    make_pool(name="linux")
    job_id = new_job_id()
    handle(workflow_job("queued", job_id))
    runner = db.session.scalar(select(Runner))
    assert runner.name == f"gantry-linux-{runner.id}"
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    db.session.expire_all()
    runner = db.session.get(Runner, runner.id)
    assert runner.state == "busy"
    assert runner.job_id == _job(db, job_id).id
    handle(workflow_job("completed", job_id, runner_name=runner.name))
    db.session.expire_all()
    runner = db.session.get(Runner, runner.id)
    assert runner.state == "finished"
    assert runner.ended_at is not None
    assert "completed" in runner.stop_reason


def test_a_runner_may_serve_another_job_than_it_was_launched_for(db, make_pool, handle):
    make_pool(name="linux", max_runners=5)
    first, second = new_job_id(), new_job_id()
    handle(workflow_job("queued", first))
    handle(workflow_job("queued", second))
    runners = list(db.session.scalars(select(Runner).order_by(Runner.id)))
    assert len(runners) == 2
    # GitHub gives the second job to the first runner and the first job to the second
    handle(workflow_job("in_progress", second, runner_name=runners[0].name))
    handle(workflow_job("in_progress", first, runner_name=runners[1].name))
    db.session.expire_all()
    assert {r.state for r in db.session.scalars(select(Runner))} == {"busy"}
    assert db.session.scalar(select(func.count()).select_from(Runner)) == 2  # counts: nothing more launched


class TestMatching:
    def test_labels_match_case_insensitively_with_self_hosted_implied(self, db, make_pool, handle):
        pool = make_pool(name="linux", labels=["Linux", "X64"])
        job_id = new_job_id()
        handle(workflow_job("queued", job_id, labels=["SELF-HOSTED", "linux"]))
        job = _job(db, job_id)
        assert job.pool_id == pool.id and job.matched

    def test_the_most_specific_pool_wins(self, db, make_pool, handle):
        make_pool(name="big", labels=["linux", "x64", "gpu", "large"])
        exact = make_pool(name="gpu", labels=["linux", "gpu"])
        make_pool(name="plain", labels=["linux"])
        job_id = new_job_id()
        handle(workflow_job("queued", job_id, labels=["self-hosted", "linux", "gpu"]))
        assert _job(db, job_id).pool_id == exact.id

    def test_a_repository_pool_beats_an_equally_specific_organisation_pool(self, db, make_pool, handle):
        make_pool(name="org", scope="organization", repository_id=None, labels=["linux"])
        repo_pool = make_pool(name="repo", labels=["linux"])
        job_id = new_job_id()
        handle(workflow_job("queued", job_id))
        assert _job(db, job_id).pool_id == repo_pool.id

    def test_another_repositorys_pool_is_never_used(self, db, make_pool, handle):
        make_pool(name="widgets", repository_id=1002, labels=["linux"])
        job_id = new_job_id()
        handle(workflow_job("queued", job_id))
        job = _job(db, job_id)
        assert job.pool_id is None and not job.matched
        assert db.session.scalar(select(func.count()).select_from(Runner)) == 0

    def test_an_unmatched_job_is_recorded_and_nothing_is_launched(self, db, make_pool, handle):
        make_pool(name="linux", labels=["linux"])
        job_id = new_job_id()
        result = handle(workflow_job("queued", job_id, labels=["self-hosted", "arm64"]))
        assert "unmatched" in result
        job = _job(db, job_id)
        assert job.status == "queued" and job.pool_id is None and job.self_hosted
        assert db.session.scalar(select(func.count()).select_from(Runner)) == 0

    def test_an_unmatched_job_is_matched_when_a_pool_appears(self, db, make_pool, handle, app):
        job_id = new_job_id()
        handle(workflow_job("queued", job_id, labels=["self-hosted", "arm64"]))
        pool = make_pool(name="arm", labels=["arm64"])
        from webapp.runners.reconciler import reevaluate_waiting_jobs

        assert reevaluate_waiting_jobs()["matched"] == 1
        assert _job(db, job_id).pool_id == pool.id

    def test_a_disabled_pool_is_not_matched(self, db, make_pool, handle):
        make_pool(name="off", labels=["linux"], enabled=False)
        job_id = new_job_id()
        handle(workflow_job("queued", job_id))
        assert _job(db, job_id).pool_id is None
