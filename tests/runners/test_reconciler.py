"""The reconciler against moto and the GitHub fake: stopped tasks, registration, boot timeouts,
orphans on GitHub and in SSM, idle scale-down that never stops a busy runner, stale jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from sandbox.github import actions
from tests.runners.conftest import launch_queued, new_job_id, workflow_job
from webapp.core.models import utcnow
from webapp.runners.models import Runner, WorkflowJob
from webapp.runners.reconciler import reconcile_all


@pytest.fixture
def pool(make_pool, fake_aws):
    return make_pool(name="linux", labels=["self-hosted", "linux"], max_runners=5, boot_timeout_seconds=600,
                     idle_timeout_seconds=300, aws=fake_aws)


def _launched(app, db, handle, count=1):
    job_ids = [new_job_id() for _ in range(count)]
    for job_id in job_ids:
        handle(workflow_job("queued", job_id))
    launch_queued(app)
    db.session.expire_all()
    runners = list(db.session.scalars(select(Runner).order_by(Runner.id)))
    assert all(r.state == "launching" for r in runners), [r.state for r in runners]
    return runners, job_ids


def _runner(db, runner_id):
    db.session.expire_all()
    return db.session.get(Runner, runner_id)


def _age(db, runner_id, **fields):
    db.session.execute(db.update(Runner).where(Runner.id == runner_id).values(**fields))
    db.session.commit()


def test_a_runner_online_on_github_becomes_idle(app, db, pool, handle, fake_aws, fake_github):
    (runner,), _ = _launched(app, db, handle)
    reconcile_all()
    assert _runner(db, runner.id).state == "launching"  # offline: the container is still booting
    actions.set_status(fake_github.state, runner.name, "online")
    reconcile_all()
    runner = _runner(db, runner.id)
    assert runner.state == "idle" and runner.registered_at and runner.idle_since


def test_a_stopped_task_ends_its_runner_with_the_ecs_reason(app, db, pool, handle, fake_aws, fake_github):
    (runner,), _ = _launched(app, db, handle)
    fake_aws.stop(runner.task_arn, "Essential container in task exited")
    summary = reconcile_all()
    runner = _runner(db, runner.id)
    assert runner.state == "failed"  # it never ran a job
    assert "Essential container in task exited" in runner.stop_reason
    assert runner.task_stopped_at is not None
    assert summary[str(pool.id)]["tasks_stopped"] == 1
    assert fake_aws.parameters() == []


def test_a_finished_runner_gets_its_tasks_stop_reason(app, db, pool, handle, fake_aws, fake_github):
    (runner,), (job_id,) = _launched(app, db, handle)
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    handle(workflow_job("completed", job_id, runner_name=runner.name))
    fake_aws.stop(runner.task_arn, "Essential container in task exited")
    reconcile_all()
    runner = _runner(db, runner.id)
    assert runner.state == "finished"
    assert "Job completed" in runner.stop_reason and "Essential container" in runner.stop_reason


def test_a_runner_that_never_registers_is_cleaned_within_two_cycles(app, db, pool, handle, fake_aws, fake_github):
    (runner,), _ = _launched(app, db, handle)
    _age(db, runner.id, requested_at=utcnow() - timedelta(seconds=pool.boot_timeout_seconds + 5))
    for _ in range(2):
        reconcile_all()
    runner = _runner(db, runner.id)
    assert runner.state == "failed" and "register" in runner.stop_reason
    assert runner.task_arn not in fake_aws.running_tasks()
    assert actions.find(fake_github.state, runner.name) is None
    assert f"/gantry/runners/{runner.name}" not in fake_aws.parameters()
    # its job still waits, so counts bring a replacement
    replacement = db.session.scalar(select(Runner).where(Runner.id != runner.id))
    assert replacement is not None and replacement.state == "requested"


def test_an_offline_github_runner_without_a_task_is_removed_within_two_cycles(app, db, pool, fake_aws,
                                                                               fake_github):
    orphan = actions.add_runner(fake_github.state, "repo:1001", "gantry-linux-999")
    someone_else = actions.add_runner(fake_github.state, "repo:1001", "build-box-1")
    for _ in range(2):
        reconcile_all()
    assert actions.find(fake_github.state, orphan["name"]) is None
    assert actions.find(fake_github.state, someone_else["name"]) is not None  # not ours: left alone


def test_a_github_runner_whose_task_died_is_removed_within_two_cycles(app, db, pool, handle, fake_aws,
                                                                      fake_github):
    (runner,), _ = _launched(app, db, handle)
    fake_aws.stop(runner.task_arn, "Task failed ELB health checks")
    for _ in range(2):
        reconcile_all()
    assert actions.find(fake_github.state, runner.name) is None


def test_leftover_ssm_parameters_are_deleted_and_starting_ones_kept(app, db, pool, handle, fake_aws, fake_github):
    (runner,), _ = _launched(app, db, handle)
    fake_aws.ssm.put_parameter(Name="/gantry/runners/gantry-linux-4242", Value="stale", Type="SecureString")
    reconcile_all()
    assert fake_aws.parameters() == [f"/gantry/runners/{runner.name}"]  # still booting: it needs it
    actions.set_status(fake_github.state, runner.name, "online")
    reconcile_all()  # registered: the container has read it
    assert fake_aws.parameters() == []


def test_idle_runners_above_min_idle_are_deregistered_then_stopped(app, db, pool, handle, fake_aws, fake_github):
    (runner,), (job_id,) = _launched(app, db, handle)
    handle(workflow_job("completed", job_id))  # the job went elsewhere: no demand left
    actions.set_status(fake_github.state, runner.name, "online")
    reconcile_all()
    assert _runner(db, runner.id).state == "idle"
    _age(db, runner.id, idle_since=utcnow() - timedelta(seconds=pool.idle_timeout_seconds + 5))
    reconcile_all()
    runner = _runner(db, runner.id)
    assert runner.state == "stopped" and "Idle" in runner.stop_reason
    delete = fake_github.calls("DELETE", rf"/actions/runners/{runner.github_runner_id}$")
    assert delete and fake_aws.running_tasks() == []
    assert fake_github.requests.index(delete[0]) >= 0


def test_min_idle_runners_are_kept_warm(app, db, make_pool, handle, fake_aws, fake_github):
    pool = make_pool(name="warm", labels=["linux"], max_runners=3, min_idle=1, idle_timeout_seconds=30, aws=fake_aws)
    reconcile_all()  # scaling with no job at all launches the warm runner
    launch_queued(app)
    runner = db.session.scalar(select(Runner).where(Runner.pool_id == pool.id))
    actions.set_status(fake_github.state, runner.name, "online")
    reconcile_all()
    _age(db, runner.id, idle_since=utcnow() - timedelta(hours=1))
    reconcile_all()
    assert _runner(db, runner.id).state == "idle"
    assert len(fake_aws.running_tasks()) == 1


def test_github_busy_flag_false_but_ledger_busy_means_no_stop(app, db, pool, handle, fake_aws, fake_github,
                                                              client, make_user, make_key):
    (runner,), (job_id,) = _launched(app, db, handle)
    actions.set_status(fake_github.state, runner.name, "online", busy=False)
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    assert _runner(db, runner.id).state == "busy"
    _age(db, runner.id, idle_since=utcnow() - timedelta(hours=2), busy_at=utcnow() - timedelta(hours=2))
    # neither the idle scale-down...
    reconcile_all()
    # ...nor an operator's stop
    response = client.delete(f"/api/v1/runners/{runner.id}", headers=make_key(make_user("admin"), "admin"))
    assert response.status_code == 409, response.json
    assert fake_aws.running_tasks() == [runner.task_arn]  # no StopTask
    assert fake_github.calls("DELETE", r"/actions/runners/\d+$") == []  # not even deregistered
    assert _runner(db, runner.id).state == "busy"


def test_a_422_from_github_keeps_the_runner(app, db, pool, handle, fake_aws, fake_github):
    (runner,), (job_id,) = _launched(app, db, handle)
    handle(workflow_job("completed", job_id))
    actions.set_status(fake_github.state, runner.name, "online")
    reconcile_all()
    actions.set_status(fake_github.state, runner.name, "online", busy=True)  # took a job we have not heard of
    _age(db, runner.id, idle_since=utcnow() - timedelta(hours=1))
    reconcile_all()
    assert _runner(db, runner.id).state == "idle"
    assert fake_aws.running_tasks() == [runner.task_arn]


def test_a_job_whose_completion_was_missed_is_brought_up_to_date(app, db, pool, handle, fake_aws, fake_github):
    job_id = new_job_id()
    handle(workflow_job("queued", job_id))
    launch_queued(app)
    done = workflow_job("completed", job_id, runner_name="someone-elses-runner")["workflow_job"]
    actions.put_job(fake_github.state, done)
    db.session.execute(db.update(WorkflowJob).values(queued_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    summary = reconcile_all()
    assert summary["jobs"]["refreshed"] == 1
    db.session.expire_all()
    assert db.session.scalar(select(WorkflowJob.status)) == "completed"


def test_a_task_that_outlives_its_finished_runner_is_stopped(app, db, pool, handle, fake_aws, fake_github):
    (runner,), (job_id,) = _launched(app, db, handle)
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    handle(workflow_job("completed", job_id, runner_name=runner.name))
    reconcile_all()
    assert fake_aws.running_tasks() == [runner.task_arn]  # just finished: the container is exiting
    _age(db, runner.id, ended_at=utcnow() - timedelta(minutes=10))
    reconcile_all()  # still running 10 minutes later: stopped
    assert fake_aws.running_tasks() == []
    reconcile_all()  # and its stop reason recorded
    runner = _runner(db, runner.id)
    assert runner.state == "finished" and "task stopped: Gantry: runner ended" in runner.stop_reason
