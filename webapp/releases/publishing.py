"""Publishing a release to GitHub (tag, then GitHub Release), then starting its first environment.

Apart from the release service so that the deployments it starts may use that service too.
"""

from __future__ import annotations

import logging

from webapp.core import audit
from webapp.core.errors import Conflict, GantryError
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import app_configured
from webapp.releases import deployments, github_ops
from webapp.releases.models import Release
from webapp.repos.models import Repository

log = logging.getLogger(__name__)


def run_publish(release_id: int) -> str:
    """Tag -> GitHub Release -> record, each step skipped when an earlier attempt completed it."""
    release = db.session.get(Release, release_id)
    if release is None:
        return "gone"
    if release.status == "published":
        return "already published"
    if release.status != "publishing":
        return f"not asked to publish ({release.status})"
    repo = db.session.get(Repository, release.repository_id)
    assert repo is not None
    try:
        if not app_configured():  # said on the release, not retried in the worker
            raise Conflict("No GitHub App is configured: set one up, then publish again.",
                           code="github_not_configured")
        if release.tag_created_at is None:
            github_ops.ensure_tag(repo, release.tag_name, release.target_sha)
            release.tag_created_at = utcnow()
            db.session.commit()
        if release.github_release_id is None:
            made = github_ops.ensure_release(repo, release.tag_name, release.title, release.notes,
                                             release.target_sha)
            release.github_release_id = int(made["id"])
            release.github_release_url = made.get("html_url")
            db.session.commit()
    except GantryError as exc:  # the tag points elsewhere, no installation: a person must decide
        db.session.rollback()
        release.status, release.publish_error = "failed", exc.message
        log.info("release %s not published: %s", release.id, exc.message)
        audit.record("release.publish_failed", "release", release.id, details={"error": exc.message})
        db.session.commit()
        return "failed"
    except Exception as exc:
        db.session.rollback()
        release.publish_error = str(exc)[:1000]
        db.session.commit()
        raise
    release.status = "published"
    release.publish_error = None
    release.published_at = utcnow()
    audit.record("release.published", "release", release.id,
                 details={"tag": release.tag_name, "github_release_id": release.github_release_id})
    db.session.commit()
    deployments.start_first_environment(release)
    return "published"
