"""200 queued jobs, 8 concurrent workers, a cap of 20: never more than 20 alive, every job served."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select, text

from tests.runners.conftest import new_job_id, workflow_job
from webapp.core.jobs import QUEUE_NAMES, redis_connection
from webapp.runners.models import ALIVE_STATES, Runner, WorkflowJob

JOBS = 200
WORKERS = 8
CAP = 20


def handle_in_worker(payload: dict[str, Any]) -> str:
    """A queued job that handles one workflow_job payload like webhook processing does."""
    from flask import current_app

    from tests.runners.conftest import process

    return process(current_app._get_current_object(), payload)  # type: ignore[attr-defined]


class Workers:
    """Eight threads, each with its own app context, working the real Redis queues."""

    def __init__(self, app: Flask, count: int) -> None:
        self.app = app
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, name=f"worker-{i}", daemon=True) for i in range(count)]

    def _run(self) -> None:
        from webapp.extensions import db

        with self.app.app_context():
            connection = redis_connection(self.app)
            queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
            while not self.stop.is_set():
                found = Queue.dequeue_any(queues, None, connection=connection)
                if found is None:
                    time.sleep(0.005)
                    continue
                job, _ = found
                try:
                    job.perform()
                except BaseException as exc:  # recorded and re-raised by the test
                    self.errors.append(exc)
                finally:
                    db.session.remove()

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


class AliveMonitor(threading.Thread):
    """Samples the number of alive runners every few milliseconds on its own connection."""

    def __init__(self, app: Flask) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.maximum = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        from webapp.extensions import db

        with self.app.app_context(), db.engine.connect() as conn:
            states = ", ".join(f"'{s}'" for s in ALIVE_STATES)
            while not self.done.is_set():
                alive = conn.execute(text(f"SELECT count(*) FROM runners WHERE state IN ({states})")).scalar()
                conn.commit()
                self.maximum = max(self.maximum, int(alive or 0))
                self.samples += 1
                time.sleep(0.003)


@pytest.mark.timeout(110)
def test_200_queued_jobs_8_workers_cap_20(app, db, make_pool, fake_aws, fake_github, post_job):
    pool = make_pool(name="burst", labels=["linux"], max_runners=CAP, aws=fake_aws)
    job_ids = [new_job_id() for _ in range(JOBS)]
    monitor = AliveMonitor(app)
    monitor.start()
    with Workers(app, WORKERS) as workers:
        for job_id in job_ids:
            post_job(workflow_job("queued", job_id))
        served: set[int] = set()  # runners that took a job
        taken: set[int] = set()  # jobs a runner took
        queue = Queue("default", connection=redis_connection(app))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            db.session.expire_all()
            done = db.session.scalar(select(func.count()).select_from(WorkflowJob)
                                     .where(WorkflowJob.status == "completed"))
            if done == JOBS:
                break
            # GitHub's side: every runner whose task is up takes a queued job, runs it, and exits
            ready = list(db.session.scalars(select(Runner).where(Runner.state == "launching",
                                                                 Runner.id.not_in(served or {0}))))
            waiting = [job_id for job_id in db.session.scalars(select(WorkflowJob.github_job_id).where(
                WorkflowJob.status == "queued").order_by(WorkflowJob.id)) if job_id not in taken]
            for runner, job_id in zip(ready, waiting, strict=False):
                served.add(runner.id)
                taken.add(job_id)
                # in_progress and completed go to different workers: they may run in either order
                for action in ("in_progress", "completed"):
                    queue.enqueue(handle_in_worker, workflow_job(action, job_id, labels=["linux"],
                                                                 runner_name=runner.name))
                fake_aws.stop(runner.task_arn)
            time.sleep(0.02)
        monitor.done.set()
        monitor.join(timeout=5)
    assert not workers.errors, workers.errors[:3]
    db.session.expire_all()
    statuses = dict(db.session.execute(select(WorkflowJob.status, func.count()).group_by(WorkflowJob.status)).all())
    assert statuses == {"completed": JOBS}, statuses  # every job served
    assert monitor.samples > 50
    assert 0 < monitor.maximum <= CAP, monitor.maximum  # never more than the cap alive
    launched = db.session.scalar(select(func.count()).select_from(Runner).where(Runner.task_arn.is_not(None)))
    assert len(fake_aws.all_tasks()) == launched  # one task per launched runner, no duplicates
    assert db.session.scalar(select(func.count()).select_from(Runner).where(
        Runner.pool_id == pool.id, Runner.state == "finished")) >= JOBS


def test_a_batch_of_deliveries_scales_each_pool_once_as_it_commits(app, db, make_pool, post_job, run_jobs,
                                                                   monkeypatch):
    from webapp.runners import service

    pool = make_pool(labels=["linux"], max_runners=3)
    scaled: list[int] = []
    real_scale = service.scale_pool

    def counting_scale(pool_id: int) -> list[int]:
        scaled.append(pool_id)
        return real_scale(pool_id)

    monkeypatch.setattr(service, "scale_pool", counting_scale)
    ids = [new_job_id() for _ in range(5)]
    for job_id in ids:
        post_job(workflow_job("queued", job_id))

    run_jobs(queues=("high",))  # the first job processes all five deliveries in one batch

    assert scaled == [pool.id]
    db.session.expire_all()
    requested = db.session.scalar(select(func.count()).select_from(Runner).where(Runner.pool_id == pool.id))
    assert requested == 3  # five jobs waiting, capped at three
    assert db.session.scalar(select(func.count()).select_from(WorkflowJob)
                             .where(WorkflowJob.github_job_id.in_(ids), WorkflowJob.pool_id == pool.id)) == 5
