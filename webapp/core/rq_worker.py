"""The worker side of background jobs: RQ's worker inside the app context, and the periodic jobs every worker ticks."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.worker import DequeueStrategy

from webapp.core.jobs import FINISHED_STATES, QUEUE_NAMES, fetch_job, redis_connection, register_queues
from webapp.core.logging import request_id_var
from webapp.extensions import db

log = logging.getLogger(__name__)


# --- periodic jobs -------------------------------------------------------------------------
#
# Kept by hand rather than RQ's own cron scheduler (rq.cron in rq 2.12), for three reasons measured
# against it on 2026-12-05: two workers each running a CronScheduler for one 60 s job queued it
# twice in the same interval (each scheduler keeps its own clock, there is no claim shared through
# Redis, and each run gets a fresh random job id, so a sweep still waiting is doubled too); its
# CronJob enqueues only a function object ("CronJob has no function to enqueue" given a dotted
# name), so the process that schedules would have to import tasks/; and CronScheduler.start() is
# a blocking loop that installs signal handlers, i.e. its own process (`rq cron`) and a single
# point of failure for the sweeps that keep "nothing is lost" true. Here every worker ticks, one
# Redis SET NX per job and interval decides who enqueues, and the job id is deterministic.


@dataclass(frozen=True)
class Periodic:
    """A task (by dotted name) that runs every `every` seconds, enqueued by whichever worker claims the slot first."""

    name: str
    task: str
    every: int
    queue: str = "low"

    @property
    def job_id(self) -> str:
        # RQ accepts only letters, digits, "_" and "-" in job ids ("periodic:x" or "a.b" raise).
        return "periodic-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def enqueue_due_periodic(jobs: Sequence[Periodic], connection: Redis) -> list[str]:
    """Enqueue each periodic job whose slot is free; the Redis claim makes this safe across workers."""
    enqueued = []
    for job in jobs:
        if connection.set(f"gantry:periodic:{job.name}", int(time.time()), nx=True, ex=job.every):
            queue = Queue(job.queue, connection=connection)
            try:
                queue.enqueue(job.task, job_id=job.job_id, unique=True, job_timeout=max(job.every * 4, 60))
            except DuplicateJobError:
                existing = fetch_job(job.job_id, connection)
                if existing is not None and existing.get_status(refresh=True) in FINISHED_STATES:
                    existing.delete()
                    queue.enqueue(job.task, job_id=job.job_id, unique=True, job_timeout=max(job.every * 4, 60))
                else:
                    continue
            enqueued.append(job.name)
    return enqueued


class PeriodicTicker(threading.Thread):
    """Runs beside the worker loop and enqueues periodic jobs when they fall due."""

    def __init__(self, jobs: Sequence[Periodic], connection: Redis, tick: float = 1.0) -> None:
        super().__init__(name="gantry-periodic", daemon=True)
        self.jobs = list(jobs)
        self.connection = connection
        self.tick = tick
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                register_queues(self.connection)
                enqueue_due_periodic(self.jobs, self.connection)
            except Exception:  # Redis away: try again next tick, the worker keeps running
                log.warning("periodic jobs could not be enqueued", exc_info=True)
            self.stopped.wait(self.tick)

    def stop(self) -> None:
        self.stopped.set()


class GantryWorker(SimpleWorker):
    """An RQ worker that runs jobs inside the app context, with the request id of whoever asked."""

    app: Flask | None = None
    jobs_performed: int = 0  # RQ's own counters live in Redis and are not read back reliably

    def perform_job(self, job: Job, queue: Queue) -> bool:
        token = request_id_var.set((job.meta or {}).get("request_id") or f"job-{job.id}")
        self.jobs_performed += 1
        try:
            return super().perform_job(job, queue)
        finally:
            request_id_var.reset(token)
            if self.app is not None:
                db.session.remove()


def make_worker(app: Flask, queues: Sequence[str] = QUEUE_NAMES, name: str | None = None) -> GantryWorker:
    connection = redis_connection(app)
    worker = GantryWorker([Queue(q, connection=connection) for q in queues], connection=connection, name=name)
    worker.app = app
    return worker


def run_worker(app: Flask, periodic: Sequence[Periodic], queues: Sequence[str] | None = None, *,
               burst: bool = False, name: str | None = None) -> None:
    """Work the queues in the app context, with RQ's scheduler (retries, delays) and the periodic jobs."""
    with app.app_context():
        worker = make_worker(app, queues or QUEUE_NAMES, name=name)
        ticker = PeriodicTicker(periodic, redis_connection(app))
        if not burst:
            ticker.start()
        try:
            # In turn, not in priority order: on a worker of several queues a steady stream of forwarding
            # sends on "default" kept the periodic jobs on "low" (the runner reconciler, retention) waiting
            # for 25 minutes in bench/soak.py. Processing keeps its priority through workers of its own
            # (`python worker.py high`, docs/scaling.md).
            worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"],
                        dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
        finally:
            ticker.stop()


def run_jobs_now(app: Flask, queues: Sequence[str] = QUEUE_NAMES, max_jobs: int | None = None) -> int:
    """Work every queued job in this process and return (burst); used by tests, CLI and benches."""
    worker = make_worker(app, queues)
    worker.work(burst=True, with_scheduler=False, max_jobs=max_jobs, logging_level="WARNING")
    return worker.jobs_performed
