"""Release jobs: publish to GitHub, mirror deployments to GitHub, and the sweep that keeps promotions moving."""

from __future__ import annotations

from datetime import timedelta

from webapp.core.jobs import Periodic, enqueue
from webapp.integrations.github import needs_github_app


def publish_release(release_id: int) -> str:
    """Tag -> GitHub Release -> record; raises (and is retried) when GitHub fails."""
    from webapp.integrations.github import GitHubRateLimited
    from webapp.releases import service

    try:
        return service.run_publish(release_id)
    except GitHubRateLimited as exc:
        enqueue(publish_release, release_id, job_id=f"releases-publish-{release_id}-later",
                delay=timedelta(seconds=max(1, int(exc.retry_after or 60))))
        return "rate limited; retrying later"


@needs_github_app
def mirror_deployment(deployment_id: int) -> str:
    """Create the GitHub Deployment for a Gantry deployment and post its current status."""
    from webapp.integrations.github import GitHubRateLimited
    from webapp.releases import deployments

    try:
        return deployments.run_mirror(deployment_id)
    except GitHubRateLimited as exc:
        enqueue(mirror_deployment, deployment_id, job_id=f"releases-mirror-{deployment_id}-later",
                delay=timedelta(seconds=max(1, int(exc.retry_after or 60))))
        return "rate limited; retrying later"


def sweep_deployments() -> dict[str, int]:
    """Start deployments whose freeze ended or time came, expire approvals, re-enqueue lost work."""
    from webapp.releases import deployments

    return deployments.sweep()


PERIODIC: list[Periodic] = [Periodic("releases-sweep", sweep_deployments, every=60)]
