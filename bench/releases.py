"""Releases: notes from a full compare page, freeze checks, delivery figures and the release page.

    .venv/bin/python bench/releases.py [--releases 2000] [--runs 40]

Pure parts first: grouping 250 commits (a full compare answer, with PR merges) into notes and the
next version, and checking a deployment against five freeze windows. Then, on its own database
(gantry_bench_releases, dropped and created, migrated), one repository with three environments,
`--releases` published releases and a deployment history of three per release spread over twelve
weeks (one in eight failing); it times the delivery figures (the four DORA keys and their charts)
for production and the release page with its pipeline, as an admin through the real routes.

Goals (ours; the issue sets none): notes for 250 commits < 20 ms; a freeze check < 1 ms;
delivery figures p95 < 250 ms and the release page p95 < 150 ms with 12 weeks of history.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "gantry_bench_releases"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

from bench._services import report as _report  # noqa: E402
from bench._services import timed  # noqa: E402


def report(name: str, samples: list[float]) -> None:
    _report(name, samples, width=44)



def bench_pure(runs: int) -> None:
    from webapp.releases.freeze import active_freeze
    from webapp.releases.notes import summarise

    commits: list[dict[str, Any]] = []
    kinds = ["feat(api): add thing", "fix: bug", "chore: deps", "docs: words", "perf: faster", "refactor: tidy"]
    for i in range(250):
        parents = [{"sha": f"{i - 1:040d}"}] if i else []
        message = kinds[i % len(kinds)] + f" {i} (#{i})"
        if i % 25 == 24:  # a merged PR every 25 commits, standing for the two before it
            parents = [{"sha": f"{i - 3:040d}"}, {"sha": f"{i - 1:040d}"}]
            message = f"Merge pull request #{i} from acme/topic-{i}\n\nfeat: topic {i}"
        commits.append({"sha": f"{i:040d}", "parents": parents,
                        "commit": {"message": message, "author": {"name": "dev", "date": "2026-11-01T10:00:00Z"}}})
    report("notes + next version, 250 commits", timed(lambda: summarise(commits, "1.4.2").markdown(), runs))
    windows = [{"cron": "0 18 * * 5", "duration_minutes": 3600, "timezone": "Europe/London"},
               {"cron": "0 0 24 12 *", "duration_minutes": 4320, "timezone": "America/New_York"},
               {"cron": "30 9 * * 1-5", "duration_minutes": 30, "timezone": "Asia/Tokyo"},
               {"cron": "0 */6 * * *", "duration_minutes": 10, "timezone": "UTC"},
               {"cron": "0 2 1 * *", "duration_minutes": 120, "timezone": "Australia/Sydney"}]
    moment = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    report("freeze check, 5 windows", timed(lambda: active_freeze(windows, moment), runs * 10))


def build_database(releases: int) -> tuple[Any, int, int]:
    import sqlalchemy as sa

    from bench._services import migrated_app

    app = migrated_app(DB_NAME, REDIS_URL)
    with app.app_context():
        from webapp.auth import service
        from webapp.extensions import db
        from webapp.releases.models import Deployment, DeploymentApproval, Environment, Release
        from webapp.repos.models import Repository

        admin = service.create_user(username="bench", email="bench@example.test", password="bench-password-123",
                                    role="admin", actor="bench")
        repo = Repository(id=4242, owner="acme", name="shop", full_name="acme/shop")
        db.session.add(repo)
        db.session.flush()
        envs = [Environment(repository_id=4242, name=n, position=i, required_approvals=i)
                for i, n in enumerate(("dev", "staging", "production"))]
        db.session.add_all(envs)
        db.session.flush()
        now = datetime.now(UTC)
        span = timedelta(weeks=12).total_seconds()
        for r in range(releases):
            cut = now - timedelta(seconds=span * (1 - r / releases))
            release = Release(repository_id=4242, version=f"1.{r}.0", tag_name=f"v1.{r}.0", title=f"v1.{r}.0",
                              target="main", target_sha=f"{r:040x}", status="published", created_by_id=admin.id,
                              notes="- fix: thing\n" * 20,
                              notes_data={"sections": [], "commits": [
                                  {"sha": f"{r:039x}{c}", "date": (cut - timedelta(hours=c + 1)).isoformat()}
                                  for c in range(8)]})
            db.session.add(release)
            for k, env in enumerate(envs):
                finished = cut + timedelta(hours=1 + k * 6)
                status = "failed" if (r + k) % 8 == 0 else "succeeded"
                deployment = Deployment(repository_id=4242, release=release, environment=env,
                                        status=status, started_at=finished - timedelta(minutes=10),
                                        finished_at=finished, created_at=finished - timedelta(minutes=15))
                db.session.add(deployment)
                if k:
                    deployment.approvals.append(DeploymentApproval(
                        username="someone", created_at=finished, expires_at=finished + timedelta(hours=72)))
            if r % 200 == 199:
                db.session.commit()
        db.session.commit()
        production_id = envs[-1].id
        last_release = db.session.scalar(sa.select(sa.func.max(Release.id)))
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    return app, last_release, production_id


def bench_database(releases: int, runs: int) -> None:
    app, release_id, production_id = build_database(releases)
    from tests.conftest import Browser

    client = app.test_client()
    assert Browser(client).login("bench", "bench-password-123").status_code in (302, 303)
    assert client.get("/releases").status_code == 200
    figures_url = f"/repos/4242/delivery?environment_id={production_id}"
    assert b"<svg" in client.get(figures_url).data
    report(f"delivery figures page ({releases * 3} deployments)", timed(lambda: client.get(figures_url), runs))
    page_url = f"/releases/{release_id}"
    assert client.get(page_url).status_code == 200
    report("release page with pipeline", timed(lambda: client.get(page_url), runs))
    report("pipeline fragment (HTMX poll)",
           timed(lambda: client.get(f"{page_url}?part=pipeline", headers={"HX-Request": "true"}), runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    bench_pure(args.runs)
    bench_database(args.releases, args.runs)


if __name__ == "__main__":
    main()
