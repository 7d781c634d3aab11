"""How fast RQ workers process a backlog of stored GitHub deliveries, with 1 and then 2 workers.

    .venv/bin/python bench/webhook_processing.py [--deliveries 20000] [--per-kind 4000] [--workers 1 2]

Real payloads from ../shared/github/webhooks/ are stored through the intake's own write path
(one INSERT and one Redis round trip per 32 deliveries, as concurrent requests are written) and
queued; then worker processes (the production GantryWorker, burst mode, queue `high`, started
beforehand and released together) process the backlog. Three backlogs per worker count:

- routed only: push, pull_request, check_suite, check_run, create, delete, release — only the
  forwarding handler looks at them; two targets match some of them (outbox rows are written);
- workflow_job: queued, in_progress and completed for each job (ledger merge + pool scaling; an
  organisation pool matches a third of the jobs and stays at its cap, so launches are deferred
  but few);
- mixed (--deliveries, 20,000 by default): an organisation's mix of all of the above plus
  workflow_run and installation_repositories, over 200 repositories.

Deliveries/s = deliveries / (time from releasing the workers until every row is final). After
each backlog it checks exactly-once: every delivery handled or ignored with one attempt and no
error, one ledger row per job (completed), one outbox row per matching (target, delivery).

Goals (issue 17), one run: routed only >= 1,000/s and workflow_job >= 300/s with one worker;
two workers >= 1.7x one. Own database (gantry_bench_processing, dropped and created) and a
private redis-server.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.shared_data import WEBHOOKS_DIR  # noqa: E402

DB_NAME = "gantry_bench_processing"
INSTALLATION_ID = 101
REPOSITORIES = 200
POOL_LABEL = "bench-linux"
POOL_CAP = 5
GO_KEY, READY_KEY = "bench:processing:go", "bench:processing:ready"
GOALS = {"routed only": 1000.0, "workflow_job": 300.0}
SCALING_GOAL = 1.7

ROUTED = {  # event: (file names, weight)
    "push": (["default", "default.with-new-branch", "default.with-organization"], 40),
    "pull_request": (["opened", "synchronize", "closed"], 15),
    "check_suite": (["completed", "requested"], 10),
    "check_run": (["created", "completed"], 10),
    "create": (["default"], 3),
    "delete": (["default"], 2),
    "release": (["published"], 1),
}
MIXED_EXTRA = {
    "workflow_run": (["requested", "completed"], 8),
    "installation_repositories": (["added"], 1),
}
WORKFLOW_JOB_SHARE = 0.35  # of the mixed backlog (each job is three deliveries)


# --- the backlog ---------------------------------------------------------------------------


def _load(event: str, name: str) -> dict[str, Any]:
    return json.loads((WEBHOOKS_DIR / event / f"{name}.json").read_text())


class Mix:
    """Real payloads, varied the way an organisation's are: repository, job and run ids."""

    def __init__(self, seed: int = 17) -> None:
        self.rng = random.Random(seed)
        self.next_job = 10_000_000
        self.templates = {(event, name): _load(event, name)
                          for table in (ROUTED, MIXED_EXTRA) for event, (names, _) in table.items()
                          for name in names}
        self.jobs = {status: _load("workflow_job", name) for status, name in
                     (("queued", "queued"), ("in_progress", "in_progress"),
                      ("completed", "completed.success.with-organization"))}

    def _repo(self, payload: dict[str, Any]) -> None:
        index = self.rng.randrange(REPOSITORIES)
        if isinstance(payload.get("repository"), dict):
            payload["repository"] = {**payload["repository"], "id": 5000 + index,
                                     "full_name": f"acme/repo-{index}", "name": f"repo-{index}"}
        payload["installation"] = {"id": INSTALLATION_ID}

    def routed(self, table: dict[str, tuple[list[str], int]]) -> tuple[str, dict[str, Any]]:
        events = list(table)
        event = self.rng.choices(events, weights=[table[e][1] for e in events])[0]
        payload = copy.deepcopy(self.templates[(event, self.rng.choice(table[event][0]))])
        if event != "installation_repositories":
            self._repo(payload)
        return event, payload

    def workflow_job(self) -> list[tuple[str, dict[str, Any]]]:
        """queued, in_progress and completed of one new job (a third of them for the pool)."""
        self.next_job += 1
        job_id = self.next_job
        labels = ["self-hosted", "linux", POOL_LABEL] if job_id % 3 == 0 else ["ubuntu-latest"]
        repo = self.rng.randrange(REPOSITORIES)
        out = []
        for status, template in self.jobs.items():
            payload = copy.deepcopy(template)
            payload["workflow_job"].update(id=job_id, run_id=job_id // 4, labels=labels, run_attempt=1,
                                           runner_name=None if status == "queued" else f"hosted-{job_id}")
            payload["repository"] = {**payload["repository"], "id": 5000 + repo, "full_name": f"acme/repo-{repo}"}
            payload["installation"] = {"id": INSTALLATION_ID}
            out.append(("workflow_job", payload))
        return out

    def backlog(self, kind: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        while len(out) < count:
            if kind == "routed only":
                out.append(self.routed(ROUTED))
            elif kind == "workflow_job" or self.rng.random() < WORKFLOW_JOB_SHARE / 3:
                out += self.workflow_job()
            else:
                out.append(self.routed({**ROUTED, **MIXED_EXTRA}))
        return out[:count] if kind != "workflow_job" else out[: count - count % 3]


def store(backlog: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Store and queue the deliveries through the intake's batch writer path (32 per INSERT)."""
    from webapp.core.models import utcnow
    from webapp.webhooks import intake
    from webapp.webhooks.models import RECEIVED

    pks: list[int] = []
    batch: list[Any] = []
    for n, (event, payload) in enumerate(backlog, 1):
        repository = payload.get("repository") or {}
        batch.append(intake._Delivery(values={
            "delivery_id": str(uuid.uuid4()), "event": event, "action": payload.get("action"), "hook_id": None,
            "installation_id": INSTALLATION_ID, "repository_id": repository.get("id"),
            "repository_full_name": repository.get("full_name"), "verified_with": "app",
            "payload": json.dumps(payload), "received_at": utcnow(), "status": RECEIVED, "attempts": 0,
        }, request_id=None))
        if len(batch) == intake.BATCH_MAX_ITEMS or n == len(backlog):
            for outcome in intake._store_and_queue(batch):
                assert isinstance(outcome, intake._Stored) and outcome.pk is not None and outcome.queued
                pks.append(outcome.pk)
            batch = []
    return pks


def seed(app: Any) -> None:
    """The organisation: its installation and repositories, one runner pool, two forwarding targets."""
    from webapp.extensions import db
    from webapp.forwarding import signing
    from webapp.forwarding.models import ForwardTarget, ForwardTargetRepository
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import RunnerPool

    db.session.add(Installation(id=INSTALLATION_ID, account_login="acme", account_type="Organization"))
    db.session.flush()
    db.session.add_all([Repository(id=5000 + i, installation_id=INSTALLATION_ID, owner="acme", name=f"repo-{i}",
                                   full_name=f"acme/repo-{i}") for i in range(REPOSITORIES)])
    db.session.add(RunnerPool(name="bench", scope="organization", installation_id=INSTALLATION_ID,
                              labels=["linux", POOL_LABEL], max_runners=POOL_CAP, region="us-east-1",
                              cluster="bench", task_definition="bench-runner", capacity="FARGATE",
                              subnets=["subnet-1"], security_groups=["sg-1"], container_name="runner"))
    deploys = ForwardTarget(name="deploys", url="http://127.0.0.1:9/deploys", secret=signing.new_secret(),
                            events=["push", "release"])
    pulls = ForwardTarget(name="one team", url="http://127.0.0.1:9/team", secret=signing.new_secret(),
                          events=["pull_request", "check_suite"])
    db.session.add_all([deploys, pulls])
    db.session.flush()
    db.session.add_all([ForwardTargetRepository(target_id=pulls.id, repository_id=5000 + i) for i in range(20)])
    db.session.commit()


# --- workers -------------------------------------------------------------------------------


def worker_main(database_url: str, redis_url: str, encryption_keys: str) -> None:
    """One worker process: build the app, say it is ready, wait for the go, work `high` until empty."""
    import logging

    import redis

    from webapp import create_app
    from webapp.config import test_settings
    from webapp.core import rq_worker

    settings = test_settings(database_url, redis_url)
    settings.update({"TESTING": False, "LOG_LEVEL": "ERROR", "RATELIMIT_ENABLED": False,
                     "ENCRYPTION_KEYS": encryption_keys.split(","),
                     "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": 2}})
    app = create_app(settings)
    # The worker imports tasks/ on first use: done here so that it is not part of the timing.
    import tasks.runners
    import tasks.webhooks

    del tasks

    connection = redis.Redis.from_url(redis_url)
    connection.incr(READY_KEY)
    while not connection.exists(GO_KEY):
        time.sleep(0.005)
    for name in ("rq.worker", "webapp"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with app.app_context():
        worker = rq_worker.make_worker(app, ("high",))
        worker.work(burst=True, with_scheduler=False, logging_level="ERROR")


def run_backlog(app: Any, database_url: str, redis_url: str, workers: int, pks: list[int]) -> float:
    """Release `workers` worker processes on the stored backlog; seconds until every row is final."""
    import redis
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.webhooks.models import PENDING_STATUSES, WebhookDelivery

    connection = redis.Redis.from_url(redis_url)
    connection.delete(GO_KEY, READY_KEY)
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", database_url, redis_url,
                               ",".join(app.config["ENCRYPTION_KEYS"])], cwd=ROOT)
             for _ in range(workers)]
    while int(connection.get(READY_KEY) or 0) < workers:
        time.sleep(0.05)
    low, high = min(pks), max(pks)
    started = time.perf_counter()
    connection.set(GO_KEY, 1)
    while True:
        db.session.remove()
        left = db.session.scalar(select(func.count()).where(
            WebhookDelivery.id.between(low, high), WebhookDelivery.status.in_(PENDING_STATUSES)))
        if not left:
            break
        if all(p.poll() is not None for p in procs):
            raise RuntimeError(f"the workers stopped with {left} deliveries still pending")
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait(10)
    return elapsed


