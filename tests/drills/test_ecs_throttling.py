"""Drill: ECS answers ThrottlingException to every RunTask for a while; the cap holds throughout.

moto cannot throttle, so the drill hooks the app's own botocore ECS client (`before-send` of
RunTask): for THROTTLE_SECONDS every RunTask gets the HTTP 400 `ThrottlingException` answer AWS
sends, which botocore parses, retries (standard mode) and finally raises as a ClientError, exactly
as with AWS. JOBS queued `workflow_job` deliveries arrive through the real intake for a pool capped
at CAP. Launch jobs run in this process with RQ's scheduler moving the back-off retries (5 s, 20 s,
...) back to the queue. While ECS throttles, no task starts and no more than CAP runners are ever
requested; after it clears, the retried launches start tasks, GitHub's side (as in
tests/runners/test_concurrency.py) runs one job per runner, and every job gets a runner, with the
number of alive runners sampled every few milliseconds never above CAP and one ECS task per
launched runner.

Throttling lasts a minute, as issue 9 asks. The launch back-off is 5 s, 20 s, 60 s, ...: a runner
held back throughout launches on its fourth attempt, about 85 s in (the drill waits until every runner
the throttling held back has launched on a retry); about 90-100 s.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from rq.scheduler import RQScheduler
from sqlalchemy import func, select

from tests.runners.conftest import new_job_id, process, workflow_job
from tests.runners.test_concurrency import AliveMonitor
from webapp.core.jobs import redis_connection
from webapp.core.rq_worker import run_jobs_now
from webapp.integrations.ecs import aws
from webapp.runners.models import Runner, RunnerEvent, WorkflowJob

JOBS = 12
CAP = 4
THROTTLE_SECONDS = 60


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


class Throttle:
    """Answers RunTask with AWS's throttling error until `until` (time.monotonic())."""

    BODY = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.throttled = 0
        self.passed = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if time.monotonic() < self.until:
            self.throttled += 1
            headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "drill"})
            return AWSResponse(request.url, 400, headers, _Body(self.BODY))
        self.passed += 1
        return None  # send it to ECS


def count(db, *where: Any) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(Runner).where(*where)) or 0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_throttled_ecs_launches_every_runner_after_it_clears_and_never_exceeds_the_cap(
        app, db, make_pool, fake_aws, fake_github, post_job):
    pool = make_pool(name="drill", labels=["linux"], max_runners=CAP, aws=fake_aws)
    throttle = Throttle(THROTTLE_SECONDS)
    aws().client("ecs", fake_aws.region).meta.events.register("before-send.ecs.RunTask", throttle)
    scheduler = RQScheduler(["high", "default"], connection=redis_connection(app))
    assert scheduler.acquire_locks()
    monitor = AliveMonitor(app)
    monitor.start()
    job_ids = [new_job_id() for _ in range(JOBS)]
    served: set[int] = set()
    taken: set[int] = set()
    started = time.monotonic()
    first_task_at: float | None = None
    try:
        for job_id in job_ids:
            post_job(workflow_job("queued", job_id, labels=["linux"]))
        deadline = started + THROTTLE_SECONDS + 90
        while time.monotonic() < deadline:
            scheduler.enqueue_scheduled_jobs()  # back-off retries that are due go back to the queue
            run_jobs_now(app)
            if time.monotonic() < throttle.until:
                assert fake_aws.running_tasks() == []  # nothing starts while ECS throttles
                assert count(db) <= CAP  # and the pool does not ask for more than its cap
            db.session.expire_all()
            done = db.session.scalar(select(func.count()).select_from(WorkflowJob)
                                     .where(WorkflowJob.status == "completed"))
            if done == JOBS and count(db, Runner.state == "requested") == 0:
                break  # every job served, and every runner the throttling held back has launched
            # GitHub's side: a runner whose task is up takes a queued job, runs it and exits.
            ready = list(db.session.scalars(select(Runner).where(Runner.state == "launching",
                                                                 Runner.id.not_in(served or {0}))))
            waiting = [job for job in db.session.scalars(select(WorkflowJob.github_job_id).where(
                WorkflowJob.status == "queued").order_by(WorkflowJob.id)) if job not in taken]
            for runner, job_id in zip(ready, waiting, strict=False):
                first_task_at = first_task_at or time.monotonic()
                served.add(runner.id)
                taken.add(job_id)
                for action in ("in_progress", "completed"):
                    process(app, workflow_job(action, job_id, labels=["linux"], runner_name=runner.name))
                fake_aws.stop(runner.task_arn)
            time.sleep(0.1)
    finally:
        monitor.done.set()
        monitor.join(timeout=5)
        scheduler.release_locks()
    db.session.expire_all()
    statuses = dict(db.session.execute(select(WorkflowJob.status, func.count()).group_by(WorkflowJob.status)).all())
    assert statuses == {"completed": JOBS}, statuses  # every queued job got a runner
    assert throttle.throttled > 0 and throttle.passed > 0
    assert first_task_at is not None and first_task_at >= throttle.until  # runners came only after it cleared
    throttled_events = db.session.scalar(select(func.count()).select_from(RunnerEvent).where(
        RunnerEvent.kind == "launch_failed", RunnerEvent.reason == "throttled"))
    assert throttled_events > 0  # the first runners met the throttling...
    held_back = set(db.session.scalars(select(RunnerEvent.runner_id).where(RunnerEvent.reason == "throttled")))
    assert count(db, Runner.id.in_(held_back), Runner.task_arn.is_not(None)) == len(held_back)  # ...and launched
    assert count(db, Runner.state == "failed") == 0  # none gave up: the back-off outlasted the throttling
    assert monitor.samples > 50
    assert 0 < monitor.maximum <= CAP, monitor.maximum  # never more alive than the cap
    launched = count(db, Runner.task_arn.is_not(None))
    assert launched >= JOBS and len(fake_aws.all_tasks()) == launched  # one ECS task per launched runner
    assert count(db, Runner.pool_id == pool.id, Runner.state == "finished") >= JOBS
    print(f"\nRunTask throttled {throttle.throttled}x for {THROTTLE_SECONDS} s ({len(held_back)} runners held "
          f"back, all launched later); first task "
          f"{first_task_at - started:.1f} s after the first delivery; all {JOBS} jobs served "
          f"{time.monotonic() - started:.1f} s after it; at most {monitor.maximum} of {CAP} alive")
