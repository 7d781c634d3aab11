"""Builds dashboards and lists on a million builds with their histories.

    .venv/bin/python bench/builds_scale.py [--builds 1000000] [--days 365] [--runs 40] [--keep]

Creates its own database (gantry_bench_builds, dropped and created), migrates it, loads the default
catalogue, then COPYs the builds in (spread over `--days`, newest last) and derives their state
histories (~8 events per build) and failures (one per failed build) with INSERT ... SELECT on the
server. After VACUUM ANALYZE it asks the API, as an admin and as a viewer who sees a few
repositories, for the summary, recent, per-platform and failures dashboards and for a filtered
list page, `--runs` times each with the cache made obsolete before every request (cold: what the
first reader after a write pays) and then from the cache (warm). Goal (issue 4): p95 < 100 ms cold.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "gantry_bench_builds"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
LADDER = (10, 15, 20, 22, 25, 30, 35, 40, 45, 50, 55)
FAIL_CODES = (910, 920, 930, 940, 950)
COMPONENTS = ("packer", "ansible-provisioner", "inspec-tests", "trivy-scan", "image-copy", "cloud-init")
REPOSITORIES = 20


class _Stream(io.RawIOBase):
    """A file-like object over generated lines, so COPY streams without building the file first."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while len(self._buffer) < len(target):
            try:
                self._buffer += next(self._lines).encode()
            except StopIteration:
                break
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _build_lines(count: int, days: int, ids: dict[str, list[int]], now: datetime) -> Iterator[str]:
    rng = random.Random(4)
    start = now - timedelta(days=days)
    span = days * 86400 - 7200
    for n in range(1, count + 1):
        created = start + timedelta(seconds=span * n / count)
        outcome = rng.random()
        steps = len(LADDER)
        if created > now - timedelta(hours=3) and outcome < 0.5:
            result, code, steps = "in_progress", LADDER[rng.randrange(1, len(LADDER))], 0
        elif outcome < 0.12:
            result, code = "failed", rng.choice(FAIL_CODES)
            steps = rng.randrange(3, len(LADDER))
        elif outcome < 0.15:
            result, code, steps = "cancelled", 990, rng.randrange(2, 6)
        else:
            result, code = "succeeded", 100
        if result == "in_progress":
            steps = LADDER.index(code) + 1
            duration, finished = "\\N", "\\N"
            state_at = created + timedelta(minutes=steps * 4)
        else:
            seconds = rng.randint(900, 7200)
            duration, finished = str(seconds), (created + timedelta(seconds=seconds)).isoformat()
            state_at = created + timedelta(seconds=seconds)
        repo = str(rng.randrange(1, REPOSITORIES + 1)) if rng.random() < 0.7 else "\\N"
        yield "\t".join((
            str(n), str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"bench-{n}",
            str(rng.choice(ids["platforms"])), str(rng.choice(ids["os"])), str(rng.choice(ids["types"])), repo,
            f"https://concourse.example.com/builds/{n}", f"{rng.getrandbits(160):040x}",
            f'{{"steps": {steps}}}', "api", str(code), state_at.isoformat(), "", result, finished, duration,
            "1" if result == "failed" else "0", created.isoformat(), state_at.isoformat(),
        )) + "\n"


BUILD_COLUMNS = ("id, uuid, build_id, platform_id, os_version_id, image_type_id, repository_id, pipeline_url, "
                 "commit_hash, metadata, source, current_state_code, current_state_at, current_message, result, "
                 "finished_at, duration_seconds, failure_count, created_at, updated_at")


