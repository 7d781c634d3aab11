"""Release jobs: publish to GitHub, mirror deployments to GitHub, and the sweep that keeps promotions moving."""

from __future__ import annotations

from tasks import again_when_rate_limited
from webapp.integrations.github import needs_github_app
from webapp.releases import deployments, github_mirror, publishing


@again_when_rate_limited(lambda release_id: f"releases-publish-{release_id}-later")
def publish_release(release_id: int) -> str:
    """Tag -> GitHub Release -> record; raises (and is retried) when GitHub fails."""
    return publishing.run_publish(release_id)


@needs_github_app
@again_when_rate_limited(lambda deployment_id: f"releases-mirror-{deployment_id}-later")
def mirror_deployment(deployment_id: int) -> str:
    """Create the GitHub Deployment for a Gantry deployment and post its current status."""
    return github_mirror.run_mirror(deployment_id)


def sweep_deployments() -> dict[str, int]:
    """Start deployments whose freeze ended or time came, expire approvals, re-enqueue lost work."""
    return deployments.sweep()

