"""A long run of the whole stack at a steady mixed load: does it keep pace and stay flat?

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 100] [--window 5] [--jobs-per-minute 60]

The stack as `make run` starts it in sandbox mode, with production's process layout:

- gunicorn serving wsgi:app (2 processes x 8 threads) and 2 RQ workers, laid out as docs/scaling.md
  advises: `python worker.py high` (processing, launches) and `python worker.py` (every queue:
  forwarding sends, periodic jobs such as the sweeps, the runner reconciler and retention);
- PostgreSQL (own database gantry_bench_soak, dropped and created) and a private redis-server;
- the GitHub simulator and moto's ECS (sandbox/world.py), with `flask db upgrade` and `flask seed-demo`
  run as `make run` runs them, so the demo's "linux" runner pool launches into moto;
- the runner simulator (sandbox/runner.py) playing every ECS task Gantry starts: it reads its JIT config
  from SSM, takes the job, makes the simulator send in_progress, works 3 s, sends completed, stops;
- a forwarding receiver on loopback, answering 200 and recording each message's `webhook-id`; two
  forwarding targets send it push/release and pull_request/check_suite events.

The load, paced at `--rate` deliveries a second in all: `--jobs-per-minute` workflow jobs are queued in
the simulator (each makes GitHub send queued, in_progress and completed, so 3 deliveries); the rest
are real payloads from ../shared/github/webhooks (push, pull_request, check_suite, check_run, create,
delete, release, workflow_run) posted signed by a separate load process, 4 keep-alive clients.

Every `--window` minutes it prints a row: intake p50/p99 (from when each request was due, so queueing
counts), processing lag p50/p99 (received_at -> processed_at of the deliveries received in the window),
RSS of the web and worker processes and of redis-server, Redis used_memory and queued jobs, and the
largest PostgreSQL tables. At the end it stops the load, lets the backlog drain, and checks that
nothing was lost or doubled: every accepted delivery stored once and handled or ignored in one
attempt; every forwarded message sent once and received once; every simulated job completed in
Gantry's ledger.

RSS and Redis memory are sampled every 10 s; rows show each window's medians, and growth compares the
median of minute 5 (a quarter of a shorter run) with the median of the last minute.

Goals (issue 17): lag p99 < 2 s in every window; RSS growth < 10 % from minute 5 to minute 30; Redis
memory flat beyond queued work (< 10 % growth over the same span).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._services import free_port, fresh_database, start_redis  # noqa: E402
from bench.webhook_intake import post_delivery  # noqa: E402
from bench.webhook_processing import MIXED_EXTRA, ROUTED, Mix  # noqa: E402
from sandbox.github.events import sign  # noqa: E402

DB_NAME = "gantry_bench_soak"
SOAK_ROUTED = {**ROUTED, "workflow_run": MIXED_EXTRA["workflow_run"]}
# name: (events, every how many of the organisation's repositories it follows)
TARGETS = {"soak deploys": (["push", "release"], 3), "soak team": (["pull_request", "check_suite"], 2)}
LOADERS = 4
SAMPLE_SECONDS = 10
GROWTH_FROM_S = 300
# As docs/scaling.md advises: one worker on `high` (processing, launches), one on every queue.
WORKER_QUEUES = (["high"], [])
LAG_GOAL_S = 2.0
GROWTH_GOAL = 0.10
BIN = Path(sys.executable).parent


# --- the load: a separate process, so its own work does not slow the servers it measures ----------


class SoakMix(Mix):
    """The processing bench's organisation mix, over the sandbox organisation's repositories."""

    def __init__(self, installation_id: int, repositories: list[tuple[int, str]], seed: int) -> None:
        super().__init__(seed)
        self.installation_id = installation_id
        self.repositories = repositories

    def _repo(self, payload: dict[str, Any]) -> None:
        repo_id, full_name = self.rng.choice(self.repositories)
        if isinstance(payload.get("repository"), dict):
            payload["repository"] = {**payload["repository"], "id": repo_id, "full_name": full_name,
                                     "name": full_name.partition("/")[2]}
        payload["installation"] = {"id": self.installation_id}


def _poster(port: int, secret: str, rate: float, start: float, stop_at: float, counter: Any, lock: Any,
            mix: SoakMix, out: Any, out_lock: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:
            n = next(counter)
            event, payload = mix.routed(SOAK_ROUTED)
        due = start + n / rate
        if due >= stop_at:
            return
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": str(uuid.uuid4()), "User-Agent": "GitHub-Hookshot/soak",
                   "X-Hub-Signature-256": sign(secret, body)}
        conn, status = post_delivery(conn, body, headers)
        done = time.time()
        with out_lock:
            out.write(f"{due - start:.4f} {(done - due) * 1000:.2f} {status} {event} {payload['repository']['id']}\n")


def load_main(port: int, secret: str, rate: float, start: float, seconds: float, path: str,
              installation_id: int, repositories: list[tuple[int, str]]) -> None:
    """`rate` signed deliveries a second from `start` for `seconds`; one line per request in `path`."""
    lock, out_lock = threading.Lock(), threading.Lock()
    counter = itertools.count()
    mix = SoakMix(installation_id, repositories, seed=29)
    with open(path, "w", buffering=1) as out:
        threads = [threading.Thread(target=_poster, args=(port, secret, rate, start, start + seconds, counter,
                                                          lock, mix, out, out_lock)) for _ in range(LOADERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


Load = list[tuple[float, float, int, str, int]]  # (seconds after the start, latency ms, status, event, repository)


def read_load(path: Path) -> Load:
    rows = []
    for line in path.read_text().splitlines():
        offset, latency, status, event, repository = line.split()
        rows.append((float(offset), float(latency), int(status), event, int(repository)))
    return rows


# --- the forwarding receiver -----------------------------------------------------------------


class Receiver:
    """Answers 200 to every POST and counts each message id (a second arrival is a doubled send)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    seen[self.headers.get("webhook-id") or "?"] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- the stack --------------------------------------------------------------------------------


