"""Releases: the rules every front door (pages, API, tasks, CLI) shares for cutting and publishing them.

Environments are in `environments.py`; deployments, approvals and rollbacks in `deployments.py`;
GitHub calls in `github_ops.py`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp.auth.principal import Actor, Who
from webapp.core import audit, jobs
from webapp.core.errors import Conflict, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.releases import github_ops
from webapp.releases.models import ACTIVE_STATUSES, Deployment, Release
from webapp.releases.notes import Notes, parse_version, summarise
from webapp.repos.access import get_visible_or_404, get_visible_repository, restrict_to_visible, visible_repository_ids
from webapp.repos.models import Repository

log = logging.getLogger(__name__)


def now() -> datetime:
    """The time as the releases rules see it."""
    return utcnow()


def commit_or_conflict(message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message) from exc


def flush_or_conflict(message: str) -> None:
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message) from exc


# --- releases ------------------------------------------------------------------------------


def tag_for(version: str) -> str:
    return f"{current_app.config['RELEASES_TAG_PREFIX']}{version}"


def latest_release(repository_id: int, *, before: str | None = None) -> Release | None:
    """The highest version cut in the repository (below `before`, when given)."""
    releases = list(db.session.scalars(select(Release).where(Release.repository_id == repository_id)))
    candidates = [(parse_version(r.version), r) for r in releases]
    if before is not None:
        limit = parse_version(before)
        candidates = [c for c in candidates if c[0] < limit]
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def preview_release(who: Who, repository_id: int, target: str, version: str | None = None) -> dict[str, Any]:
    """What a release of `target` would be: commit range, notes, suggested version. Writes nothing."""
    repo = get_visible_repository(who, repository_id)
    target = (target or "").strip() or repo.default_branch
    head = github_ops.resolve_commit(repo, target)
    previous = latest_release(repository_id)
    base_sha = previous.target_sha if previous else None
    commits: list[dict[str, Any]] = []
    compare_url: str | None = None
    if base_sha != head["sha"]:
        commits, compare_url = github_ops.commits_between(repo, base_sha, head["sha"])
    notes = summarise(commits, previous.version if previous else None)
    chosen = str(parse_version(version)) if version else notes.suggested_version
    if version and previous is not None and parse_version(chosen) <= parse_version(previous.version):
        raise ValidationFailed(f"{chosen} is not after the previous release {previous.version}.",
                               errors={"version": [f"must be greater than {previous.version}"]})
    return {
        "repository": repo,
        "target": target,
        "target_sha": head["sha"],
        "base_sha": base_sha,
        "previous_version": previous.version if previous else None,
        "commits": commits,
        "commit_count": len(commits),
        "notes": notes,
        "sections": notes.sections(),
        "markdown": notes.markdown(compare_url=compare_url),
        "compare_url": compare_url,
        "version": chosen,
        "tag_name": tag_for(chosen),
        "suggested_version": notes.suggested_version,
        "bump": notes.bump,
        "release_as": notes.release_as,
        "releasable": notes.releasable,
        "reason": notes.reason,
        "exists": db.session.scalar(select(Release.id).where(Release.repository_id == repository_id,
                                                             Release.version == chosen)),
    }


def _clean_build_uuids(raw: list[str] | None) -> list[str]:
    cleaned = []
    for item in raw or []:
        try:
            cleaned.append(str(uuid.UUID(str(item).strip())))
        except ValueError as exc:
            raise ValidationFailed("Builds are linked by their uuid.", errors={"build_uuids": [f"{item!r}"]}) from exc
    return sorted(set(cleaned))


def create_release(who: Who, repository_id: int, *, target: str, version: str | None = None, title: str = "",
                   build_uuids: list[str] | None = None, actor: Actor) -> Release:
    """Cut a release: the target is resolved to a SHA now, notes are read now; nothing goes to GitHub yet."""
    preview = preview_release(who, repository_id, target, version)
    notes: Notes = preview["notes"]
    if preview["commit_count"] == 0:
        raise Conflict(notes.reason, code="nothing_to_release")
    if preview["exists"]:
        raise Conflict(f"Release {preview['version']} already exists in this repository.",
                       errors={"version": ["already released"]})
    links = _clean_build_uuids(build_uuids)
    commits = preview["commits"]
    release = Release(
        repository_id=repository_id, version=preview["version"], tag_name=preview["tag_name"],
        title=(title or "").strip()[:200] or preview["tag_name"], target=preview["target"],
        target_sha=preview["target_sha"], base_sha=preview["base_sha"],
        previous_version=preview["previous_version"], notes=preview["markdown"],
        notes_data={
            "sections": preview["sections"], "bump": notes.bump, "release_as": notes.release_as,
            "releasable": notes.releasable, "reason": notes.reason, "compare_url": preview["compare_url"],
            "commits": [{"sha": c["sha"], "date": ((c.get("commit") or {}).get("author") or {}).get("date")}
                        for c in commits],
        },
        build_uuids=links, status="draft", created_by_id=getattr(actor, "id", None),
    )
    db.session.add(release)
    flush_or_conflict(f"Release {release.version} already exists in this repository.")
    audit.record("release.create", "release", release.id, actor=actor,
                 details={"repository_id": repository_id, "version": release.version,
                          "target": release.target, "target_sha": release.target_sha})
    commit_or_conflict(f"Release {release.version} already exists in this repository.")
    return release


def list_releases(who: Who, *, repository_id: int | None, cursor: str | None, limit: int) -> Page[Release]:
    stmt = select(Release)
    if repository_id is not None:
        get_visible_repository(who, repository_id)
        stmt = stmt.where(Release.repository_id == repository_id)
    stmt = restrict_to_visible(stmt, Release.repository_id, who)
    return keyset_page(stmt, [Release.id], cursor, limit)


def get_release(who: Who, release_id: int) -> Release:
    return get_visible_or_404(who, Release, release_id, "Release")


def update_release_builds(who: Who, release_id: int, build_uuids: list[str], *, actor: Actor) -> Release:
    """Set the builds linked to a release; links to builds `who` cannot see are kept, as they were not shown."""
    release = get_release(who, release_id)
    unseen = _hidden_build_uuids(who, set(release.build_uuids))
    release.build_uuids = sorted(set(_clean_build_uuids(build_uuids)) | unseen)
    audit.record("release.builds", "release", release.id, actor=actor, details={"build_uuids": release.build_uuids})
    db.session.commit()
    return release


def _hidden_build_uuids(who: Who, uuids: set[str]) -> set[str]:
    """Of `uuids`, those of builds in repositories hidden from `who` (all of them if builds cannot be read)."""
    ids = visible_repository_ids(who) if uuids else None
    if ids is None:  # nothing asked, or an admin
        return set()
    try:
        # Imported here: releases work without the builds capability, which may not be installed.
        from webapp.builds.models import Build
    except ImportError:  # builds not installed: no build is in a repository
        return set()
    hidden = select(Build.uuid).where(Build.uuid.in_([uuid.UUID(u) for u in uuids]), Build.repository_id.is_not(None),
                                      Build.repository_id.not_in(sorted(ids)))
    try:
        with db.session.begin_nested():  # the builds table may not be migrated yet
            return {str(u) for u in db.session.scalars(hidden)}
    except SQLAlchemyError:
        log.warning("builds could not be read to hide the unseen ones", exc_info=True)
        return set(uuids)


def shown_to(who: Who, releases: list[Release]) -> list[Release]:
    """The releases, each with `visible_build_uuids`: its linked builds less those `who` may not see.

    The API answers that list as `build_uuids`, so a release never names a build of a repository
    hidden from its reader.
    """
    hidden = _hidden_build_uuids(who, {u for release in releases for u in release.build_uuids})
    for release in releases:
        release.visible_build_uuids = [u for u in release.build_uuids if u not in hidden]
    return releases


def linked_builds(who: Who, release: Release) -> list[dict[str, Any]]:
    """The builds linked to a release that `who` may see, looked up in the builds catalogue when it is
    installed; a build of a repository hidden from `who` is left out, uuid and all."""
    if not release.build_uuids:
        return []
    try:
        # Imported here: releases work without the builds capability, which may not be installed.
        from webapp.builds.models import Build
        from webapp.builds.service import restrict_visible
    except ImportError:  # builds not installed: show the uuids alone
        return [{"uuid": u, "build": None} for u in release.build_uuids]
    wanted = Build.uuid.in_([uuid.UUID(u) for u in release.build_uuids])
    try:
        with db.session.begin_nested():  # the builds table may not be migrated yet
            found = {str(b.uuid): b for b in db.session.scalars(restrict_visible(select(Build).where(wanted), who))}
            existing = {str(u) for u in db.session.scalars(select(Build.uuid).where(wanted))}
    except SQLAlchemyError:
        log.warning("builds could not be read for release %s", release.id, exc_info=True)
        found, existing = {}, set()
    return [{"uuid": u, "build": found.get(u)} for u in release.build_uuids if u in found or u not in existing]


def repositories_with_releases(who: Who) -> list[dict[str, Any]]:
    """Every repository the user may see, with its release count and latest version."""
    stmt = restrict_to_visible(select(Repository).where(Repository.removed_at.is_(None)), Repository.id, who)
    repos = list(db.session.scalars(stmt.order_by(Repository.full_name)))
    counts = dict(db.session.execute(select(Release.repository_id, func.count()).group_by(Release.repository_id))
                  .tuples().all())
    rows = []
    for repo in repos:
        latest = latest_release(repo.id) if counts.get(repo.id) else None
        rows.append({"repository": repo, "releases": counts.get(repo.id, 0), "latest": latest})
    return rows


# --- publishing ----------------------------------------------------------------------------


def request_publish(who: Who, release_id: int, *, actor: Actor) -> Release:
    """Ask for the release to be published to GitHub (tag, then Release), by a resumable task."""
    release = get_release(who, release_id)
    if release.status == "published":
        return release
    release.status = "publishing"
    release.publish_error = None
    audit.record("release.publish", "release", release.id, actor=actor, details={"tag": release.tag_name})
    defer_publish(release.id)
    db.session.commit()
    return release


def defer_publish(release_id: int) -> None:
    """Publish the release once this transaction commits (with Redis away, the sweep enqueues
    releases left "publishing")."""
    jobs.defer("tasks.releases.publish_release", release_id, job_id=f"releases-publish-{release_id}")


def unfinished_publishes() -> list[int]:
    """Releases asked to publish whose job never ran (Redis was away); failed attempts retry in RQ."""
    return list(db.session.scalars(select(Release.id).where(Release.status == "publishing",
                                                            Release.publish_error.is_(None))))


def active_deployment(release_id: int, environment_id: int) -> Deployment | None:
    return db.session.scalar(select(Deployment).where(
        Deployment.release_id == release_id, Deployment.environment_id == environment_id,
        Deployment.status.in_(ACTIVE_STATUSES)).order_by(Deployment.id.desc()).limit(1))
