"""Repository visibility at scale: what a non-admin sees, filtered by their access, everywhere.

    .venv/bin/python bench/repo_access.py [--repos 50000] [--users 300] [--per-user 1000] [--runs 60]

On its own database (gantry_bench_repos, dropped and created, migrated): 20 installations,
`--repos` repositories, `--users` viewers with `--per-user` access rows each (spread over the
repositories), and one admin. Through the real routes, with API keys: the first and the next page of
GET /api/v1/repos, a search, one repository by name, and the /repos page (list + count), for a
viewer and for the admin.

Goals (ours; the issue sets none): API list pages p95 < 50 ms and the /repos page p95 < 100 ms for
a viewer with 1,000 repositories among 50,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "gantry_bench_repos"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

from bench._services import report, timed  # noqa: E402


def build(repos: int, users: int, per_user: int) -> Any:
    import sqlalchemy as sa

    from bench._services import migrated_app

    app = migrated_app(DB_NAME, REDIS_URL)
    with app.app_context():
        from webapp.auth import service
        from webapp.extensions import db

        started = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO github_installations (id, account_login, account_type, repository_selection, "
                "permissions, events) SELECT i, 'org' || i, 'Organization', 'selected', '{}', '[]' "
                "FROM generate_series(1, 20) AS i"))
            conn.execute(sa.text(
                "INSERT INTO repositories (id, installation_id, owner, name, full_name, private, archived, "
                "default_branch, description, synced_at) SELECT r, 1 + r % 20, 'org' || (1 + r % 20), "
                "'repo-' || r, 'org' || (1 + r % 20) || '/repo-' || r, r % 3 = 0, false, 'main', "
                "'service number ' || r, now() FROM generate_series(1, :n) AS r"), {"n": repos})
            conn.execute(sa.text(
                "INSERT INTO users (username, email, display_name, role, active) "
                "SELECT 'viewer' || u, 'viewer' || u || '@example.test', 'Viewer ' || u, 'viewer', true "
                "FROM generate_series(1, :u) AS u"), {"u": users})
            conn.execute(sa.text(
                "INSERT INTO repository_access (user_id, repository_id, permission, synced_at) "
                "SELECT u.id, 1 + ((u.id * 7919 + k * 37) % :n), 'read', now() "
                "FROM users u CROSS JOIN generate_series(1, :k) AS k ON CONFLICT DO NOTHING"),
                {"n": repos, "k": per_user})
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does after a bulk load: statistics, and the GIN indexes' pending entries merged.
            conn.execute(sa.text("VACUUM ANALYZE"))
        print(f"seeded {repos} repositories, {users} users x {per_user} access rows "
              f"in {time.perf_counter() - started:.1f} s")
        viewer = db.session.scalar(sa.select(service.User).where(service.User.username == "viewer1"))
        _, viewer_key = service.create_api_key(viewer, name="bench", scopes=["read"], expires_at=None, actor="bench")
        service.create_user(username="viewer-page", email="vp@example.test", password="bench-password-123",
                            role="viewer", actor="bench")
        page_user = service.find_user("viewer-page")
        conn_rows = [{"user_id": page_user.id, "repository_id": r} for r in range(1, repos, max(repos // per_user, 1))]
        db.session.execute(sa.text("INSERT INTO repository_access (user_id, repository_id, permission, synced_at) "
                                   "VALUES (:user_id, :repository_id, 'read', now()) ON CONFLICT DO NOTHING"),
                           conn_rows)
        admin = service.create_user(username="bench-admin", email="admin@example.test", password="bench-password-1",
                                    role="admin", actor="bench")
        _, admin_key = service.create_api_key(admin, name="bench", scopes=["admin"], expires_at=None, actor="bench")
        db.session.commit()
        visible = db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("repository_access"))
                                    .where(sa.text("user_id = :u")).params(u=viewer.id))
        print(f"viewer1 may see {visible} repositories")
    return app, {"X-API-Key": viewer_key}, {"X-API-Key": admin_key}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--per-user", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    app, viewer, admin = build(args.repos, args.users, args.per_user)
    client = app.test_client()

    for who, headers in (("viewer", viewer), ("admin", admin)):
        first = client.get("/api/v1/repos?limit=50", headers=headers)
        assert first.status_code == 200, first.get_data(as_text=True)
        cursor = first.get_json()["next_cursor"]
        name = first.get_json()["items"][0]["full_name"]
        report(f"{who}: GET /api/v1/repos (first page)",
               timed(lambda h=headers: client.get("/api/v1/repos?limit=50", headers=h), args.runs))
        report(f"{who}: GET /api/v1/repos (next page)",
               timed(lambda h=headers, c=cursor: client.get(f"/api/v1/repos?limit=50&cursor={c}", headers=h),
                     args.runs))
        report(f"{who}: GET /api/v1/repos?q=number 12",
               timed(lambda h=headers: client.get("/api/v1/repos?limit=50&q=number%2012", headers=h), args.runs))
        report(f"{who}: GET /api/v1/repos?q=repo-4217 (rare)",
               timed(lambda h=headers: client.get("/api/v1/repos?limit=50&q=repo-4217", headers=h), args.runs))
        report(f"{who}: GET /api/v1/repos/<owner>/<name>",
               timed(lambda h=headers, n=name: client.get(f"/api/v1/repos/{n}", headers=h), args.runs))

    from tests.conftest import Browser

    page_client = app.test_client()
    assert Browser(page_client).login("viewer-page", "bench-password-123").status_code in (302, 303)
    assert page_client.get("/repos").status_code == 200
    report("viewer: /repos page (list + count)", timed(lambda: page_client.get("/repos"), args.runs))
    report("viewer: /repos?q=service (search page)", timed(lambda: page_client.get("/repos?q=service"), args.runs))


if __name__ == "__main__":
    main()