# --- exactly once --------------------------------------------------------------------------


def check_exactly_once(pks: list[int]) -> list[str]:
    """What is wrong with the processed backlog (nothing, when each delivery was processed once)."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.forwarding import filters
    from webapp.forwarding.models import ForwardDelivery, ForwardTarget
    from webapp.runners.models import Runner, WorkflowJob
    from webapp.webhooks.models import HANDLED, IGNORED, WebhookDelivery

    db.session.remove()
    low, high = min(pks), max(pks)
    problems = []
    rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.delivery_id, WebhookDelivery.event,
                                     WebhookDelivery.action, WebhookDelivery.repository_id, WebhookDelivery.payload,
                                     WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.error)
                              .where(WebhookDelivery.id.between(low, high))).all()
    if len(rows) != len(pks):
        problems.append(f"{len(rows)} rows for {len(pks)} deliveries")
    bad = [r for r in rows if r.status not in (HANDLED, IGNORED) or r.attempts != 1 or r.error]
    if bad:
        problems.append(f"{len(bad)} deliveries not processed exactly once, e.g. {bad[0].status} "
                        f"attempts={bad[0].attempts} {bad[0].error}")
    targets = list(db.session.scalars(select(ForwardTarget)))
    expected = sum(1 for r in rows for t in targets
                   if filters.wants(t, r.event, r.action, r.repository_id, r.payload))
    delivery_ids = [r.delivery_id for r in rows]
    outbox = db.session.execute(
        select(ForwardDelivery.target_id, ForwardDelivery.github_delivery_id, func.count())
        .where(ForwardDelivery.github_delivery_id.in_(delivery_ids))
        .group_by(ForwardDelivery.target_id, ForwardDelivery.github_delivery_id)).all()
    if len(outbox) != expected or any(n != 1 for *_, n in outbox):
        problems.append(f"outbox: {sum(n for *_, n in outbox)} rows in {len(outbox)} (target, delivery) pairs; "
                        f"{expected} expected, one each")
    job_ids = {int(r.payload["workflow_job"]["id"]) for r in rows if r.event == "workflow_job"}
    if job_ids:
        ledger = db.session.execute(select(WorkflowJob.status, func.count())
                                    .where(WorkflowJob.github_job_id.in_(job_ids))
                                    .group_by(WorkflowJob.status)).all()
        if dict(ledger) != {"completed": len(job_ids)}:
            problems.append(f"ledger: {dict(ledger)} for {len(job_ids)} jobs, all completed expected")
    runners = db.session.scalar(select(func.count()).select_from(Runner)) or 0
    if runners > POOL_CAP:
        problems.append(f"{runners} runners requested for a pool capped at {POOL_CAP}")
    db.session.remove()
    return problems


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000, help="mixed backlog")
    parser.add_argument("--per-kind", type=int, default=4_000, help="routed-only and workflow_job backlogs")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return 0

    import logging

    from flask_migrate import upgrade

    from bench._services import fresh_database, start_redis
    from webapp import create_app
    from webapp.config import test_settings

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/14")
    database_url = fresh_database(DB_NAME)
    kinds = [("routed only", args.per_kind), ("workflow_job", args.per_kind), ("mixed", args.deliveries)]
    results: dict[tuple[str, int], float] = {}
    problems: list[str] = []
    mix = Mix()
    try:
        settings = test_settings(database_url, redis_url)
        settings.update({"TESTING": False, "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": False})
        app = create_app(settings)
        with app.app_context():
            upgrade()
            for name in ("alembic", "rq.worker"):
                logging.getLogger(name).setLevel(logging.WARNING)
            seed(app)
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs "
                  "shared with PostgreSQL, Redis and whatever else runs")
            for workers in args.workers:
                for kind, count in kinds:
                    backlog = mix.backlog(kind, count)
                    started = time.perf_counter()
                    pks = store(backlog)
                    stored = time.perf_counter() - started
                    elapsed = run_backlog(app, database_url, redis_url, workers, pks)
                    rate = len(pks) / elapsed
                    results[(kind, workers)] = rate
                    found = check_exactly_once(pks)
                    problems += [f"{kind}, {workers} worker(s): {p}" for p in found]
                    counts: dict[str, int] = {}
                    for event, _ in backlog:
                        counts[event] = counts.get(event, 0) + 1
                    print(f"{workers} worker(s), {kind}: {len(pks)} deliveries (stored and queued in {stored:.1f} s) "
                          f"processed in {elapsed:.2f} s = {rate:.0f}/s; exactly once: "
                          f"{'yes' if not found else 'NO'}; load {os.getloadavg()[0]:.2f}")
                    if kind == "mixed":
                        ordered = sorted(counts.items(), key=lambda c: -c[1])
                        print("    mix: " + ", ".join(f"{e} {n}" for e, n in ordered))
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)

    print(f"\n{'deliveries/s':<16}" + "".join(f"{w} worker(s)".rjust(14) for w in args.workers) + "   goal")
    ok = not problems
    for kind, _ in kinds:
        line = f"{kind:<16}" + "".join(f"{results.get((kind, w), 0):>14.0f}" for w in args.workers)
        goal = GOALS.get(kind)
        if goal is not None and 1 in args.workers:
            met = results[(kind, 1)] >= goal
            ok &= met
            line += f"   >= {goal:.0f}/s with one worker: {'met' if met else 'NOT met'}"
        print(line)
    if 1 in args.workers and 2 in args.workers:
        for kind, _ in kinds:
            ratio = results[(kind, 2)] / results[(kind, 1)]
            ok &= ratio >= SCALING_GOAL
            print(f"two workers / one, {kind}: {ratio:.2f}x (goal >= {SCALING_GOAL}x)")
    for problem in problems:
        print("PROBLEM:", problem)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals met" if ok else "goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
