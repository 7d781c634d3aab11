"""Running one sync: read the branch, plan per file, write one commit, move the ref without force.

The run is safe to execute again at any point: its plan and the commit it created are stored
before the ref moves, and the commit carries a `Sync-Id:` trailer, so a run re-executed after a
crash finds its own commit on the branch and finishes instead of committing twice.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from flask import current_app
from prometheus_client import Counter, Histogram
from sqlalchemy import delete, select

from webapp.core import audit
from webapp.core.metrics import REGISTRY
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import NOT_CONFIGURED, GitHubError, GitHubRateLimited, app_configured
from webapp.sync.budget import BranchBusy, RetryLater, branch_lock
from webapp.sync.models import Project, ProjectFile, SyncedFile, SyncRun
from webapp.sync.plan import (
    CONFLICT,
    DELETE,
    KEEP_REMOTE,
    UNCHANGED,
    WRITE,
    FilePlan,
    Version,
    is_text,
    plan_sync,
)
from webapp.sync.remote import BranchHead, BranchProtected, GitRemote, RefMoved

log = logging.getLogger(__name__)

SYNC_TRAILER = "Sync-Id"
HISTORY_DEPTH = 30  # commits searched for a re-executed run's Sync-Id
DIFF_MAX_BYTES = 200 * 1024  # conflicting text kept on the run for the side-by-side diff
INLINE_TOTAL_MAX = 4 * 1024 * 1024  # text sent inline in one tree request; the rest goes as blobs
FINAL_NO_RERUN = ("succeeded", "nothing_to_do", "conflict", "pull_request")

RUNS = Counter("gantry_sync_runs_total", "Project sync runs finished, by outcome", ["status"], registry=REGISTRY)
FILES = Counter("gantry_sync_files_total", "Files handled by project syncs, by action", ["action"],
                registry=REGISTRY)
CALLS = Counter("gantry_sync_github_calls_total", "GitHub requests made by project syncs", registry=REGISTRY)
DURATION = Histogram("gantry_sync_run_seconds", "Duration of project sync runs", registry=REGISTRY,
                     buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


class SyncFailed(Exception):
    """The run failed for a reason recorded on it (the task raises so RQ can retry it)."""


def remote_path(project: Project, path: str) -> str:
    base = project.base_path.strip("/")
    return f"{base}/{path}" if base else path


def local_versions(project: Project) -> dict[str, Version]:
    return {f.path: Version(f.blob_sha, f.mode) for f in project.files}


def base_versions(project_id: int) -> dict[str, Version]:
    rows = db.session.scalars(select(SyncedFile).where(SyncedFile.project_id == project_id))
    return {r.path: Version(r.blob_sha, r.mode) for r in rows}


def remote_for(project: Project) -> GitRemote:
    repo = project.repository
    if repo is None or repo.installation_id is None:
        raise SyncFailed("The repository has no GitHub App installation to write with.")
    return GitRemote(repo.installation_id, repo.full_name)


def read_plan(run: SyncRun, project: Project, remote: GitRemote, head: BranchHead) -> list[FilePlan]:
    there = remote.files_under(head.tree_sha, project.base_path)
    return plan_sync(local_versions(project), there, base_versions(project.id), paths=run.paths,
                     overwrite=run.overwrite, overwrite_paths=run.overwrite_paths or ())


def _worth_recording(entry: FilePlan) -> bool:
    return not (entry.action == UNCHANGED and entry.base == entry.here)


def _version(data: dict[str, Any] | None) -> Version | None:
    return None if data is None else Version(data["sha"], data["mode"])


def execute_run(run_id: int) -> SyncRun | None:
    """Execute (or finish) a sync run; raises BranchBusy, RetryLater or SyncFailed for the task."""
    run = db.session.get(SyncRun, run_id)
    if run is None:  # deleted with its project while it waited: nothing to do
        log.info("sync run %s no longer exists", run_id)
        return None
    if run.status in FINAL_NO_RERUN:
        return run
    if not app_configured():  # said on the run (retry it once an App is set up), not retried in the worker
        _fail(run, None, time.perf_counter(), f"Not synced: {NOT_CONFIGURED}. Set one up, then retry the run.",
              quiet=True)
        return run
    project = run.project
    with branch_lock(run.repository_id, run.branch, int(current_app.config["SYNC_LOCK_SECONDS"])):
        run.status = "running"
        run.attempts += 1
        run.started_at = run.started_at or utcnow()
        run.error = None
        db.session.commit()
        started = time.perf_counter()
        remote: GitRemote | None = None
        try:
            remote = remote_for(project)
            _refuse_oversized(project, run)
            _sync(run, project, remote)
        except (RetryLater, GitHubRateLimited) as exc:
            run.status = "waiting"
            run.error = f"Waiting: {exc}"
            _account(run, remote, started)
            db.session.commit()
            if isinstance(exc, GitHubRateLimited):
                raise RetryLater(f"GitHub rate limit: {exc.message}", exc.retry_after or 60) from exc
            raise
        except (GitHubError, SyncFailed, BranchBusy) as exc:
            db.session.rollback()
            _fail(run, remote, started, str(exc))
            raise SyncFailed(str(exc)) from exc
        except Exception as exc:
            db.session.rollback()
            _fail(run, remote, started, f"{type(exc).__name__}: {exc}")
            raise
        _account(run, remote, started)
        RUNS.labels(run.status).inc()
        DURATION.observe(time.perf_counter() - started)
        db.session.commit()
    return run


def _account(run: SyncRun, remote: GitRemote | None, started: float) -> None:
    calls = remote.calls if remote is not None else 0
    run.api_calls += calls
    CALLS.inc(calls)
    run.duration_ms = (run.duration_ms or 0) + int((time.perf_counter() - started) * 1000)


def _fail(run: SyncRun, remote: GitRemote | None, started: float, message: str, *, quiet: bool = False) -> None:
    run = db.session.get(SyncRun, run.id) or run
    run.status = "failed"
    run.error = message[:2000]
    run.finished_at = utcnow()
    _account(run, remote, started)
    RUNS.labels("failed").inc()
    db.session.commit()
    (log.info if quiet else log.warning)("sync run %s failed: %s", run.id, message)


def _refuse_oversized(project: Project, run: SyncRun) -> None:
    limit = int(current_app.config["SYNC_MAX_FILE_BYTES"])
    wanted = set(run.paths) if run.paths is not None else None
    too_big = [f.path for f in project.files if f.size > limit and (wanted is None or f.path in wanted)]
    if too_big:
        raise SyncFailed(f"GitHub refuses files over {limit} bytes: {', '.join(too_big)}")


def _find_landed(run: SyncRun, remote: GitRemote, head: BranchHead) -> str | None:
    """The commit this run already made on the branch, if an earlier execution got that far."""
    trailer = f"{SYNC_TRAILER}: {run.sync_id}"
    if trailer in head.message:
        return head.commit_sha
    if run.attempts > 1 and run.commit_sha:
        for sha, message in remote.commit_messages(head.commit_sha, HISTORY_DEPTH)[1:]:
            if trailer in message:
                return sha
    return None


def _sync(run: SyncRun, project: Project, remote: GitRemote) -> None:
    retries = int(current_app.config["SYNC_REF_RETRIES"])
    for attempt in range(retries + 1):
        head = remote.branch_head(run.branch)
        if head is None:
            raise SyncFailed(f"Branch {run.branch} does not exist in {project.repository.full_name}.")
        landed = _find_landed(run, remote, head)
        if landed is not None:
            _finish_landed(run, project, landed)
            return
        run.base_commit_sha = head.commit_sha
        plan = read_plan(run, project, remote, head)
        run.files = [e.as_dict() for e in plan if _worth_recording(e)]
        run.conflicts = sum(1 for e in plan if e.action == CONFLICT)
        if run.conflicts:
            _keep_conflict_texts(run, project, remote)
            _finish(run, "conflict")
            return
        changes = [e for e in plan if e.action in (WRITE, DELETE)]
        if not changes:
            _record_bases(project, run.files, head.commit_sha)
            _finish(run, "nothing_to_do")
            return
        use_pull_request = project.use_pull_request or head.protected
        commit_sha = _write_commit(run, project, remote, head, changes, use_pull_request)
        if commit_sha is None:  # the tree came out identical to the branch's
            _record_bases(project, run.files, head.commit_sha)
            _finish(run, "nothing_to_do")
            return
        if use_pull_request:
            _open_pull_request(run, project, remote, commit_sha)
            return
        try:
            remote.move_branch(run.branch, commit_sha)
        except BranchProtected:
            _open_pull_request(run, project, remote, commit_sha)
            return
        except RefMoved:
            if attempt == retries:
                break
            run.ref_retries += 1
            db.session.commit()
            jitter = int(current_app.config["SYNC_RETRY_JITTER_MS"])
            time.sleep(random.uniform(0, jitter * (attempt + 1)) / 1000)
            continue
        _finish_landed(run, project, commit_sha)
        return
    raise SyncFailed(f"The branch kept moving: gave up after {retries} retries.")


def _write_commit(run: SyncRun, project: Project, remote: GitRemote, head: BranchHead,
                  changes: list[FilePlan], use_pull_request: bool) -> str | None:
    files = {f.path: f for f in project.files}
    inline_max = int(current_app.config["SYNC_INLINE_MAX_BYTES"])
    needs_blob = []
    inline_total = 0
    for entry in changes:
        if entry.action == WRITE:
            file = files[entry.path]
            if entry.there is not None and entry.there.sha == file.blob_sha:
                continue  # only the mode changed: the blob is on GitHub already
            if file.size <= inline_max and inline_total + file.size <= INLINE_TOTAL_MAX and is_text(file.content):
                inline_total += file.size
            else:
                needs_blob.append(file)
    remote.reserve(len(needs_blob) + 3 + (2 if use_pull_request else 0))
    run.commit_sha = None
    db.session.commit()  # the plan is stored before anything is written

    blob_shas = {}
    for file in needs_blob:
        sha = remote.create_blob(file.content)
        if sha != file.blob_sha:
            raise SyncFailed(f"GitHub stored {file.path} as {sha}, expected {file.blob_sha}.")
        blob_shas[file.path] = sha
    entries: list[dict[str, Any]] = []
    for entry in changes:
        path = remote_path(project, entry.path)
        if entry.action == DELETE:
            mode = entry.there.mode if entry.there is not None else "100644"
            entries.append({"path": path, "mode": mode, "type": "blob", "sha": None})
            continue
        file = files[entry.path]
        item: dict[str, Any] = {"path": path, "mode": file.mode, "type": "blob"}
        if file.path in blob_shas or (entry.there is not None and entry.there.sha == file.blob_sha):
            item["sha"] = file.blob_sha
        else:
            item["content"] = file.content.decode("utf-8")
        entries.append(item)
    tree_sha = remote.create_tree(head.tree_sha, entries)
    if tree_sha == head.tree_sha:
        return None
    message = run.message.strip() or f"Sync project {project.name}"
    requester = run.requested_by.username if run.requested_by is not None else "Gantry"
    body = (f"{message}\n\n{len(changes)} file(s) from Gantry project {project.name!r}, requested by "
            f"{requester}.\n\n{SYNC_TRAILER}: {run.sync_id}\n")
    commit_sha = remote.create_commit(body, tree_sha, [head.commit_sha])
    run.commit_sha = commit_sha
    db.session.commit()  # a re-execution after a crash looks for this run's commit
    return commit_sha


def pull_request_branch(project: Project) -> str:
    """The project's own branch for pull requests: one open pull request per project, updated by each sync."""
    return f"gantry/sync-project-{project.id}"


