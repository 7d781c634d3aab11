"""Webhook intake under load on gunicorn, side by side with a bare Flask endpoint on the same settings.

    .venv/bin/python bench/webhook_intake.py [--seconds 8] [--workers 2] [--threads 8] [--clients 16]

Gantry's POST /webhooks/github does the whole intake (verify the HMAC signature, insert the delivery
into PostgreSQL, commit, enqueue its job in Redis) for a real `workflow_job` payload with a new
delivery id per request. The bare endpoint reads the same body and answers 202. Both run under
gunicorn with the same worker settings; the load comes from keep-alive HTTP clients in separate
processes. Three runs: each endpoint flat out (requests per second), then Gantry paced at half its
own maximum (latency percentiles, measured from when each request was due, so queueing counts).

Goals (issue 3): Gantry >= 40 % of the bare endpoint's requests per second; p99 < 50 ms at half load.
Uses its own database (gantry_bench_webhooks, dropped and created) and a private redis-server.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import multiprocessing as mp
import os
import signal
import socket
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

from tests.shared_data import WEBHOOKS_DIR  # noqa: E402

DB_NAME = "gantry_bench_webhooks"
SECRET = "bench-webhook-secret"
SETTLE_SECONDS = 3
PAYLOAD_EVENT, PAYLOAD_NAME = "workflow_job", "queued"


def bare_app() -> Any:
    """The baseline: a Flask endpoint that reads the body and answers 202, nothing else."""
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/webhooks/github")
    def receive() -> Any:
        request.get_data()
        return jsonify(status="accepted"), 202

    return app


# --- servers -------------------------------------------------------------------------------


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


def gantry_env(database_url: str, redis_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {**os.environ, "ENVIRONMENT": "development", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789", "LOG_LEVEL": "WARNING",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(), "GITHUB_WEBHOOK_SECRET": SECRET,
            "RATELIMIT_ENABLED": "false", "FLASK_APP": "wsgi.py"}


def wait_until_serving(port: int, path: str, seconds: float = 90) -> None:
    """Gunicorn binds its port before its workers have imported the app: wait for real answers."""
    deadline = time.monotonic() + seconds
    answered = 0
    while time.monotonic() < deadline and answered < 20:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            answered += 1 if response.status < 500 else 0
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    if answered < 20:
        raise RuntimeError(f"the server on port {port} did not answer within {seconds} s")


def gunicorn(target: str, port: int, args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "gunicorn"), target, "--bind", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
               "--log-level", "warning", "--keep-alive", "30", "--preload"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    wait_for_port(port)
    wait_until_serving(port, "/health")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


# --- load ------------------------------------------------------------------------------------


def post_delivery(conn: http.client.HTTPConnection, body: bytes,
                  headers: dict[str, str]) -> tuple[http.client.HTTPConnection, int]:
    """POST one delivery on a keep-alive connection: (the connection to go on with, status; 0 if it failed)."""
    try:
        conn.request("POST", "/webhooks/github", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return conn, response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return http.client.HTTPConnection(conn.host, conn.port, timeout=conn.timeout), 0


def _client(port: int, body: bytes, signature: str, stop_at: float, interval: float | None, start: float,
            prefix: str, out: list[tuple[float, int]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    due = start
    while True:
        if interval is not None:
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
        sent_at = due if interval is not None else time.perf_counter()
        if sent_at >= stop_at:
            break
        headers = {"Content-Type": "application/json", "X-GitHub-Event": PAYLOAD_EVENT,
                   "X-GitHub-Delivery": f"{prefix}-{n}", "X-Hub-Signature-256": signature}
        conn, status = post_delivery(conn, body, headers)
        out.append((time.perf_counter() - sent_at, status))
        n += 1
        if interval is not None:
            due += interval
    conn.close()


def _load_process(port: int, threads: int, seconds: float, rate: float | None, start: float, body: bytes,
                  signature: str, queue: Any) -> None:
    started_cpu = time.process_time()
    results: list[list[tuple[float, int]]] = [[] for _ in range(threads)]
    interval = threads / rate if rate else None
    tag = uuid.uuid4().hex[:12]
    workers = []
    for i in range(threads):
        offset = (interval or 0) * i / threads
        t = threading.Thread(target=_client, args=(port, body, signature, start + seconds, interval,
                                                   start + offset, f"{tag}-{i}", results[i]))
        t.start()
        workers.append(t)
    for t in workers:
        t.join()
    queue.put(([r for chunk in results for r in chunk], time.process_time() - started_cpu))


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds_by_group(server_pgid: int, redis_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's processes, PostgreSQL's, Redis, and the whole machine."""
    groups = {"server": 0.0, "postgres": 0.0, "redis": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, tail = f.read().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        comm, pgid, used = head.partition("(")[2], int(fields[2]), (int(fields[11]) + int(fields[12])) / TICK
        if pgid == server_pgid:
            groups["server"] += used
        elif comm.startswith("postgres"):
            groups["postgres"] += used
        elif int(entry) == redis_pid:
            groups["redis"] += used
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    groups["machine"] = (sum(values) - values[3] - values[4]) / TICK  # all but idle and iowait
    groups["idle"] = (values[3] + values[4]) / TICK
    return groups


def run_load(port: int, args: argparse.Namespace, rate: float | None = None,
             server_pgid: int = 0, redis_pid: int = 0) -> dict[str, Any]:
    """Closed loop (rate None: as fast as the server answers) or paced at `rate` requests per second.

    Also returns the CPU milliseconds each request cost: in the server, PostgreSQL, Redis, the load
    generator, and the whole machine (which includes the kernel's share of all of them).
    """
    body = (WEBHOOKS_DIR / PAYLOAD_EVENT / f"{PAYLOAD_NAME}.json").read_bytes()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    processes = max(1, args.clients // 8)
    threads = max(1, args.clients // processes)
    queue: Any = mp.get_context("fork").Queue()
    start = time.perf_counter() + 0.5
    procs = [mp.get_context("fork").Process(
        target=_load_process,
        args=(port, threads, args.seconds, (rate / processes) if rate else None, start, body, signature, queue))
        for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start - time.perf_counter()))  # measured from when the load starts
    cpu_before, wall_before = _cpu_seconds_by_group(server_pgid, redis_pid), time.perf_counter()
    samples: list[tuple[float, int]] = []
    client_cpu = 0.0
    for _ in procs:
        chunk, used = queue.get(timeout=args.seconds + 60)
        samples += chunk
        client_cpu += used
    for p in procs:
        p.join(10)
    cpu_after, wall = _cpu_seconds_by_group(server_pgid, redis_pid), time.perf_counter() - wall_before
    cpu_ms = {k: (cpu_after[k] - cpu_before[k]) * 1000 / max(1, len(samples)) for k in cpu_before}
    idle_share = (cpu_after["idle"] - cpu_before["idle"]) / (wall * (os.cpu_count() or 1))
    cpu_ms["clients"] = client_cpu * 1000 / max(1, len(samples))
    latencies = sorted(s[0] for s in samples)
    statuses: dict[int, int] = {}
    for _, status in samples:
        statuses[status] = statuses.get(status, 0) + 1

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(samples), "rps": len(samples) / args.seconds, "statuses": statuses,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
            "clients": processes * threads, "cpu_ms": cpu_ms, "idle": idle_share}


def count_stored(database_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        stored = int(conn.scalar(sa.text("SELECT count(*) FROM webhook_deliveries")) or 0)
    engine.dispose()
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (both servers)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive connections")
    args = parser.parse_args(argv)
    from bench._services import free_port, fresh_database, start_redis

    database_url = fresh_database(DB_NAME)
    redis_url, redis = start_redis(fallback="redis://127.0.0.1:6379/12")
    redis_pid = redis.pid if redis is not None else 0
    servers: list[subprocess.Popen[bytes]] = []
    try:
        env = gantry_env(database_url, redis_url)
        subprocess.run([str(Path(sys.executable).parent / "flask"), "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare_port, gantry_port = free_port(), free_port()
        servers.append(gunicorn("bench.webhook_intake:bare_app()", bare_port, args, env))
        servers.append(gunicorn("wsgi:app", gantry_port, args, env))
        bare_ids, gantry_ids = (servers[0].pid, redis_pid), (servers[1].pid, redis_pid)

        run_load(gantry_port, argparse.Namespace(**{**vars(args), "seconds": 1.5}))  # warm up connections
        warm = count_stored(database_url)
        bare = run_load(bare_port, args, None, *bare_ids)
        time.sleep(SETTLE_SECONDS)
        gantry = run_load(gantry_port, args, None, *gantry_ids)
        time.sleep(SETTLE_SECONDS)  # let PostgreSQL write out what the flat-out run left behind
        half = run_load(gantry_port, args, gantry["rps"] / 2, *gantry_ids)
        stored = count_stored(database_url) - warm
    finally:
        for server in servers:
            stop(server)
        if redis is not None:
            redis.terminate()
            redis.wait(10)

    accepted = gantry["statuses"].get(202, 0) + half["statuses"].get(202, 0)
    ratio = gantry["rps"] / bare["rps"] if bare["rps"] else 0.0
    print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); {gantry['clients']} keep-alive "
          f"clients; {args.seconds:.0f} s per run; {os.cpu_count()} CPUs shared with PostgreSQL, Redis and the "
          "load generator")
    print(f"{'run':<28}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for name, run in (("bare Flask, flat out", bare), ("Gantry intake, flat out", gantry),
                      (f"Gantry at {gantry['rps'] / 2:.0f} req/s (half)", half)):
        print(f"{name:<28}{run['rps']:>9.0f}{run['p50_ms']:>9.1f}{run['p90_ms']:>9.1f}{run['p99_ms']:>9.1f}"
              f"{run['max_ms']:>9.1f}  {run['statuses']}")
    print("CPU ms per request     server  postgres   redis  clients  machine   CPUs idle")
    for name, run in (("bare Flask, flat out", bare), ("Gantry intake, flat out", gantry)):
        c = run["cpu_ms"]
        print(f"{name:<23}{c['server']:>7.2f}{c['postgres']:>10.2f}{c['redis']:>8.2f}{c['clients']:>9.2f}"
              f"{c['machine']:>9.2f}{run['idle']:>11.0%}")
    print(f"Gantry / bare throughput: {ratio:.0%} (goal >= 40%); p99 at half load: {half['p99_ms']:.1f} ms "
          f"(goal < 50 ms)")
    print(f"deliveries answered 202: {accepted}; rows stored: {stored}")
    ok = ratio >= 0.40 and half["p99_ms"] < 50 and stored == accepted
    print("goals met" if ok else "goals NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