def load(engine: Any, count: int, days: int, now: datetime) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        ids = {
            "platforms": list(conn.scalars(sa.text("SELECT id FROM build_platforms ORDER BY id"))),
            "os": list(conn.scalars(sa.text("SELECT id FROM build_os_versions ORDER BY id"))),
            "types": list(conn.scalars(sa.text("SELECT id FROM build_image_types ORDER BY id"))),
        }
        conn.execute(sa.text("INSERT INTO repositories (id, owner, name, full_name, private, archived, "
                             "default_branch) SELECT i, 'bench', 'images-' || i, 'bench/images-' || i, false, false, "
                             "'main' FROM generate_series(1, :n) i"), {"n": REPOSITORIES})
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET session_replication_role = replica")  # bulk load: skip FK triggers
        started = time.perf_counter()
        cursor.copy_expert(f"COPY builds ({BUILD_COLUMNS}) FROM STDIN", _Stream(_build_lines(count, days, ids, now)))
        print(f"  COPY {count:,} builds: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("""
            INSERT INTO build_state_events (build_id, state_code, message, occurred_at, recorded_at, applied,
                                            reported_by)
            SELECT b.id, l.code, '', b.created_at + (l.n - 1) * interval '4 minutes',
                   b.created_at + (l.n - 1) * interval '4 minutes', true, 'concourse'
            FROM builds b CROSS JOIN unnest(%s::int[]) WITH ORDINALITY AS l(code, n)
            WHERE l.n <= (b.metadata->>'steps')::int
        """, (list(LADDER),))
        cursor.execute("""
            INSERT INTO build_state_events (build_id, state_code, message, occurred_at, recorded_at, applied,
                                            reported_by)
            SELECT id, current_state_code, '', finished_at, finished_at, true, 'concourse'
            FROM builds WHERE result <> 'in_progress'
        """)
        print(f"  state histories: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        cursor.execute("""
            INSERT INTO build_failures (build_id, repository_id, error_code, component, error_message, details,
                                        occurred_at, reported_by)
            SELECT id, repository_id, 'E' || (id %% 37), (%s::text[])[1 + id %% %s],
                   'failed at step ' || current_state_code, '{}'::jsonb, finished_at, 'concourse'
            FROM builds WHERE result = 'failed'
        """, (list(COMPONENTS), len(COMPONENTS)))
        cursor.execute("SELECT setval(pg_get_serial_sequence('builds', 'id'), (SELECT max(id) FROM builds))")
        raw.commit()
        print(f"  failures: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        raw.set_isolation_level(0)
        cursor.execute("VACUUM ANALYZE builds, build_state_events, build_failures")
        print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s", flush=True)
        for table in ("builds", "build_state_events", "build_failures"):
            cursor.execute(f"SELECT count(*), pg_size_pretty(pg_total_relation_size('{table}')) FROM {table}")
            rows, size = cursor.fetchone()
            print(f"  {table}: {rows:,} rows, {size} with indexes")
    finally:
        raw.close()


def measure(client: Any, url: str, headers: dict[str, str], runs: int, cold: bool) -> tuple[float, float]:
    from webapp.builds.cache import bump_generation

    times = []
    for _ in range(runs):
        if cold:
            with client.application.app_context():
                bump_generation()
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded database if it has the builds")
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import test_settings

    admin_engine = sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME})
        if exists and not args.keep:
            conn.execute(sa.text(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)'))
        if not exists or not args.keep:
            conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin_engine.dispose()

    app = create_app(test_settings(f"{PG_URL}/{DB_NAME}", REDIS_URL))
    from webapp.auth import service as auth_service
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.extensions import db
    from webapp.repos.models import RepositoryAccess

    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        have = db.session.scalar(sa.text("SELECT count(*) FROM builds"))
        if have < args.builds:
            print(f"Loading {args.builds:,} builds over {args.days} days into {DB_NAME}", flush=True)
            load_default_catalogue()
            started = time.perf_counter()
            load(db.engine, args.builds, args.days, now)
            print(f"  loaded in {time.perf_counter() - started:.1f} s", flush=True)
        admin = auth_service.find_user("bench-admin") or auth_service.create_user(
            username="bench-admin", email=None, password="bench-password-123", role="admin", actor="bench")
        viewer = auth_service.find_user("bench-viewer") or auth_service.create_user(
            username="bench-viewer", email=None, password="bench-password-123", role="viewer", actor="bench")
        if not db.session.get(RepositoryAccess, (viewer.id, 1)):
            for repo_id in (1, 2, 3):
                db.session.add(RepositoryAccess(user_id=viewer.id, repository_id=repo_id))
            db.session.commit()
        _, admin_key = auth_service.create_api_key(admin, name="bench", scopes=["admin"], expires_at=None)
        _, viewer_key = auth_service.create_api_key(viewer, name="bench", scopes=["read"], expires_at=None)
        db.session.remove()

    since = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    urls = {
        "summary": "/api/v1/dashboard/summary",
        "recent": "/api/v1/dashboard/recent",
        "platform": "/api/v1/dashboard/platform/aws-govcloud",
        "failures": "/api/v1/dashboard/failures",
        "list (platform+result+since)": f"/api/v1/builds?platform=aws-commercial&result=failed&since={since}&limit=50",
        "list (os+image type)": "/api/v1/builds?os_version=rhel-8.8&image_type=sap-hana&limit=50",
    }
    client = app.test_client()
    deep = (now - timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cursor = client.get(f"/api/v1/builds?limit=1&until={deep}", headers={"X-API-Key": admin_key}).json["next_cursor"]
    urls["list (page 6 months deep)"] = f"/api/v1/builds?platform=gcp&limit=50&cursor={cursor}"
    load1, _, _ = os.getloadavg()
    print(f"\nload average at start: {load1:.1f} on {os.cpu_count()} CPUs (other work on the machine inflates times)")
    print(f"{'request':34} {'audience':8} {'cold p50':>9} {'cold p95':>9} {'warm p95':>9}   goal p95 < 100 ms")
    worst = 0.0
    for name, url in urls.items():
        for audience, key in (("admin", admin_key), ("viewer", viewer_key)):
            headers = {"X-API-Key": key}
            client.get(url, headers=headers)  # first touch: plans, connections
            cold50, cold95 = measure(client, url, headers, args.runs, cold=True)
            _, warm95 = measure(client, url, headers, args.runs, cold=False)
            worst = max(worst, cold95)
            print(f"{name:34} {audience:8} {cold50:8.1f}  {cold95:8.1f}  {warm95:8.1f}")
    print(f"\nworst cold p95: {worst:.1f} ms -> {'met' if worst < 100 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