def _open_pull_request(run: SyncRun, project: Project, remote: GitRemote, commit_sha: str) -> None:
    branch = pull_request_branch(project)
    remote.create_branch(branch, commit_sha)
    title = run.message.strip() or f"Sync project {project.name}"
    run.pull_request_url = remote.open_pull_request(
        branch, run.branch, title, f"Files from Gantry project {project.name!r}.\n\n{SYNC_TRAILER}: {run.sync_id}"
    )
    _finish(run, "pull_request")
    audit.record("sync.pull_request", "sync_run", run.id, details={"url": run.pull_request_url})


def _finish(run: SyncRun, status: str) -> None:
    run.status = status
    run.finished_at = utcnow()
    run.files_written = sum(1 for f in run.files if f["action"] == WRITE)
    run.files_deleted = sum(1 for f in run.files if f["action"] == DELETE)
    for f in run.files:
        FILES.labels(f["action"]).inc()


def _finish_landed(run: SyncRun, project: Project, commit_sha: str) -> None:
    """The commit is on the branch: remember what it holds as the new base, and finish."""
    run.commit_sha = commit_sha
    _record_bases(project, run.files, commit_sha)
    project.last_synced_at = utcnow()
    project.last_commit_sha = commit_sha
    _finish(run, "succeeded")
    audit.record("sync.commit", "sync_run", run.id,
                 details={"commit": commit_sha, "written": run.files_written, "deleted": run.files_deleted})


