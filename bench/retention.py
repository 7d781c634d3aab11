"""Retention's purge on a 1,000,000-delivery table while webhook intake takes deliveries.

    .venv/bin/python bench/retention.py [--deliveries 1000000] [--rate 150] [--baseline-seconds 20] [--keep]

Loads `--deliveries` webhook deliveries with the real `workflow_job` payload (7.9 KB of JSON) into
`gantry_bench_retention` with one `INSERT ... SELECT FROM generate_series` on the server, received
over the last 120 days: a quarter older than 90 days (their rows go), half between 30 and 90 days
(their payloads are emptied), a quarter younger (kept); 1 % of the old ones `failed` and some with
a pending forward delivery, which must both stay. Then, with Gantry's intake under gunicorn taking
real signed deliveries at a steady `--rate`, it measures the intake's latency for
`--baseline-seconds` without the purge, then again for as long as `retention.purge()` runs in
another process (defaults: batches of 1,000 rows, 200 ms lock_timeout). A sampler polls
`pg_locks.waitstart` every 20 ms for the longest wait of any backend for a lock: the intake's, and
separately the purge's own.

Reports purge rows/s per kind, intake p50/p99/max before and during the purge, the longest lock
waits, and checks that what must stay stayed. Uses its own database (dropped and created unless
--keep finds it loaded) and a private redis-server (or Redis DB 6 without one).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import multiprocessing as mp
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

from bench._services import PG_URL, free_port, fresh_database, start_redis  # noqa: E402
from bench.webhook_intake import (  # noqa: E402
    PAYLOAD_EVENT,
    PAYLOAD_NAME,
    SECRET,
    _load_process,
    gantry_env,
    gunicorn,
    stop,
)
from tests.shared_data import WEBHOOKS_DIR  # noqa: E402

DB_NAME = "gantry_bench_retention"
DAYS_SPREAD = 120
FAILED_SHARE = 0.01
PENDING_FORWARDS = 500


def load(database_url: str, count: int) -> float:
    """Insert `count` deliveries spread over DAYS_SPREAD days, in id order of arrival; seconds taken."""
    import sqlalchemy as sa

    payload = (WEBHOOKS_DIR / PAYLOAD_EVENT / f"{PAYLOAD_NAME}.json").read_text()
    engine = sa.create_engine(database_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        conn.execute(sa.text(
            "INSERT INTO webhook_deliveries (delivery_id, event, action, installation_id, repository_id, "
            "repository_full_name, verified_with, payload, received_at, status, attempts, processed_at) "
            "SELECT 'bench-' || g, 'workflow_job', 'queued', 1, 1001, 'acme/infrajet', 'app', CAST(:payload AS json), "
            "  now() - make_interval(secs => (:n - g) * (:spread * 86400.0 / :n)), "
            "  CASE WHEN g % 100 = 0 THEN 'failed' WHEN g % 10 = 1 THEN 'ignored' ELSE 'handled' END, 1, "
            "  now() - make_interval(secs => (:n - g) * (:spread * 86400.0 / :n)) "
            "FROM generate_series(1, :n) AS g"
        ), {"payload": payload, "n": count, "spread": DAYS_SPREAD})
        # A target whose deliveries of some old events are still pending: those events must stay.
        conn.execute(sa.text(
            "INSERT INTO forward_targets (name, url, secret, events, branch_patterns, tag_patterns, github_signature, "
            "active, created_at, updated_at) VALUES ('bench', 'https://deploy.example.com/hook', 'unused', '[]', "
            "'[]', '[]', false, true, now(), now())"
        ))
        conn.execute(sa.text(
            "INSERT INTO forward_deliveries (message_id, target_id, github_delivery_id, webhook_delivery_pk, event, "
            "received_at, payload, status, attempt_count, retry_index, next_attempt_at, created_at) "
            "SELECT 'msg_' || g, (SELECT id FROM forward_targets LIMIT 1), 'bench-' || g, g, 'workflow_job', now(), "
            "'{}', 'pending', 0, 0, now() + interval '1 day', now() "
            "FROM generate_series(2, :n, :step) AS g"
        ), {"n": count // 10, "step": max(1, (count // 10) // PENDING_FORWARDS)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE webhook_deliveries"))
        conn.execute(sa.text("VACUUM ANALYZE forward_deliveries"))
    engine.dispose()
    return time.perf_counter() - started


def table_figures(database_url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE payload_purged_at IS NULL), "
            "count(*) FILTER (WHERE status = 'failed'), pg_total_relation_size('webhook_deliveries') "
            "FROM webhook_deliveries"
        )).one()
        kept_forwarded = conn.scalar(sa.text(
            "SELECT count(*) FROM forward_deliveries f JOIN webhook_deliveries w ON w.id = f.webhook_delivery_pk "
            "WHERE f.status = 'pending'"
        ))
    engine.dispose()
    return {"rows": row[0], "with_payload": row[1], "failed": row[2], "bytes": row[3],
            "pending_forward_targets_kept": kept_forwarded}


# --- the purge, in a process of its own -------------------------------------------------------


def _purge_process(env: dict[str, str], queue: Any, ready: Any, go: Any) -> None:
    """Start the app, say so, and purge when told: the intake is measured over the purge alone."""
    os.environ.update(env)
    from webapp import create_app
    from webapp.ops import retention

    app = create_app()
    with app.app_context():
        ready.set()
        go.wait()
        started = time.perf_counter()
        summary = retention.purge()
        queue.put({**summary, "wall_seconds": time.perf_counter() - started})


# --- lock waits -------------------------------------------------------------------------------


class LockWaitSampler(threading.Thread):
    """Polls pg_locks for ungranted locks: the longest wait seen, by the purge and by everyone else."""

    def __init__(self, database_url: str, purge_application: str) -> None:
        super().__init__(daemon=True)
        import sqlalchemy as sa

        self.engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
        self.purge_application = purge_application
        self.stopped = threading.Event()
        self.longest = {"intake": 0.0, "purge": 0.0}
        self.samples = 0

    def run(self) -> None:
        import sqlalchemy as sa

        query = sa.text(
            "SELECT a.application_name = :purge, EXTRACT(EPOCH FROM max(clock_timestamp() - l.waitstart)) "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = current_database() "
            "GROUP BY 1"
        )
        with self.engine.connect() as conn:
            while not self.stopped.wait(0.02):
                for is_purge, seconds in conn.execute(query, {"purge": self.purge_application}):
                    key = "purge" if is_purge else "intake"
                    self.longest[key] = max(self.longest[key], float(seconds or 0.0))
                self.samples += 1
        self.engine.dispose()

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


# --- intake load ------------------------------------------------------------------------------


def paced_intake(port: int, seconds: float, rate: float, clients: int, until: Any = None) -> list[tuple[float, int]]:
    """Signed deliveries at `rate` per second for `seconds` (or, with `until`, in 2 s rounds while
    `until()` is true, so at most 2 s are measured after it ends); returns (latency from when each
    request was due, status) per request."""
    body = (WEBHOOKS_DIR / PAYLOAD_EVENT / f"{PAYLOAD_NAME}.json").read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    processes = max(1, clients // 8)
    threads = max(1, clients // processes)
    samples: list[tuple[float, int]] = []
    while True:
        chunk = seconds if until is None else 2.0
        queue: Any = mp.get_context("fork").Queue()
        start = time.perf_counter() + 0.3
        procs = [mp.get_context("fork").Process(
            target=_load_process, args=(port, threads, chunk, rate / processes, start, body, signature, queue))
            for _ in range(processes)]
        for p in procs:
            p.start()
        for _ in procs:
            got, _cpu = queue.get(timeout=chunk + 60)
            samples += got
        for p in procs:
            p.join(10)
        if until is None or not until():
            return samples


def summarise(samples: list[tuple[float, int]], seconds: float) -> dict[str, Any]:
    latencies = sorted(s[0] * 1000 for s in samples)
    statuses: dict[int, int] = {}
    for _, status in samples:
        statuses[status] = statuses.get(status, 0) + 1

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"requests": len(samples), "rps": len(samples) / seconds if seconds else 0.0, "p50": pct(0.5),
            "p99": pct(0.99), "max": pct(1.0), "mean": statistics.fmean(latencies) if latencies else float("nan"),
            "statuses": statuses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=150.0, help="intake deliveries per second during both runs")
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="reuse a loaded database (the purge changes it: reload "
                                                             "for comparable figures)")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    database_url = f"{PG_URL}/{DB_NAME}"
    redis_url, redis = start_redis(fallback="redis://127.0.0.1:6379/6")
    server = None
    try:
        loaded = False
        if args.keep:
            try:
                engine = sa.create_engine(database_url)
                with engine.connect() as conn:
                    loaded = (conn.scalar(sa.text("SELECT count(*) FROM webhook_deliveries")) or 0) >= args.deliveries
                engine.dispose()
            except sa.exc.OperationalError:
                loaded = False
        env = gantry_env(database_url, redis_url)
        if not loaded:
            fresh_database(DB_NAME)
            subprocess.run([str(Path(sys.executable).parent / "flask"), "db", "upgrade"], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds = load(database_url, args.deliveries)
            print(f"loaded {args.deliveries:,} deliveries (7.9 KB payload each) in {seconds:.0f} s")
        before = table_figures(database_url)
        print(f"webhook_deliveries before: {before['rows']:,} rows, {before['bytes'] / 2**30:.2f} GiB "
              f"(with indexes and TOAST), {before['with_payload']:,} with a payload")

        port = free_port()
        server = gunicorn("wsgi:app", port, argparse.Namespace(workers=args.workers, threads=args.threads), env)
        paced_intake(port, 2, args.rate, args.clients)  # warm up connections and caches
        baseline = summarise(paced_intake(port, args.baseline_seconds, args.rate, args.clients),
                             args.baseline_seconds)

        purge_env = {**env, "RETENTION_BATCH_SIZE": str(args.batch_size), "RETENTION_MAX_SECONDS": "7200",
                     "PGAPPNAME": f"gantry-retention-bench-{uuid.uuid4().hex[:6]}"}
        sampler = LockWaitSampler(database_url, purge_env["PGAPPNAME"])
        spawn = mp.get_context("spawn")
        results: Any = spawn.Queue()
        ready, go = spawn.Event(), spawn.Event()
        purger = spawn.Process(target=_purge_process, args=(purge_env, results, ready, go))
        purger.start()
        if not ready.wait(300):
            raise RuntimeError("the purge process did not start")
        sampler.start()
        go.set()
        started = time.perf_counter()
        during_samples = paced_intake(port, 0, args.rate, args.clients, until=purger.is_alive)
        summary = results.get(timeout=3600)
        purger.join(30)
        purge_seconds = summary["wall_seconds"]
        sampler.stop()
        intake_seconds = time.perf_counter() - started
        during = summarise(during_samples, intake_seconds)
        after = table_figures(database_url)
    finally:
        if server is not None:
            stop(server)
        if redis is not None:
            redis.terminate()
            redis.wait(10)

    print(f"intake paced at {args.rate:.0f} deliveries/s ({args.clients} keep-alive clients; gunicorn "
          f"{args.workers} x {args.threads}); {os.cpu_count()} CPUs shared with PostgreSQL and the load; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'intake':<28}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for name, run in (("before the purge", baseline), (f"during the purge ({purge_seconds:.0f} s)", during)):
        print(f"{name:<28}{run['requests']:>9}{run['p50']:>9.1f}{run['p99']:>9.1f}{run['max']:>9.1f}  "
              f"{run['statuses']}")
    print(f"{'purge':<22}{'rows':>10}{'batches':>9}{'seconds':>9}{'rows/s':>9}{'longest batch ms':>18}  stopped")
    for name, kind in summary["kinds"].items():
        if kind.get("days") is None or (not kind["rows"] and not kind.get("batches")):
            continue
        print(f"{name:<22}{kind['rows']:>10,}{kind['batches']:>9}{kind['seconds']:>9.1f}"
              f"{kind['rows_per_second']:>9.0f}{kind['longest_batch_ms']:>18.0f}  {kind.get('stopped') or '-'}")
    print(f"longest lock wait: intake {sampler.longest['intake'] * 1000:.0f} ms, purge "
          f"{sampler.longest['purge'] * 1000:.0f} ms ({sampler.samples} samples of pg_locks, every 20 ms)")
    print(f"webhook_deliveries after: {after['rows']:,} rows ({after['with_payload']:,} with a payload), "
          f"{after['bytes'] / 2**30:.2f} GiB before VACUUM returns space; failed kept: {after['failed']:,} of "
          f"{before['failed']:,}; pending-forwarded kept: {after['pending_forward_targets_kept']} of "
          f"{before['pending_forward_targets_kept']}")
    accepted = during["statuses"].get(202, 0) + baseline["statuses"].get(202, 0)
    ok = (after["failed"] >= before["failed"] and after["pending_forward_targets_kept"] ==
          before["pending_forward_targets_kept"] and accepted == baseline["requests"] + during["requests"])
    print("everything still in use kept, every delivery accepted" if ok else "SOMETHING WENT WRONG (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
