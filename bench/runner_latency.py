"""Runner launch latency and a burst: webhook received -> ECS RunTask issued.

    .venv/bin/python bench/runner_latency.py [--jobs 100] [--burst 1000] [--pools 10] [--workers 4]

Everything real but AWS and GitHub: the webhook intake (signed POST /webhooks/github), PostgreSQL,
Redis, and real RQ worker processes (`python worker.py`) doing webhook processing, the scaling
decision under the pool lock, generate-jitconfig, the SSM SecureString and RunTask. AWS is moto
served over HTTP in its own process; GitHub is the test suite's fake, in its own process.

1. Latency, one worker: `--jobs` queued jobs posted one after another (each waits for its runner);
   latency = the runner's "launching" event (written once RunTask has answered) minus the
   delivery's received_at. Goal: p50 < 250 ms, p99 < 1 s.
2. Burst, `--workers` workers: `--burst` queued jobs over `--pools` pools (cap = burst / pools each),
   posted by 8 threads at once; the number of alive runners per pool is sampled every 5 ms.
   Goal: cap never exceeded, every job's runner launched in under 30 s.

Uses its own database (gantry_bench_runners, dropped and created) and a private redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._services import free_port, fresh_database, start_redis  # noqa: E402

FAKE_GITHUB = """
import json, logging, time
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from sandbox.github import default_app, fake_github_settings
from sandbox.github.server import FakeServer
from sandbox.github.state import default_state
server = FakeServer(lambda: default_state(default_app()))
server.start()
print(json.dumps(fake_github_settings(server)), flush=True)
while True:
    time.sleep(3600)
"""


def start_moto() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen([str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import requests

    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            return url, process
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start")


def start_fake_github() -> tuple[dict[str, Any], subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", FAKE_GITHUB], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return json.loads(process.stdout.readline()), process


def gantry_env(database_url: str, redis_url: str, aws_url: str, github: dict[str, Any]) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {**os.environ, "ENVIRONMENT": "development", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789", "LOG_LEVEL": "WARNING",
           "ENCRYPTION_KEYS": Fernet.generate_key().decode(), "AWS_ENDPOINT_URL": aws_url,
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "RATELIMIT_ENABLED": "false"}
    env.update({key: str(value) for key, value in github.items()})
    return env


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "worker.py", "--name", f"bench-{i}-{uuid.uuid4().hex[:6]}"],
                             cwd=ROOT, env=env, start_new_session=True) for i in range(count)]


def wait_for_workers(app: Any, count: int) -> None:
    from webapp.core.jobs import workers_seen

    with app.app_context():
        for _ in range(600):
            if len(workers_seen()) >= count:
                return
            time.sleep(0.05)
    raise RuntimeError(f"{count} worker(s) did not start")


def stop(processes: list[Any]) -> None:
    """Stop each process and wait for it before the next, so workers finish while Redis still runs."""
    for process in processes:
        if process is None:
            continue
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def make_payload(job_id: int, labels: list[str]) -> dict[str, Any]:
    from tests.runners.conftest import workflow_job

    return workflow_job("queued", job_id, labels=labels)


class Poster:
    """Signs and posts deliveries to the intake the way GitHub does, one test client per thread."""

    def __init__(self, app: Any, secret: str) -> None:
        self.app = app
        self.secret = secret
        self.local = threading.local()

    def post(self, payload: dict[str, Any]) -> int:
        """The stored delivery's id."""
        from tests.webhooks.helpers import post_webhook

        if not hasattr(self.local, "client"):
            self.local.client = self.app.test_client()
        response = post_webhook(self.local.client, "workflow_job", payload, self.secret)
        assert response.status_code == 202, response.get_data(as_text=True)
        return int(response.get_json()["id"])


def setup_world(app: Any, pools: int, cap: int, aws: Any) -> list[int]:
    from webapp.extensions import db
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import RunnerPool

    with app.app_context():
        db.session.add(Installation(id=101, account_login="acme", account_type="Organization"))
        db.session.flush()
        db.session.add(Repository(id=1001, installation_id=101, owner="acme", name="infrajet",
                                  full_name="acme/infrajet"))
        ids = []
        for index in range(pools):
            pool = RunnerPool(name=f"bench{index}", scope="repository", repository_id=1001, installation_id=101,
                              labels=["self-hosted", f"bench{index}"], max_runners=cap, **aws.pool_settings())
            db.session.add(pool)
            db.session.flush()
            ids.append(pool.id)
        db.session.commit()
        return ids


def wait_for_launches(app: Any, count: int, seconds: float = 30) -> None:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.runners.models import RunnerEvent

    deadline = time.monotonic() + seconds
    with app.app_context():
        while db.session.scalar(select(func.count()).select_from(RunnerEvent)
                                .where(RunnerEvent.kind == "launching")) < count:
            db.session.rollback()
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} runners launched within {seconds} s")
            time.sleep(0.01)
        db.session.rollback()