def _record_bases(project: Project, entries: list[dict[str, Any]], commit_sha: str) -> None:
    for entry in entries:
        if entry["action"] in (CONFLICT, KEEP_REMOTE):
            continue
        here = _version(entry["here"])
        if here is None:
            db.session.execute(delete(SyncedFile).where(SyncedFile.project_id == project.id,
                                                        SyncedFile.path == entry["path"]))
            continue
        row = db.session.get(SyncedFile, (project.id, entry["path"]))
        if row is None:
            row = SyncedFile(project_id=project.id, path=entry["path"])
            db.session.add(row)
        row.blob_sha, row.mode, row.commit_sha, row.synced_at = here.sha, here.mode, commit_sha, utcnow()


def _keep_conflict_texts(run: SyncRun, project: Project, remote: GitRemote) -> None:
    """Store both sides of each text conflict on the run, for the side-by-side diff and "keep GitHub's"."""
    files = {f.path: f for f in project.files}
    kept = []
    for entry in run.files:
        entry = dict(entry)
        if entry["action"] == CONFLICT:
            local = files.get(entry["path"])
            if local is not None and local.size <= DIFF_MAX_BYTES and is_text(local.content):
                entry["here_text"] = local.content.decode("utf-8")
            there = entry["there"]
            if there is not None:
                content = remote.blob_content(there["sha"])
                if len(content) <= DIFF_MAX_BYTES and is_text(content):
                    entry["there_text"] = content.decode("utf-8")
        kept.append(entry)
    run.files = kept


def plan_preview(project: Project, paths: list[str] | None, overwrite: bool) -> dict[str, Any]:
    """A dry run: the per-file plan against the branch as it is now, writing nothing."""
    remote = remote_for(project)
    head = remote.branch_head(project.branch)
    if head is None:
        raise SyncFailed(f"Branch {project.branch} does not exist in {project.repository.full_name}.")
    there = remote.files_under(head.tree_sha, project.base_path)
    plan = plan_sync(local_versions(project), there, base_versions(project.id), paths=paths, overwrite=overwrite)
    counts: dict[str, int] = {WRITE: 0, DELETE: 0, KEEP_REMOTE: 0, CONFLICT: 0, UNCHANGED: 0}
    for entry in plan:
        counts[entry.action] += 1
    return {
        "head": head.commit_sha,
        "protected": head.protected,
        "counts": counts,
        "files": [e.as_dict() for e in plan if e.action != UNCHANGED],
        "api_calls": remote.calls,
    }


def file_by_path(project_id: int, path: str) -> ProjectFile | None:
    return db.session.scalar(select(ProjectFile).where(ProjectFile.project_id == project_id,
                                                       ProjectFile.path == path))
