"""Sync runs: starting and queueing them, retries, conflicts, and what the pages and APIs report about them."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from webapp.auth.principal import Who
from webapp.core import audit, jobs
from webapp.core.errors import Conflict, NotFound, PayloadTooLarge, Unavailable, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.integrations.github import GitHubError
from webapp.repos.access import (
    can_see_repository,
    get_visible_or_404,
    get_visible_repository,
    restrict_to_visible,
    visible_or_404,
)
from webapp.sync import engine
from webapp.sync.budget import BranchBusy, RetryLater
from webapp.sync.models import RUN_ACTIVE, Project, ProjectFile, SyncRun
from webapp.sync.plan import CONFLICT, is_text
from webapp.sync.service import (
    acting_user,
    create_project,
    get_project,
    normalize_base_path,
    normalize_path,
    put_files,
    set_file,
)

RESOLUTIONS = ("keep_github", "overwrite")


def start_sync(who: Who, project_id: int, *, paths: list[str] | None = None, overwrite: bool = False,
               message: str = "", trigger: str = "manual", overwrite_paths: list[str] | None = None) -> SyncRun:
    """Queue a sync of the project (or of some of its files); refuses over-large files up front."""
    project = get_project(who, project_id)
    clean_paths = sorted({normalize_path(p) for p in paths}) if paths is not None else None
    if clean_paths is not None and not clean_paths:
        raise ValidationFailed("Name at least one file to sync.", errors={"paths": ["empty"]})
    if clean_paths is not None:
        known = {f.path for f in project.files} | set(engine.base_versions(project.id))
        unknown = [p for p in clean_paths if p not in known]
        if unknown:
            raise ValidationFailed("Some paths are not files of this project.", errors={"paths": unknown})
    limit = int(current_app.config["SYNC_MAX_FILE_BYTES"])
    too_big = [f.path for f in project.files if f.size > limit and (clean_paths is None or f.path in clean_paths)]
    if too_big:
        raise PayloadTooLarge(f"GitHub refuses files over {limit} bytes: {', '.join(too_big)}.",
                              errors={"paths": too_big})
    run = SyncRun(
        project_id=project.id, repository_id=project.repository_id, branch=project.branch,
        sync_id=uuid.uuid4().hex, status="queued", trigger=trigger, paths=clean_paths, overwrite=overwrite,
        overwrite_paths=sorted(overwrite_paths or []), requested_by_id=acting_user(who).id,
        message=(message or "").strip()[:500],
    )
    db.session.add(run)
    db.session.flush()
    audit.record("sync.run.start", "sync_run", run.id, actor=acting_user(who),
                 details={"project": project.id, "paths": clean_paths, "overwrite": overwrite, "trigger": trigger})
    _defer(run.id)
    db.session.commit()
    return run


def _defer(run_id: int, delay: timedelta | None = None, suffix: str = "") -> None:
    """Run the sync when this transaction commits (with Redis away, the run is stored as queued and
    the sweep enqueues it)."""
    if delay:
        suffix += f"-at-{int(utcnow().timestamp() + delay.total_seconds())}"
    jobs.defer("tasks.sync.run_sync", run_id, job_id=f"sync-run-{run_id}{suffix}", delay=delay)


def defer_run(run_id: int, seconds: float) -> None:
    """Run again later (branch busy, write budget used up)."""
    run = db.session.get(SyncRun, run_id)
    if run is not None and run.status == "queued":  # a running one belongs to the job holding the lock
        run.status = "waiting"
    _defer(run_id, timedelta(seconds=max(seconds, 1)))
    db.session.commit()


def requeue_stalled(older_than_seconds: int = 120) -> int:
    """Enqueue runs stored as queued or waiting that no job is carrying (Redis was down, a worker died)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = list(db.session.scalars(select(SyncRun.id).where(SyncRun.status.in_(("queued", "waiting")),
                                                           SyncRun.updated_at < cutoff)))
    for run_id in ids:
        _defer(run_id)
    db.session.commit()
    return len(ids)


def get_run(who: Who, run_id: int) -> SyncRun:
    return get_visible_or_404(who, SyncRun, run_id, "Sync run",
                              visible=lambda run: can_see_repository(who, run.project.repository_id))


def retry_run(who: Who, run_id: int) -> SyncRun:
    """Run a failed sync again, under the same Sync-Id (so a commit it already made is not made twice)."""
    run = get_run(who, run_id)
    if run.status not in ("failed", "waiting"):
        raise Conflict(f"Sync run {run_id} is {run.status}; only failed or waiting runs can be retried.",
                       code="not_retryable")
    run.status = "queued"
    audit.record("sync.run.retry", "sync_run", run.id, actor=acting_user(who))
    # its own job id: the failed job may still hold RQ's automatic retry (a finished run ignores it)
    _defer(run.id, suffix=f"-retry-{run.attempts}")
    db.session.commit()
    return run


