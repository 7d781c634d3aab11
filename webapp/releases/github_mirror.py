"""Deployments mirrored as GitHub Deployments: the state GitHub should show, telling it, finding what it missed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.core import jobs
from webapp.extensions import db
from webapp.releases import environments, github_ops, service
from webapp.releases.models import FAILED, IN_PROGRESS, QUEUED, ROLLED_BACK, SUCCEEDED, Deployment
from webapp.repos.models import Repository

# Gantry status -> the GitHub deployment status state that mirrors it.
GITHUB_STATE = {QUEUED: "queued", IN_PROGRESS: "in_progress", SUCCEEDED: "success", FAILED: "failure",
                ROLLED_BACK: "inactive"}
MIRROR_RECHECK_DAYS = 7  # older deployments GitHub never heard about are history, not work


def out_of_sync_deployments() -> list[int]:
    """Deployments GitHub has not heard the latest about (a lost job, Redis away)."""
    since = service.now() - timedelta(days=MIRROR_RECHECK_DAYS)
    rows = db.session.execute(select(Deployment.id, Deployment.status, Deployment.github_state)
                              .join(Repository, Repository.id == Deployment.repository_id)
                              .where(Deployment.status.in_(tuple(GITHUB_STATE)), Deployment.updated_at >= since,
                                     Repository.installation_id.is_not(None))
                              .order_by(Deployment.id.desc()).limit(500)).all()
    return [r.id for r in rows if GITHUB_STATE[r.status] != r.github_state]


def defer_mirror(deployment_ids: list[int]) -> None:
    """Tell GitHub about each deployment once this transaction commits (with Redis away, the sweep
    finds deployments GitHub has not heard about)."""
    for deployment_id in dict.fromkeys(deployment_ids):
        jobs.defer("tasks.releases.mirror_deployment", deployment_id, job_id=f"releases-mirror-{deployment_id}")


def run_mirror(deployment_id: int) -> str:
    """Create the GitHub Deployment (once) and post the status matching Gantry's."""
    deployment = db.session.get(Deployment, deployment_id)
    if deployment is None:
        return "gone"
    desired = GITHUB_STATE.get(deployment.status)
    if desired is None:
        return f"nothing to mirror while {deployment.status}"
    release, env = deployment.release, deployment.environment
    repo = release.repository
    if repo.installation_id is None:
        return "repository has no installation"
    if deployment.github_deployment_id is None:
        found = github_ops.find_deployment(repo, release.target_sha, env.name, deployment.id)
        if found is None:
            last = environments.next_environment(env) is None
            found = github_ops.create_deployment(repo, {
                "ref": release.target_sha, "task": "deploy", "auto_merge": False, "required_contexts": [],
                "environment": env.name, "description": f"{release.version} to {env.name}"[:140],
                "payload": {"gantry_deployment_id": deployment.id, "release": release.version,
                            "kind": deployment.kind},
                "production_environment": last, "transient_environment": False,
            })
        deployment.github_deployment_id = int(found["id"])
        db.session.commit()
    if deployment.github_state == desired:
        return "in sync"
    base_url = current_app.config["BASE_URL"]
    body: dict[str, Any] = {"state": desired, "log_url": f"{base_url}/releases/{release.id}",
                            "description": (deployment.description or f"{release.version}: {deployment.status}")[:140],
                            "auto_inactive": desired == "success"}
    if env.url:
        body["environment_url"] = env.url
    github_ops.create_deployment_status(repo, deployment.github_deployment_id, body)
    deployment.github_state = desired
    db.session.commit()
    return f"status {desired}"
