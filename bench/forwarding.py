"""Forward deliveries per second for one worker, to a local receiver.

    .venv/bin/python bench/forwarding.py [--deliveries 2000]

A real `push` payload goes through Gantry's forwarding handler once per event (the outbox rows are
written as the webhook processing would write them, each event committed on its own) and the
target's send job is queued in Redis. Then one RQ worker (the GantryWorker production runs, in
burst mode) works the queue: claim a batch and commit, then for each delivery SSRF check, sign,
POST over a fresh TCP connection to a receiver in another process that answers 200, record the
attempt and commit. The figure is deliveries per second for that one worker.

Goal (issue 6): >= 200 deliveries per second per worker.
Uses its own database (gantry_bench_forwarding, dropped and created) and a private redis-server
when one is installed (else BENCH_REDIS_URL, default redis://127.0.0.1:6379/13, flushed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.shared_data import WEBHOOKS_DIR  # noqa: E402

DB_NAME = "gantry_bench_forwarding"
PAYLOAD = WEBHOOKS_DIR / "push" / "default.json"
GOAL = 200


def serve_receiver(port: int, ready: Any) -> None:
    """A receiver that reads the body and answers 200 (in its own process, so it costs the worker nothing)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def run(app: Any, port: int, count: int) -> int:
    from sqlalchemy import func, select

    from webapp.core.jobs import get_queue
    from webapp.core.rq_worker import run_jobs_now
    from webapp.extensions import db
    from webapp.forwarding import signing
    from webapp.forwarding.models import SUCCEEDED, ForwardAttempt, ForwardDelivery, ForwardTarget
    from webapp.forwarding.outbox import on_event
    from webapp.webhooks.router import WebhookEvent

    payload = json.loads(PAYLOAD.read_text())
    db.session.add(ForwardTarget(name="bench", url=f"http://127.0.0.1:{port}/hook", secret=signing.new_secret(),
                                 events=["push"], github_signature=True))
    db.session.commit()

    started = time.perf_counter()
    for i in range(count):
        on_event(WebhookEvent(i, f"bench-{i:08d}", "push", None, payload, None, payload["repository"]["id"],
                              datetime.now(UTC)))
        db.session.commit()
    stored = time.perf_counter() - started
    queued = get_queue("default").count
    print(f"outbox: {count} events stored and queued in {stored:.2f} s ({count / stored:.0f}/s); {queued} jobs queued")

    from webapp.forwarding.models import PENDING
    from webapp.forwarding.outbox import sweep_due

    started = time.perf_counter()
    run_jobs_now(app, queues=("default",))
    for _ in range(20):  # a drain job stops after DRAIN_SECONDS; the sweep queues the rest
        db.session.remove()
        if not db.session.scalar(select(func.count()).where(ForwardDelivery.status == PENDING)):
            break
        sweep_due()
        run_jobs_now(app, queues=("default",))
    elapsed = time.perf_counter() - started
    db.session.remove()
    succeeded = db.session.scalar(select(func.count()).where(ForwardDelivery.status == SUCCEEDED)) or 0
    latencies = sorted(db.session.scalars(select(ForwardAttempt.latency_ms)))
    rate = succeeded / elapsed
    p50 = latencies[len(latencies) // 2] if latencies else 0
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0
    print(f"send: {succeeded}/{count} delivered by one worker in {elapsed:.2f} s = {rate:.0f} deliveries/s "
          f"(POST latency p50 {p50} ms, p99 {p99} ms)")
    ok = succeeded == count and rate >= GOAL
    print(f"goal >= {GOAL}/s per worker: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    args = parser.parse_args()

    import logging

    from flask_migrate import upgrade

    from bench._services import free_port, fresh_database, start_redis
    from webapp import create_app
    from webapp.config import test_settings

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/13")
    port = free_port()
    ready = mp.Event()
    receiver = mp.Process(target=serve_receiver, args=(port, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    try:
        settings = test_settings(fresh_database(DB_NAME), redis_url)
        settings.update({
            "TESTING": False, "LOG_LEVEL": "WARNING", "FORWARDING_ALLOW_HTTP": True,
            "FORWARDING_ALLOWED_CIDRS": ["127.0.0.1/32"],
        })
        app = create_app(settings)
        with app.app_context():
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            upgrade()
            for name in ("werkzeug", "alembic", "rq.worker"):
                logging.getLogger(name).setLevel(logging.WARNING)
            return run(app, port, args.deliveries)
    finally:
        receiver.terminate()
        receiver.join(5)
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