def resolve_conflict(who: Who, run_id: int, path: str, choice: str) -> SyncRun:
    """Settle one conflict of a run: keep GitHub's version here, or overwrite GitHub's at the next sync.

    When every conflict of the run is settled, a new sync starts with the "overwrite" choices.
    """
    if choice not in RESOLUTIONS:
        raise ValidationFailed("Choose keep_github or overwrite.", errors={"choice": list(RESOLUTIONS)})
    run = get_run(who, run_id)
    if run.status != "conflict":
        raise Conflict(f"Sync run {run_id} has no open conflicts.", code="no_conflict")
    entries = [dict(e) for e in run.files]
    entry = next((e for e in entries if e["path"] == path and e["action"] == CONFLICT), None)
    if entry is None:
        raise NotFound(f"Sync run {run_id} has no conflict on {path}.")
    if entry.get("resolution"):
        raise Conflict(f"The conflict on {path} was already settled ({entry['resolution']}).")
    project = run.project
    if choice == "keep_github":
        _take_github_version(project, entry)
    entry["resolution"] = choice
    run.files = entries
    audit.record("sync.conflict.resolve", "sync_run", run.id, actor=acting_user(who), details={"path": path,
                                                                                            "choice": choice})
    db.session.commit()
    if all(e.get("resolution") for e in entries if e["action"] == CONFLICT):
        overwrite = [e["path"] for e in entries if e.get("resolution") == "overwrite"]
        start_sync(who, project.id, paths=run.paths, message=run.message, trigger="resolve",
                   overwrite_paths=overwrite)
    return run


def _take_github_version(project: Project, entry: dict[str, Any]) -> None:
    there = entry.get("there")
    local = engine.file_by_path(project.id, entry["path"])
    if there is None:
        if local is not None:
            db.session.delete(local)
        return
    if "there_text" in entry:
        content = entry["there_text"].encode("utf-8")
    else:
        try:
            content = engine.remote_for(project).blob_content(there["sha"])
        except (GitHubError, engine.SyncFailed) as exc:
            raise Unavailable(f"Could not read GitHub's version of {entry['path']}: {exc}") from exc
    set_file(project, entry["path"], content, there["mode"] == "100755")


def find_project(who: Who, reference: str | int) -> Project:
    """A visible project by its id, or by its name (how clients that keep their own project ids name it)."""
    text = str(reference).strip()
    if text.isdigit():
        return get_project(who, int(text))
    stmt = restrict_to_visible(select(Project).where(Project.name == text).order_by(Project.id).limit(1),
                               Project.repository_id, who)
    return visible_or_404(db.session.scalar(stmt), f"Project {text}")


def get_run_by_sync_id(who: Who, sync_id: str) -> SyncRun:
    """A visible run by its Sync-Id (or its numeric id)."""
    text = str(sync_id).strip()
    if text.isdigit():
        return get_run(who, int(text))
    run_id = db.session.scalar(select(SyncRun.id).where(SyncRun.sync_id == text))
    return get_run(who, visible_or_404(run_id, f"Sync run {text}"))


def latest_failed_run(who: Who, project_id: int) -> SyncRun:
    project = get_project(who, project_id)
    run = db.session.scalar(select(SyncRun).where(SyncRun.project_id == project.id, SyncRun.status == "failed")
                            .order_by(SyncRun.id.desc()).limit(1))
    if run is None:
        raise NotFound(f"Project {project.name} has no failed sync to retry.", code="nothing_to_retry")
    return run


def sync_now(who: Who, run: SyncRun) -> SyncRun:
    """Execute a just-queued run in this request, for clients whose answer must carry the commit.

    The queued job still exists: whichever of the two takes the branch lock first does the work and
    the other finds the run final (one commit either way). A busy branch, a spent write budget or a
    GitHub rate limit leaves the run queued or waiting for the worker, as any run; a failure is
    recorded on the run.
    """
    get_run(who, run.id)
    try:
        engine.execute_run(run.id)
    except (BranchBusy, RetryLater, engine.SyncFailed):
        db.session.rollback()
    db.session.expire_all()
    return get_run(who, run.id)


def run_history(who: Who, project_id: int, cursor: str | None, limit: int) -> Page[SyncRun]:
    project = get_project(who, project_id)
    return keyset_page(select(SyncRun).where(SyncRun.project_id == project.id), [SyncRun.id], cursor, limit)


