"""Demo data for `flask seed-demo`: environments, releases and weeks of deployment history."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.auth.service import find_user
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import github
from webapp.releases.models import FAILED, ROLLED_BACK, SUCCEEDED, Deployment, DeploymentApproval, Environment, Release
from webapp.releases.notes import summarise
from webapp.repos.models import Repository

DEMO_REPOSITORY_ID = 990_000_007
DEMO_COMMITS = (
    "feat(cart): save carts between visits",
    "fix(checkout): round totals to the cent",
    "chore: bump dependencies",
    "feat!: drop the v1 payments API",
    "perf(search): cache facet counts",
    "docs: explain the release flow",
)


def _sha(*parts: Any) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def _demo_repository() -> Repository:
    repo = db.session.scalar(select(Repository).where(Repository.removed_at.is_(None)).order_by(Repository.id))
    if repo is None:
        repo = Repository(id=DEMO_REPOSITORY_ID, owner="gantry-demo", name="shop", full_name="gantry-demo/shop",
                          default_branch="main", html_url="https://github.com/gantry-demo/shop",
                          description="Demo repository for releases")
        db.session.add(repo)
        db.session.flush()
    return repo


def _sandbox_commits(repo: Repository) -> list[str]:
    """In sandbox mode, the shas of the repository's commits on the GitHub simulator, so the demo
    releases point at commits that exist there and their deployments can be mirrored to it."""
    if not current_app.config.get("SANDBOX") or repo.installation_id is None:
        return []
    commits = github().paginate_installation(repo.installation_id, f"/repos/{repo.full_name}/commits")
    return [str(commit["sha"]) for commit in commits]


def seed_demo(admin: Any) -> None:
    """Three environments and eight releases with deployments spread over twelve weeks (idempotent)."""
    repo = _demo_repository()
    approver = find_user("maria") or admin
    if db.session.scalar(select(Release.id).where(Release.repository_id == repo.id).limit(1)) is not None:
        return
    envs = [
        Environment(repository_id=repo.id, name="dev", position=0, auto_promote=True),
        Environment(repository_id=repo.id, name="staging", position=1, required_approvals=1),
        Environment(repository_id=repo.id, name="production", position=2, required_approvals=1,
                    approver_role="admin", approver_user_ids=[approver.id],
                    freeze_windows=[{"cron": "0 18 * * 5", "duration_minutes": 60 * 60, "timezone": "Europe/London",
                                     "reason": "weekend"}]),
    ]
    db.session.add_all(envs)
    db.session.flush()
    now = utcnow()
    previous = None
    real = _sandbox_commits(repo)
    for i in range(8):
        cut_at = now - timedelta(days=80 - i * 10)
        commits: list[dict[str, Any]] = [
            {"sha": real[(i * 3 + j) % len(real)] if real else _sha(i, j), "parents": [],
             "commit": {"message": DEMO_COMMITS[(i + j) % len(DEMO_COMMITS)],
                        "author": {"name": "demo", "date": (cut_at - timedelta(hours=30 - j)).isoformat()}}}
            for j in range(3)]
        notes = summarise(commits, previous)
        version = notes.suggested_version if previous else "1.0.0"
        release = Release(
            repository_id=repo.id, version=version, tag_name=f"v{version}", title=f"v{version}", target="main",
            target_sha=commits[-1]["sha"], base_sha=None, previous_version=previous, notes=notes.markdown(),
            notes_data={"sections": notes.sections(), "bump": notes.bump, "releasable": True, "reason": notes.reason,
                        "commits": [{"sha": c["sha"], "date": c["commit"]["author"]["date"]} for c in commits]},
            status="published", published_at=cut_at, created_by_id=admin.id, created_at=cut_at,
        )
        db.session.add(release)
        db.session.flush()
        for k, env in enumerate(envs):
            started = cut_at + timedelta(hours=2 + k * 20)
            if started > now:
                break
            outcome = FAILED if (i, k) in ((3, 2), (6, 1)) else SUCCEEDED
            deployment = Deployment(repository_id=repo.id, release_id=release.id, environment_id=env.id,
                                    status=outcome, trigger="automatic" if k == 0 else "manual",
                                    requested_by_id=admin.id, created_at=started, queued_at=started,
                                    started_at=started, finished_at=started + timedelta(minutes=12))
            db.session.add(deployment)
            db.session.flush()
            if env.required_approvals:
                deployment.approvals.append(DeploymentApproval(
                    user_id=approver.id, username=approver.username, comment="demo approval", created_at=started,
                    expires_at=started + timedelta(hours=72)))
            if outcome == FAILED:
                if k == 2:
                    deployment.status = ROLLED_BACK
                break
        previous = version
    db.session.commit()
