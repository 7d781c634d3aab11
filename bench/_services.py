"""Services shared by benchmarks: a private redis-server and a freshly created PostgreSQL database.

    from bench._services import fresh_database, start_redis
    redis_url, process = start_redis(fallback="redis://127.0.0.1:6379/12")
    database_url = fresh_database("gantry_bench_<name>")
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(fallback: str) -> tuple[str, Any]:
    """A private redis-server on a free port (URL, process), or BENCH_REDIS_URL / `fallback` without one."""
    binary = shutil.which("redis-server")
    if binary is None:
        return os.environ.get("BENCH_REDIS_URL", fallback), None
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="gantry-bench-redis-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", process


def fresh_database(name: str) -> str:
    """Drop and create database `name`; returns its URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_URL}/{name}"


def migrated_app(name: str, redis_url: str) -> Any:
    """A Gantry app on a fresh, migrated database `name` (rate limits off), for benches that load data."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import test_settings

    settings = test_settings(fresh_database(name), redis_url)
    settings["RATELIMIT_ENABLED"] = False
    app = create_app(settings)
    with app.app_context():
        upgrade()
    return app


def timed(fn: Any, runs: int) -> list[float]:
    """Milliseconds taken by each of `runs` calls of `fn`."""
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def report(name: str, samples: list[float], width: int = 48) -> None:
    """Print p50 and p95 of millisecond samples on one line."""
    import statistics

    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"{name:<{width}} p50 {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms   (n={len(ordered)})")