def sync_status(who: Who, project_id: int) -> dict[str, Any]:
    project = get_project(who, project_id)
    latest = db.session.scalar(select(SyncRun).where(SyncRun.project_id == project.id)
                               .order_by(SyncRun.id.desc()).limit(1))
    counts = db.session.execute(select(
        func.count(), func.max(SyncRun.finished_at).filter(SyncRun.status.in_(("succeeded", "nothing_to_do",
                                                                               "pull_request"))),
    ).where(SyncRun.project_id == project.id)).one()
    return {
        "project_id": project.id,
        "repository": project.repository.full_name,
        "total_syncs": int(counts[0]),
        "last_successful_sync": counts[1],
        "state": latest.status if latest else "never_synced",
        "active": bool(latest and latest.status in RUN_ACTIVE),
        "last_synced_at": project.last_synced_at,
        "last_commit_sha": project.last_commit_sha,
        "files": len(project.files),
        "run": latest,
    }


def sync_metrics(who: Who, project_id: int | None = None) -> dict[str, Any]:
    """Syncs, successes, failures, in progress, files, conflicts, average duration and the last sync."""
    stmt = restrict_to_visible(select(SyncRun), SyncRun.repository_id, who)
    if project_id is not None:
        stmt = stmt.where(SyncRun.project_id == get_project(who, project_id).id)
    runs = stmt.subquery()
    row = db.session.execute(select(
        func.count(),
        func.count().filter(runs.c.status.in_(("succeeded", "nothing_to_do", "pull_request"))),
        func.count().filter(runs.c.status == "failed"),
        func.coalesce(func.sum(runs.c.files_written + runs.c.files_deleted), 0),
        func.coalesce(func.sum(runs.c.conflicts), 0),
        func.avg(runs.c.duration_ms),
        func.max(runs.c.finished_at),
        func.coalesce(func.sum(runs.c.api_calls), 0),
        func.count().filter(runs.c.status.in_(RUN_ACTIVE)),
    ).select_from(runs)).one()
    return {
        "syncs": row[0], "successes": row[1], "failures": row[2], "files": int(row[3]), "conflicts": int(row[4]),
        "average_duration_ms": round(float(row[5]), 1) if row[5] is not None else None,
        "last_sync": row[6], "api_calls": int(row[7]), "in_progress": row[8],
    }


def check_conflicts(who: Who, project_id: int, paths: list[str] | None = None,
                    overwrite: bool = False) -> dict[str, Any]:
    project = get_project(who, project_id)
    clean = sorted({normalize_path(p) for p in paths}) if paths is not None else None
    try:
        return engine.plan_preview(project, clean, overwrite)
    except engine.SyncFailed as exc:
        raise Conflict(str(exc), code="cannot_plan") from exc
    except GitHubError as exc:
        raise Unavailable(f"GitHub could not be read: {exc.message}", code="github_unavailable") from exc


def find_or_create_binding(who: Who, repository_id: int, branch: str | None, base_path: str | None,
                           name: str | None) -> Project:
    """The project bound to this repository, branch and base path (created for the files-map endpoints)."""
    repo = get_visible_repository(who, repository_id)
    branch = (branch or "").strip() or repo.default_branch
    clean_base = normalize_base_path(base_path)
    found = db.session.scalar(select(Project).where(Project.repository_id == repo.id, Project.branch == branch,
                                                    Project.base_path == clean_base).order_by(Project.id).limit(1))
    if found is not None:
        return found
    return create_project(who, {"name": name or f"{repo.name}:{branch}/{clean_base}".rstrip("/"),
                                "repository_id": repo.id, "branch": branch, "base_path": clean_base})


def push_files_map(who: Who, data: dict[str, Any], *, replace_all: bool) -> SyncRun:
    """`repositories/push` (these files) and `repositories/sync` (exactly these files) from a files map."""
    project = find_or_create_binding(who, data["repository_id"], data.get("branch"), data.get("base_path"),
                                     data.get("project_name"))
    files = {path: (_content_of(path, value), value.get("executable") if isinstance(value, dict) else None)
             for path, value in data["files"].items()}
    saved = put_files(who, project.id, files, replace_all=replace_all)
    paths = None if replace_all else [f.path for f in saved]
    return start_sync(who, project.id, paths=paths, message=data.get("message", ""), trigger="api",
                      overwrite=bool(data.get("overwrite", False)))


def _content_of(path: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        if value.get("encoding") == "base64":
            try:
                return base64.b64decode(value["content"], validate=True)
            except (binascii.Error, ValueError):
                raise ValidationFailed(f"{path} is not valid base64.", errors={path: ["not base64"]}) from None
        return value["content"].encode("utf-8")
    raise ValidationFailed(f"{path}: give the content as a string or {{content, encoding, executable}}.",
                           errors={path: ["invalid file"]})


def text_of(file: ProjectFile) -> str | None:
    """The file as text for the editor, or None for binary files."""
    return file.content.decode("utf-8") if is_text(file.content) else None