def latency_phase(app: Any, poster: Poster, jobs: int, pool_id: int) -> list[float]:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.runners.models import RunnerEvent
    from webapp.webhooks.models import WebhookDelivery

    latencies = []
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(RunnerEvent).where(RunnerEvent.kind == "launching"))
        db.session.rollback()
        for index in range(jobs):
            delivery = poster.post(make_payload(8_000_000 + index, ["self-hosted", "bench0"]))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                launched = db.session.scalar(select(func.count()).select_from(RunnerEvent)
                                             .where(RunnerEvent.kind == "launching"))
                db.session.rollback()
                if launched == before + index + 1:
                    break
                time.sleep(0.002)
            else:
                raise RuntimeError(f"job {index}: no runner launched within 10 s ({launched} launching events)")
            received = db.session.scalar(select(WebhookDelivery.received_at).where(WebhookDelivery.id == delivery))
            started = db.session.scalar(select(func.max(RunnerEvent.at)).where(RunnerEvent.kind == "launching",
                                                                               RunnerEvent.pool_id == pool_id))
            db.session.rollback()
            latencies.append((started - received).total_seconds())
    return latencies


def burst_phase(app: Any, poster: Poster, pool_ids: list[int], burst: int, cap: int) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from webapp.extensions import db

    maximum: dict[int, int] = {}
    stop_sampling = threading.Event()
    samples = [0]

    def sample() -> None:
        with app.app_context(), db.engine.connect() as conn:
            query = text("SELECT pool_id, count(*) FROM runners WHERE state IN "
                         "('requested', 'launching', 'idle', 'busy') GROUP BY pool_id")
            while not stop_sampling.is_set():
                for pool_id, alive in conn.execute(query):
                    maximum[pool_id] = max(maximum.get(pool_id, 0), alive)
                conn.commit()
                samples[0] += 1
                time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    payloads = [make_payload(9_000_000 + i, ["self-hosted", f"bench{i % len(pool_ids)}"]) for i in range(burst)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(poster.post, payloads))
    posted = time.monotonic() - started
    launched = 0
    with app.app_context(), db.engine.connect() as conn:
        deadline = started + 120
        while time.monotonic() < deadline:
            launched = conn.execute(text("SELECT count(*) FROM runners WHERE state = 'launching'")).scalar() or 0
            conn.commit()
            if launched >= burst:
                break
            time.sleep(0.01)
    elapsed = time.monotonic() - started
    stop_sampling.set()
    sampler.join(timeout=5)
    return {"posted_s": posted, "all_launched_s": elapsed, "launched": launched,
            "max_alive": max(maximum.values() or [0]), "cap": cap, "samples": samples[0],
            "pools_at_cap": sum(1 for v in maximum.values() if v == cap)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--pools", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    cap = args.burst // args.pools

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/11")
    database_url = fresh_database("gantry_bench_runners")
    aws_url, moto = start_moto()
    github, fake_github = start_fake_github()
    processes: list[Any] = [redis_process, moto, fake_github]
    try:
        env = gantry_env(database_url, redis_url, aws_url, github)
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        from flask_migrate import upgrade

        from tests.fakes.aws import setup_world as setup_aws
        from webapp import create_app
        from webapp.config import load_settings

        app = create_app(load_settings(env))
        with app.app_context():
            upgrade()
        aws = setup_aws(aws_url)
        pool_ids = setup_world(app, args.pools, cap, aws)
        poster = Poster(app, github["GITHUB_WEBHOOK_SECRET"])

        workers = start_workers(1, env)
        processes += workers
        wait_for_workers(app, 1)
        poster.post(make_payload(7_999_999, ["self-hosted", "bench1"]))  # warm-up: tokens, connections
        wait_for_launches(app, 1)  # the warm-up's own launch must not count as the first job's
        latencies = latency_phase(app, poster, args.jobs, pool_ids[0])
        print("latencies (ms):", " ".join(f"{v * 1000:.0f}" for v in latencies))
        print(f"latency, 1 worker, {len(latencies)} jobs: webhook received -> RunTask issued: "
              f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms (goal: p50 < 250 ms, p99 < 1 s)")
        stop(workers)

        from sqlalchemy import text

        from webapp.extensions import db

        with app.app_context():  # the burst starts from empty pools
            db.session.execute(text("TRUNCATE runner_events, runners, workflow_jobs"))
            db.session.commit()
        wait_for_gone = time.monotonic() + 15
        with app.app_context():
            from webapp.core.jobs import workers_seen

            while workers_seen() and time.monotonic() < wait_for_gone:
                time.sleep(0.1)
        processes += start_workers(args.workers, env)
        wait_for_workers(app, args.workers)
        tasks_before = len(aws.all_tasks())
        result = burst_phase(app, poster, pool_ids, args.burst, cap)
        tasks = len(aws.all_tasks()) - tasks_before
        print(f"burst, {args.workers} workers: {args.burst} queued jobs over {args.pools} pools (cap {cap} each): "
              f"posted in {result['posted_s']:.1f} s, {result['launched']} runners launched in "
              f"{result['all_launched_s']:.1f} s; max alive in a pool {result['max_alive']} "
              f"(cap {cap}, {result['samples']} samples); ECS tasks {tasks} "
              f"(goal: cap never exceeded, all launched < 30 s)")
        ok = (statistics.median(latencies) < 0.25 and percentile(latencies, 0.99) < 1.0
              and result["max_alive"] <= cap and result["launched"] == args.burst
              and result["all_launched_s"] < 30 and tasks == args.burst)
        print("goals met" if ok else "goals NOT met")
        return 0 if ok else 1
    finally:
        stop(list(reversed(processes)))  # workers before the services they use


if __name__ == "__main__":
    sys.exit(main())