def stack_env(database_url: str, redis_url: str, settings: dict[str, str]) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {**os.environ, **settings, "ENVIRONMENT": "development", "DATABASE_URL": database_url,
           "REDIS_URL": redis_url, "SECRET_KEY": "soak-secret-key-that-is-long-enough-0123456789",
           "ENCRYPTION_KEYS": Fernet.generate_key().decode(), "LOG_LEVEL": "WARNING", "FLASK_APP": "wsgi.py",
           "RATELIMIT_ENABLED": "false", "FORWARDING_ALLOW_HTTP": "true",
           "FORWARDING_ALLOWED_CIDRS": "127.0.0.0/8", "PYTHONUNBUFFERED": "1"}
    return env


def start_web(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from bench.webhook_intake import wait_for_port, wait_until_serving

    process = subprocess.Popen([str(BIN / "gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
                                "--keep-alive", "30"], cwd=ROOT, env=env, start_new_session=True)
    wait_for_port(port)
    wait_until_serving(port, "/health")
    return process


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Probe:
    """What one row reports, read from the database, Redis and /proc."""

    def __init__(self, app: Any, redis_url: str, processes: dict[str, int]) -> None:
        import redis

        self.app = app
        self.redis = redis.Redis.from_url(redis_url)
        self.processes = processes

    def lag(self, since: Any, until: Any) -> tuple[float, float, int]:
        from sqlalchemy import text

        from webapp.core.models import utcnow
        from webapp.extensions import db

        with self.app.app_context():
            row = db.session.execute(text(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.99) WITHIN GROUP "
                "(ORDER BY s), count(*) FROM (SELECT extract(epoch FROM coalesce(processed_at, :now) "
                "- received_at) AS s FROM webhook_deliveries WHERE received_at >= :since "
                "AND received_at < :until) AS lags"), {"since": since, "until": until, "now": utcnow()}).one()
            db.session.rollback()
        return float(row[0] or 0), float(row[1] or 0), int(row[2])

    def tables(self, top: int = 4) -> list[tuple[str, float]]:
        from sqlalchemy import text

        from webapp.extensions import db

        with self.app.app_context():
            rows = db.session.execute(text(
                "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT :n"),
                {"n": top}).all()
            db.session.rollback()
        return [(name, size / 2**20) for name, size in rows]

    def redis_figures(self) -> tuple[float, int, int]:
        """(used_memory MB, jobs waiting in queues, keys)."""
        used = int(self.redis.info("memory")["used_memory"]) / 2**20
        waiting = sum(int(self.redis.llen(f"rq:queue:{name}")) for name in ("high", "default", "low"))
        return used, waiting, int(self.redis.dbsize())

    def rss(self) -> dict[str, float]:
        return {name: rss_mb(pid) for name, pid in self.processes.items()}


def medians(samples: list[tuple[float, dict[str, float], float]], since: float,
            until: float) -> tuple[dict[str, float], float]:
    """Median RSS of each process and median Redis MB of the samples taken from `since` to `until` s."""
    chosen = [s for s in samples if since <= s[0] < until] or samples[-1:]
    names = chosen[0][1] if chosen else {}
    return ({name: statistics.median(s[1][name] for s in chosen) for name in names},
            statistics.median(s[2] for s in chosen) if chosen else 0.0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


def seed_soak(app: Any, receiver_url: str) -> tuple[int, list[tuple[int, str]], str, dict[str, set[int]]]:
    """Forwarding targets to the receiver, each following some repositories.

    Answers the installation, its repositories, the linux pool's repository and each target's repositories."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.forwarding import signing
    from webapp.forwarding.models import ForwardTarget, ForwardTargetRepository
    from webapp.repos.models import Repository
    from webapp.runners.models import RunnerPool

    with app.app_context():
        pool = db.session.scalar(select(RunnerPool).where(RunnerPool.name == "linux"))
        assert pool is not None and pool.repository is not None, "seed-demo made no linux pool"
        installation_id = pool.installation_id
        repositories = [(r.id, r.full_name) for r in db.session.scalars(
            select(Repository).where(Repository.installation_id == installation_id).order_by(Repository.id))]
        followed = {}
        for name, (events, every) in TARGETS.items():
            followed[name] = {repo_id for repo_id, _ in repositories[::every]}
            db.session.add(ForwardTarget(name=name, url=f"{receiver_url}/{name.replace(' ', '-')}",
                                         secret=signing.new_secret(), events=events, repositories=[
                                             ForwardTargetRepository(repository_id=r) for r in followed[name]]))
        full_name = pool.repository.full_name
        db.session.commit()
    return int(installation_id), repositories, full_name, followed


def queue_jobs(github: Any, full_name: str, per_minute: float, start: float, stop_at: float,
               queued: list[int]) -> None:
    """Queue workflow jobs in the simulator at a steady pace (each sends its queued delivery)."""
    from sandbox.github import jobs

    for n in itertools.count():
        due = start + n * 60 / per_minute
        if due >= stop_at:
            return
        time.sleep(max(0.0, due - time.time()))
        record = jobs.queue(github.state, full_name, ["self-hosted", "linux", "x64"])
        queued.append(int(record["job"]["id"]))


# --- the run ----------------------------------------------------------------------------------


def drain(probe: Probe, github: Any, started_at: Any, job_ids: list[int], seconds: float = 180) -> list[str]:
    """Wait for the soak's deliveries, forwarded messages and simulated jobs to finish; what is left."""
    from sqlalchemy import text

    from sandbox.github import jobs
    from webapp.extensions import db

    deadline = time.monotonic() + seconds
    while True:
        with probe.app.app_context():
            deliveries, forwards, completed = db.session.execute(text(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status IN ('received', 'retrying') "
                "AND received_at >= :t), (SELECT count(*) FROM forward_deliveries d JOIN forward_targets t "
                "ON t.id = d.target_id WHERE d.status = 'pending' AND t.name LIKE 'soak %'), "
                "(SELECT count(*) FROM workflow_jobs WHERE status = 'completed' AND github_job_id = ANY(:ids))"),
                {"t": started_at, "ids": job_ids}).one()
            db.session.rollback()
        waiting_jobs = len(jobs._area(github.state)["queued"])
        running = len(job_ids) - completed - waiting_jobs
        if not (deliveries or forwards or waiting_jobs or running):
            return []
        if time.monotonic() > deadline:
            return [f"not drained after {seconds:g} s: {deliveries} deliveries pending, {forwards} forwarded "
                    f"messages pending, {waiting_jobs} simulated jobs waiting for a runner, {running} running"]
        time.sleep(1)


def redis_keys(probe: Probe) -> str:
    """Redis keys by kind (RQ's job hashes, results, registries...), to see what holds memory."""
    kinds: Counter[str] = Counter()
    for key in probe.redis.scan_iter(count=1000):
        parts = key.decode().split(":")
        kinds[":".join(parts[:2]) if parts[0] == "rq" else parts[0]] += 1
    return ", ".join(f"{kind} {count:,}" for kind, count in kinds.most_common(8))


def check(app: Any, started_at: Any, load: Load, receiver: Receiver, followed: dict[str, set[int]],
          job_ids: list[int], sent_by_github: int) -> list[str]:
    """Nothing lost or doubled; the problems found (empty: all well)."""
    from sqlalchemy import text

    from webapp.extensions import db

    problems = []
    refused = sum(1 for row in load if row[2] != 202)
    if refused:
        problems.append(f"{refused} posted deliveries were not accepted")
    accepted = len(load) - refused
    with app.app_context():
        q = db.session.execute
        stored = q(text("SELECT count(*) FROM webhook_deliveries WHERE received_at >= :t"),
                   {"t": started_at}).scalar_one()
        if stored != accepted + sent_by_github:
            problems.append(f"{stored} deliveries stored, {accepted} posted + {sent_by_github} sent by the simulator")
        for status, attempts, count in q(text(
                "SELECT status, attempts, count(*) FROM webhook_deliveries WHERE received_at >= :t "
                "GROUP BY 1, 2"), {"t": started_at}):
            if status not in ("handled", "ignored") or attempts != 1:
                problems.append(f"{count} deliveries {status} after {attempts} attempts")
        for name, (events, _) in TARGETS.items():
            expected = sum(1 for row in load if row[2] == 202 and row[3] in events and row[4] in followed[name])
            outbox = dict(q(text("SELECT d.status, count(*) FROM forward_deliveries d JOIN forward_targets t "
                                 "ON t.id = d.target_id WHERE t.name = :n GROUP BY 1"), {"n": name}).tuples().all())
            if sum(outbox.values()) != expected or set(outbox) - {"succeeded"}:
                problems.append(f"target {name!r}: outbox {outbox}, {expected} matching deliveries posted")
        messages = q(text("SELECT d.message_id FROM forward_deliveries d JOIN forward_targets t ON t.id = d.target_id "
                          "WHERE t.name LIKE 'soak %'")).scalars().all()
        lost = [m for m in messages if receiver.seen[m] == 0]
        doubled = [m for m in messages if receiver.seen[m] > 1]
        if lost or doubled:
            problems.append(f"forwarding: {len(lost)} messages never received, {len(doubled)} received twice")
        ledger = dict(q(text("SELECT status, count(*) FROM workflow_jobs WHERE github_job_id = ANY(:ids) GROUP BY 1"),
                        {"ids": job_ids}).tuples().all())
        if ledger.get("completed", 0) != len(job_ids):
            problems.append(f"runner jobs: {len(job_ids)} queued, ledger {ledger}")
        db.session.rollback()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100, help="deliveries a second, in all")
    parser.add_argument("--window", type=float, default=5, help="minutes per row")
    parser.add_argument("--jobs-per-minute", type=float, default=60)
    args = parser.parse_args(argv)
    posted_rate = args.rate - 3 * args.jobs_per_minute / 60

    from sandbox import world as sandbox_world
    from sandbox.github import DEFAULT_WEBHOOK_SECRET
    from sandbox.github import events as github_events

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/13")
    database_url = fresh_database(DB_NAME)
    port = free_port()
    world = sandbox_world.start(f"http://127.0.0.1:{port}")
    receiver = Receiver()
    env = stack_env(database_url, redis_url, world.settings)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.check_call([str(BIN / "flask"), "db", "upgrade"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.check_call([str(BIN / "flask"), "seed-demo", "--admin-password", "soak-password-1"], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL)
        from webapp import create_app
        from webapp.config import load_settings
        from webapp.core.models import utcnow

        app = create_app(load_settings(env))
        installation_id, repositories, job_repo, followed = seed_soak(app, receiver.url)
        web = start_web(port, env)
        processes.append(web)
        workers = [subprocess.Popen([sys.executable, "worker.py", "--name", f"soak-{i}", *queues], cwd=ROOT, env=env,
                                    start_new_session=True) for i, queues in enumerate(WORKER_QUEUES)]
        processes += workers
        time.sleep(3)
        watched = {f"web-{i + 1}": pid for i, pid in enumerate(children(web.pid))}
        watched |= {f"worker-{i + 1}": w.pid for i, w in enumerate(workers)}
        if redis_process is not None:
            watched["redis"] = redis_process.pid
        probe = Probe(app, redis_url, watched)
        sent_before = len(github_events.sent(world.github.state))

        seconds = args.minutes * 60
        window = args.window * 60
        start = time.time() + 1
        started_at = utcnow()
        load_path = Path(f"/tmp/gantry-soak-{os.getpid()}.log")
        loader = mp.get_context("spawn").Process(target=load_main, args=(
            port, DEFAULT_WEBHOOK_SECRET, posted_rate, start, seconds, str(load_path), installation_id, repositories))
        loader.start()
        job_ids: list[int] = []
        queuer = threading.Thread(target=queue_jobs, args=(world.github, job_repo, args.jobs_per_minute, start,
                                                           start + seconds, job_ids), daemon=True)
        queuer.start()
        samples: list[tuple[float, dict[str, float], float]] = []  # (seconds after start, RSS, Redis MB)
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(SAMPLE_SECONDS):
                samples.append((time.time() - start, probe.rss(), probe.redis_figures()[0]))

        threading.Thread(target=sample, daemon=True).start()

        print(f"soak: {args.minutes:g} min at {args.rate:g} deliveries/s ({posted_rate:g}/s posted, "
              f"{args.jobs_per_minute:g} workflow jobs/min); rows every {args.window:g} min; processes {watched}")
        print("| minute | intake p50 / p99 ms | lag p50 / p99 s | deliveries | RSS MB (" + ", ".join(watched)
              + ") | Redis MB / queued / keys | largest tables MB |")
        print("| ---: | ---: | ---: | ---: | --- | ---: | --- |")
        rows: list[dict[str, Any]] = []
        for index in itertools.count(1):
            edge = start + min(index * window, seconds)
            time.sleep(max(0.0, edge + 5 - time.time()))  # 5 s for the window's last deliveries
            load = [r for r in read_load(load_path) if (index - 1) * window <= r[0] < index * window]
            since = started_at + (index - 1) * _td(window)
            lag50, lag99, count = probe.lag(since, since + _td(window))
            _, waiting, keys = probe.redis_figures()
            rss, used = medians(samples, (index - 1) * window, index * window)
            latencies = [r[1] for r in load]
            row = {"minute": min(index * window, seconds) / 60, "p50": percentile(latencies, 0.5),
                   "p99": percentile(latencies, 0.99), "lag50": lag50, "lag99": lag99, "count": count,
                   "rss": rss, "redis": used, "waiting": waiting}
            rows.append(row)
            tables = ", ".join(f"{name} {size:.0f}" for name, size in probe.tables())
            print(f"| {row['minute']:g} | {row['p50']:.1f} / {row['p99']:.1f} | {lag50:.2f} / {lag99:.2f} | "
                  f"{count:,} | {' / '.join(f'{v:.0f}' for v in rss.values())} | "
                  f"{used:.1f} / {waiting} / {keys:,} | {tables} |", flush=True)
            if index * window >= seconds:
                keys_at_end = redis_keys(probe)
                break
        sampling.set()
        loader.join(timeout=60)
        queuer.join(timeout=60)
        print(f"Redis keys at the last row: {keys_at_end}")
        left = drain(probe, world.github, started_at, job_ids)
        load = read_load(load_path)
        sent_by_github = len(github_events.sent(world.github.state)) - sent_before
        problems = left + check(
            app, started_at, load, receiver, followed, job_ids, sent_by_github)
        accepted = sum(1 for r in load if r[2] == 202)
        print(f"\nposted {len(load):,} ({accepted:,} accepted), simulator sent {sent_by_github:,}, "
              f"workflow jobs {len(job_ids):,}, forwarded messages received {sum(receiver.seen.values()):,}")

        lag_ok = all(r["lag99"] < LAG_GOAL_S for r in rows)
        since = min(GROWTH_FROM_S, seconds / 4)  # minute 5 (a quarter of a short run)
        first_rss, first_redis = medians(samples, since, since + 60)
        last_rss, last_redis = medians(samples, seconds - 60, seconds)
        growth = {name: (last_rss[name] - first_rss[name]) / first_rss[name] for name in first_rss if first_rss[name]}
        redis_growth = (last_redis - first_redis) / first_redis
        print(f"lag p99 < {LAG_GOAL_S:g} s in every window: {'met' if lag_ok else 'NOT met'} "
              f"(worst {max(r['lag99'] for r in rows):.2f} s)")
        print(f"growth from minute {since / 60:g} to the last minute (medians of {SAMPLE_SECONDS} s samples), RSS: "
              + ", ".join(f"{name} {value:+.1%}" for name, value in growth.items())
              + f"; Redis used_memory {redis_growth:+.1%} ({first_redis:.1f} -> {last_redis:.1f} MB)")
        flat = all(v < GROWTH_GOAL for v in growth.values()) and redis_growth < GROWTH_GOAL
        print("nothing lost or doubled" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems))
        ok = lag_ok and flat and not problems
        print("goals met" if ok else "goals NOT met")
        return 0 if ok else 1
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        world.stop()
        receiver.server.shutdown()
        if redis_process is not None:
            redis_process.terminate()


def _td(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


if __name__ == "__main__":
    sys.exit(main())
