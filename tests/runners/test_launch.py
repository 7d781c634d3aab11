"""Launching runners against moto's ECS/SSM and the GitHub fake: JIT config only in SSM, tags,
idempotent retries, failures[] handling."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from sandbox.github import actions
from tests.found import found
from tests.runners.conftest import new_job_id, workflow_job
from webapp.integrations.ecs import Aws, AwsError, RunTaskResult
from webapp.runners.launcher import LaunchRetry, launch_runner
from webapp.runners.models import Runner, RunnerEvent, RunnerPool


@pytest.fixture
def pool(make_pool, fake_aws):
    return make_pool(name="linux", labels=["self-hosted", "linux"], max_runners=5, aws=fake_aws)


def _requested(db, handle, count=1):
    for _ in range(count):
        handle(workflow_job("queued", new_job_id()))
    db.session.expire_all()
    return list(db.session.scalars(select(Runner).order_by(Runner.id)))


def _reload(db, runner_id):
    db.session.expire_all()
    return db.session.get(Runner, runner_id)


def test_launch_registers_on_github_parks_the_config_in_ssm_and_runs_a_tagged_task(
        app, db, pool, handle, fake_aws, fake_github, caplog):
    caplog.set_level(logging.DEBUG)
    (runner,) = _requested(db, handle)
    assert launch_runner(runner.id) == "launched"
    runner = _reload(db, runner.id)
    assert runner.state == "launching" and runner.task_arn and runner.launching_at
    # GitHub: a JIT runner named after the pool with the pool's labels
    (call,) = fake_github.calls("POST", r"/repos/acme/infrajet/actions/runners/generate-jitconfig$")
    assert call.json["name"] == runner.name == f"gantry-linux-{runner.id}"
    assert call.json["labels"] == ["linux"]
    (config,) = actions.jit_configs(fake_github.state)
    # SSM: the config as a SecureString under a per-runner name
    parameter = fake_aws.ssm.get_parameter(Name=runner.ssm_parameter, WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == config
    assert runner.ssm_parameter == f"/gantry/runners/{runner.name}"
    # ECS: only the parameter's name, tags linking task, runner and pool, startedBy from the runner
    (task,) = fake_aws.all_tasks()
    env = {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}
    assert env == {"GANTRY_JITCONFIG_PARAMETER": runner.ssm_parameter, "GANTRY_JITCONFIG_REGION": "us-east-1",
                   "GANTRY_RUNNER_NAME": runner.name}
    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags["gantry:runner-id"] == str(runner.id) and tags["gantry:pool"] == "linux"
    assert tags["gantry:runner-name"] == runner.name
    assert task["startedBy"] == runner.started_by
    # the config is nowhere else: not in DescribeTasks, not in the logs, not in the database
    described = json.dumps(fake_aws.ecs.describe_tasks(cluster=fake_aws.cluster, tasks=[runner.task_arn]),
                           default=str)
    assert config not in described
    assert config not in caplog.text
    row = db.session.execute(select(Runner.__table__)).mappings().one()
    assert config not in json.dumps(dict(row), default=str)
    events = [e.message for e in db.session.scalars(select(RunnerEvent))]
    assert all(config not in message for message in events)


def test_a_lost_runtask_answer_then_a_retry_starts_one_task(app, db, pool, handle, fake_aws, fake_github,
                                                            monkeypatch):
    (runner,) = _requested(db, handle)
    real_run_task = Aws.run_task

    def run_then_lose_answer(self, region, launch):
        real_run_task(self, region, launch)  # ECS starts the task...
        raise AwsError("network", "Read timeout on endpoint URL")  # ...but the answer never arrives

    monkeypatch.setattr(Aws, "run_task", run_then_lose_answer)
    with pytest.raises(LaunchRetry):
        launch_runner(runner.id)
    assert _reload(db, runner.id).state == "requested"
    monkeypatch.setattr(Aws, "run_task", real_run_task)
    assert launch_runner(runner.id) == "launched"
    runner = _reload(db, runner.id)
    assert len(fake_aws.all_tasks()) == 1
    assert runner.task_arn == fake_aws.all_tasks()[0]["taskArn"]
    assert len(fake_github.calls("POST", r"generate-jitconfig$")) == 1  # the registration was reused
    assert runner.launch_attempts == 2


def test_a_retry_after_the_parameter_vanished_registers_again_and_removes_the_old_registration(
        app, db, pool, handle, fake_aws, fake_github, monkeypatch):
    (runner,) = _requested(db, handle)
    monkeypatch.setattr(Aws, "run_task", lambda self, region, launch: (_ for _ in ()).throw(
        AwsError("ThrottlingException", "Rate exceeded")))
    with pytest.raises(LaunchRetry):
        launch_runner(runner.id)
    first = _reload(db, runner.id).github_runner_id
    fake_aws.ssm.delete_parameter(Name=f"/gantry/runners/{runner.name}")
    monkeypatch.undo()
    assert launch_runner(runner.id) == "launched"
    runner = _reload(db, runner.id)
    assert runner.github_runner_id != first
    assert found(actions.find(fake_github.state, runner.name))["id"] == runner.github_runner_id
    assert len(actions.all_runners(fake_github.state)) == 1
    assert len(fake_aws.running_tasks()) == 1


def test_capacity_failures_retry_then_give_up_and_clean_up(app, db, pool, handle, fake_aws, fake_github,
                                                           monkeypatch):
    app.config["RUNNERS_LAUNCH_MAX_ATTEMPTS"] = 2
    try:
        (runner,) = _requested(db, handle)
        monkeypatch.setattr(Aws, "run_task", lambda self, region, launch: RunTaskResult(
            None, [{"arn": "arn:aws:ecs:::container-instance/x", "reason": "RESOURCE:MEMORY"}]))
        with pytest.raises(LaunchRetry) as raised:
            launch_runner(runner.id)
        assert raised.value.reason == "capacity"
        runner = _reload(db, runner.id)
        assert runner.state == "requested"
        assert launch_runner(runner.id) == "failed"
        runner = _reload(db, runner.id)
        assert runner.state == "failed" and "2 attempts" in runner.stop_reason
        reasons = list(db.session.scalars(select(RunnerEvent.reason).where(RunnerEvent.kind == "launch_failed")))
        assert reasons == ["capacity", "capacity"]
        assert actions.all_runners(fake_github.state) == []  # registration removed
        assert fake_aws.parameters() == []  # parameter removed
        assert db.session.get(RunnerPool, pool.id).status == "ok"  # capacity is not a configuration problem
    finally:
        app.config["RUNNERS_LAUNCH_MAX_ATTEMPTS"] = 5


def test_a_configuration_error_degrades_the_pool_with_the_reason(app, db, pool, handle, fake_aws, fake_github):
    (runner,) = _requested(db, handle)
    # the task definition was removed from AWS after the pool was saved
    db.session.execute(db.update(RunnerPool).values(task_definition="gantry-runner-removed"))
    db.session.commit()
    assert launch_runner(runner.id) == "failed"
    db.session.expire_all()
    degraded = db.session.get(RunnerPool, pool.id)
    assert degraded.status == "degraded"
    assert "RunTask" in degraded.degraded_reason
    runner = db.session.get(Runner, runner.id)
    assert runner.state == "failed"
    assert actions.all_runners(fake_github.state) == [] and fake_aws.parameters() == []
    # a degraded pool launches nothing more
    handle(workflow_job("queued", new_job_id()))
    assert db.session.scalar(select(Runner.id).where(Runner.id != runner.id)) is None


def test_github_rate_limits_are_retried_later(app, db, pool, handle, fake_aws, fake_github):
    (runner,) = _requested(db, handle)
    fake_github.fail("POST", r"generate-jitconfig$", 403, headers={"Retry-After": "120"})
    with pytest.raises(LaunchRetry) as raised:
        launch_runner(runner.id)
    assert raised.value.reason == "github_rate_limited" and raised.value.retry_after == 120
    assert _reload(db, runner.id).state == "requested"
    assert fake_aws.running_tasks() == []


def test_a_runner_stopped_while_launching_loses_its_task(app, db, pool, handle, fake_aws, fake_github,
                                                         monkeypatch):
    (runner,) = _requested(db, handle)
    real_run_task = Aws.run_task

    def stop_meanwhile(self, region, launch):
        result = real_run_task(self, region, launch)
        from webapp.extensions import db as database

        database.session.execute(database.update(Runner).where(Runner.id == runner.id).values(state="stopped"))
        database.session.commit()
        return result

    monkeypatch.setattr(Aws, "run_task", stop_meanwhile)
    assert launch_runner(runner.id) == "stopped while launching"
    assert fake_aws.running_tasks() == []
    assert _reload(db, runner.id).state == "stopped"


def test_a_queued_webhook_through_the_real_intake_launches_a_task(app, db, pool, post_job, run_jobs, fake_aws,
                                                                  fake_github):
    post_job(workflow_job("queued", new_job_id()))
    run_jobs()  # processes the delivery, then the launch it queued
    db.session.expire_all()
    runner = db.session.scalar(select(Runner))
    assert runner.state == "launching"
    assert fake_aws.running_tasks() == [runner.task_arn]


def test_a_registration_whose_config_was_never_stored_is_replaced_on_retry(app, db, pool, handle, fake_aws,
                                                                           fake_github, monkeypatch):
    (runner,) = _requested(db, handle)
    monkeypatch.setattr(Aws, "put_secure_parameter", lambda *a, **k: (_ for _ in ()).throw(
        AwsError("ThrottlingException", "Rate exceeded")))
    with pytest.raises(LaunchRetry):
        launch_runner(runner.id)
    assert actions.find(fake_github.state, runner.name) is not None  # registered, but Gantry lost its id
    monkeypatch.undo()
    assert launch_runner(runner.id) == "launched"
    assert fake_github.calls("POST", r"generate-jitconfig$")[1].json["name"] == runner.name
    assert len(actions.all_runners(fake_github.state)) == 1  # the first registration was removed (409 path)
    assert found(actions.find(fake_github.state, runner.name))["id"] == _reload(db, runner.id).github_runner_id
    assert len(fake_aws.running_tasks()) == 1


@pytest.mark.parametrize("capacity", ["FARGATE_SPOT", "EC2"])
def test_spot_and_ec2_pools_ask_ecs_for_their_capacity(app, db, make_pool, handle, fake_aws, monkeypatch, capacity):
    # moto places anything but plain FARGATE on container instances, so the cluster gets one.
    instance = fake_aws.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    fake_aws.ecs.register_container_instance(
        cluster=fake_aws.cluster, instanceIdentityDocument=json.dumps({"instanceId": instance["InstanceId"]}))
    pool = make_pool(name=capacity.lower().replace("_", "-"), labels=["self-hosted", "linux"], aws=fake_aws,
                     capacity=capacity)
    sent: list[dict] = []
    real_call = Aws._call

    def record(self, service, region, op, **params):
        if op == "run_task":
            sent.append(params)
        return real_call(self, service, region, op, **params)

    monkeypatch.setattr(Aws, "_call", record)
    (runner,) = _requested(db, handle)

    assert launch_runner(runner.id) == "launched"

    (params,) = sent
    if capacity == "FARGATE_SPOT":
        assert params["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
        assert "launchType" not in params  # ECS refuses a request with both
    else:
        assert params["launchType"] == "EC2" and "capacityProviderStrategy" not in params
    assert params["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [fake_aws.subnet_id]
    runner = _reload(db, runner.id)
    assert runner.state == "launching" and runner.pool_id == pool.id
    (task,) = fake_aws.all_tasks()
    assert task["taskArn"] == runner.task_arn and task["startedBy"] == runner.started_by
    if capacity == "EC2":
        assert task["launchType"] == "EC2" and task["containerInstanceArn"]
