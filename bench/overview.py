"""The overview page (home, and its 10-second HTMX refresh) over a busy installation.

    .venv/bin/python bench/overview.py [--builds 1000000] [--deliveries 300000] [--jobs 200000] [--runs 40]

Creates its own database (gantry_bench_overview, dropped and created), migrates it, then fills it on
the server (INSERT ... SELECT generate_series) with builds spread over a year (a few hundred in
flight, a couple of thousand today), webhook deliveries over 90 days (some failed or retrying),
workflow jobs (a few hundred waiting) and runners of 20 pools over 20 repositories (1 in 25 alive). After VACUUM
ANALYZE it asks for the overview panel `--runs` times as an admin (every section, queues from Redis
included) and as a viewer who reads 3 of the 20 repositories, then times the cards alone (every
capability's figures, without the system-status part of the panel). Goal (issue 9): panel p95 < 100 ms
(every open page asks for it every 10 s); the cards' share of it p95 < 25 ms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._services import fresh_database, report, start_redis, timed  # noqa: E402

REPOSITORIES = 20
PASSWORD = "bench-password-123"


def fill(db: Any, builds: int, deliveries: int, jobs: int) -> None:
    from sqlalchemy import text

    from webapp.builds.catalogue import load_default_catalogue
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import RunnerPool

    load_default_catalogue()
    db.session.add(Installation(id=1, account_login="acme", account_type="Organization"))
    db.session.flush()
    for n in range(1, REPOSITORIES + 1):
        db.session.add(Repository(id=n, installation_id=1, owner="acme", name=f"repo{n}", full_name=f"acme/repo{n}"))
    db.session.flush()
    for n in range(1, REPOSITORIES + 1):
        db.session.add(RunnerPool(name=f"pool{n}", scope="repository", repository_id=n, installation_id=1,
                                  labels=["self-hosted", f"r{n}"], region="us-east-1", cluster="c",
                                  task_definition="t"))
    db.session.commit()
    statements = [
        # builds: one every ~30 s back over a year; the newest 300 in flight, every 7th finished one failed
        f"""INSERT INTO builds (uuid, build_id, platform_id, os_version_id, image_type_id, repository_id,
              pipeline_url, commit_hash, metadata, source, current_state_code, current_state_at, current_message,
              result, finished_at, duration_seconds, failure_count, created_at, updated_at)
            SELECT gen_random_uuid(), 'b-' || g, 1 + g % 3, 1 + g % 4, 1 + g % 5,
              CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + g % {REPOSITORIES} END, '', '', '{{}}', 'api',
              CASE WHEN g > {builds} - 300 THEN 20 WHEN g % 7 = 0 THEN 910 ELSE 100 END, t, '',
              CASE WHEN g > {builds} - 300 THEN 'in_progress' WHEN g % 7 = 0 THEN 'failed' ELSE 'succeeded' END,
              CASE WHEN g > {builds} - 300 THEN NULL ELSE t END, 1800, 0, t, t
            FROM generate_series(1, {builds}) g,
                 LATERAL (SELECT now() - ({builds} - g) * interval '30 seconds' AS t) moment""",
        f"""INSERT INTO webhook_deliveries (delivery_id, event, installation_id, repository_id, verified_with,
              payload, received_at, status, attempts)
            SELECT 'd-' || g, 'push', 1, 1 + g % {REPOSITORIES}, 'app', '{{}}',
              now() - ({deliveries} - g) * interval '25 seconds',
              CASE WHEN g % 97 = 0 THEN 'failed' WHEN g > {deliveries} - 50 AND g % 5 = 0 THEN 'retrying'
                   ELSE 'handled' END, 1
            FROM generate_series(1, {deliveries}) g""",
        f"""INSERT INTO workflow_jobs (github_job_id, run_attempt, repository_id, repository_full_name, installation_id,
              name, labels, status, pool_id, matched, self_hosted, queued_at, started_at, received_at, updated_at)
            SELECT g, 1, 1 + g % {REPOSITORIES}, 'acme/repo' || (1 + g % {REPOSITORIES}), 1, 'build', '[]',
              CASE WHEN g > {jobs} - 400 THEN 'queued' ELSE 'completed' END,
              CASE WHEN g % 50 = 0 THEN NULL ELSE (SELECT min(id) FROM runner_pools) + g % {REPOSITORIES} END,
              g % 50 <> 0, true, now() - ({jobs} - g) * interval '40 seconds',
              CASE WHEN g > {jobs} - 400 THEN NULL ELSE now() - ({jobs} - g) * interval '40 seconds' END, now(), now()
            FROM generate_series(1, {jobs}) g""",
        f"""INSERT INTO runners (pool_id, name, state, launch_token, launch_attempts, repository_id, requested_at,
              vcpus, memory_gb, hourly_cost)
            SELECT p.id, 'gantry-' || g, CASE g % 100 WHEN 0 THEN 'busy' WHEN 1 THEN 'idle' WHEN 2 THEN 'launching'
              WHEN 3 THEN 'requested' WHEN 4 THEN 'failed' ELSE 'finished' END, md5(g::text), 1, p.repository_id,
              now(), 1, 2, 0.05
            FROM generate_series(1, {jobs // 4}) g
            JOIN runner_pools p ON p.repository_id = 1 + g % {REPOSITORIES}""",
    ]
    for statement in statements:
        db.session.execute(text(statement))
        db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=300_000)
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/12")
    database_url = fresh_database("gantry_bench_overview")
    try:
        from cryptography.fernet import Fernet
        from flask_migrate import upgrade

        from webapp import create_app
        from webapp.config import load_settings

        settings = load_settings({"SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                                  "ENCRYPTION_KEYS": Fernet.generate_key().decode(), "DATABASE_URL": database_url,
                                  "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "ENVIRONMENT": "development"})
        settings.update({"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        app = create_app(settings)
        from webapp.auth import service
        from webapp.extensions import db
        from webapp.repos.models import RepositoryAccess

        with app.app_context():
            upgrade()
            fill(db, args.builds, args.deliveries, args.jobs)
            service.create_user(username="admin", email="a@example.test", password=PASSWORD, role="admin",
                                actor="bench")
            viewer = service.create_user(username="viewer", email="v@example.test", password=PASSWORD,
                                         role="viewer", actor="bench")
            db.session.add_all([RepositoryAccess(user_id=viewer.id, repository_id=r, permission="read")
                                for r in (1, 2, 3)])
            db.session.commit()
            db.session.remove()

        print(f"{args.builds:,} builds, {args.deliveries:,} webhook deliveries, {args.jobs:,} workflow jobs, "
              f"{args.jobs // 4:,} runners")
        for username in ("admin", "viewer"):
            client = app.test_client()
            page = client.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
            assert answer.status_code in (302, 303), answer.status_code

            def panel(client: Any = client) -> None:
                response = client.get("/", headers={"HX-Request": "true"})
                assert response.status_code == 200 and "overview-section" in response.get_data(as_text=True)

            panel()  # first request: templates compiled, connections opened
            report(f"overview panel as {username}", timed(panel, args.runs))
        # the cards alone (the panel also carries the system status, with its own checks of GitHub and ECS)
        from webapp.auth.access import Principal
        from webapp.auth.service import find_user
        from webapp.core.overview import overview_sections

        with app.test_request_context():
            for username, scopes in (("admin", {"admin", "read"}), ("viewer", {"read"})):
                user = find_user(username)
                assert user is not None
                who = Principal(user=user, scopes=frozenset(scopes), via="session")
                overview_sections(who)
                report(f"overview cards as {username}", timed(lambda who=who: overview_sections(who), args.runs))
    finally:
        if redis_process is not None:
            redis_process.terminate()


if __name__ == "__main__":
    main()
