"""Projects, their files and sync runs: what the pages, the API and the tasks call.

Every function takes the acting principal (or user) and applies the repository access rules: a
project is visible to whoever may see its repository, and 404 for everyone else.
"""

from __future__ import annotations

import io
import posixpath
import stat
import uuid
import zipfile
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from webapp.core import audit, jobs
from webapp.core.errors import Conflict, NotFound, PayloadTooLarge, Unavailable, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.integrations.github import GitHubError
from webapp.repos.access import get_visible_repository, restrict_to_visible
from webapp.sync import engine
from webapp.sync.models import RUN_ACTIVE, Project, ProjectFile, SyncRun
from webapp.sync.plan import CONFLICT, blob_sha, is_text

MAX_PATH_LENGTH = 1000
ZIP_MAX_FILES = 5000
RESOLUTIONS = ("keep_github", "overwrite")


def _user(who: Any) -> Any:
    return getattr(who, "user", who)


# --- paths ---------------------------------------------------------------------------------


def normalize_path(raw: str, field: str = "path") -> str:
    """A clean relative POSIX path, or ValidationFailed (no absolute paths, no '..', no .git)."""
    path = (raw or "").strip().replace("\\", "/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    problem = None
    if not parts:
        problem = "must not be empty"
    elif raw.strip().startswith("/"):
        problem = "must be relative (no leading /)"
    elif any(p == ".." for p in parts):
        problem = "must not contain '..'"
    elif any(p.lower() == ".git" for p in parts):
        problem = "must not be inside .git"
    elif any(ord(c) < 32 for c in path):
        problem = "must not contain control characters"
    elif len("/".join(parts)) > MAX_PATH_LENGTH:
        problem = f"must be at most {MAX_PATH_LENGTH} characters"
    if problem:
        raise ValidationFailed(f"The {field} {raw!r} {problem}.", errors={field: [problem]})
    return "/".join(parts)


_REF_FORBIDDEN = set(" ~^:?*[\\") | {chr(c) for c in range(32)} | {"\x7f"}
_MARKUP = set("<>\"'`&")  # legal in git refs, but never in a branch Gantry is pointed at


def branch_name(raw: str | None) -> str | None:
    """`raw` as a branch name git accepts (`git check-ref-format --branch` rules), or ValidationFailed.

    None (or blank) means "the repository's default branch". Stricter than git only in refusing
    characters of HTML markup, which no branch Gantry commits to needs.
    """
    name = (raw or "").strip()
    if not name:
        return None
    if name.startswith("refs/"):
        name = name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else name
    problems = []
    if len(name) > 255:
        problems.append("at most 255 characters")
    if set(name) & (_REF_FORBIDDEN | _MARKUP):
        problems.append("no spaces, control characters, ~ ^ : ? * [ \\ or < > \" ' ` &")
    if ".." in name or "@{" in name or "//" in name or name == "@":
        problems.append("no '..', '@{', '//' and not '@' alone")
    if name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")):
        problems.append("may not start with '-' or '/', nor end with '/', '.' or '.lock'")
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        problems.append("no part may start with '.' or end with '.lock'")
    if name.startswith("refs/"):
        problems.append("a branch name, not another kind of ref")
    if problems:
        raise ValidationFailed(f"{raw!r} is not a branch name git accepts.", errors={"branch": problems})
    return name


def normalize_base_path(raw: str | None) -> str:
    if not raw or not raw.strip().strip("/"):
        return ""
    return normalize_path(raw.strip().strip("/"), "base_path")


# --- projects ------------------------------------------------------------------------------


def list_projects(who: Any, repository_id: int | None = None) -> list[Project]:
    stmt = restrict_to_visible(select(Project), Project.repository_id, who)
    if repository_id is not None:
        stmt = stmt.where(Project.repository_id == repository_id)
    return list(db.session.scalars(stmt.order_by(Project.name, Project.id)))


def get_project(who: Any, project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist or you have no access to it.")
    try:
        get_visible_repository(who, project.repository_id)
    except NotFound:
        raise NotFound(f"Project {project_id} does not exist or you have no access to it.") from None
    return project


def create_project(who: Any, data: dict[str, Any]) -> Project:
    name = (data.get("name") or "").strip()
    if not name:
        raise ValidationFailed("A project needs a name.", errors={"name": ["required"]})
    repository_id = data.get("repository_id")
    if not repository_id:
        raise ValidationFailed("Choose the repository the project syncs to.", errors={"repository_id": ["required"]})
    try:
        repo = get_visible_repository(who, int(repository_id))
    except (TypeError, ValueError):
        raise ValidationFailed("Choose a repository.", errors={"repository_id": ["not a number"]}) from None
    project = Project(
        name=name[:200],
        description=(data.get("description") or "").strip(),
        owner_id=_user(who).id,
        repository_id=repo.id,
        branch=branch_name(data.get("branch")) or repo.default_branch,
        base_path=normalize_base_path(data.get("base_path")),
        use_pull_request=bool(data.get("use_pull_request", False)),
    )
    db.session.add(project)
    db.session.flush()
    audit.record("sync.project.create", "sync_project", project.id, actor=_user(who),
                 details={"name": project.name, "repository": repo.full_name, "branch": project.branch})
    db.session.commit()
    return project


def update_project(who: Any, project_id: int, data: dict[str, Any]) -> Project:
    project = get_project(who, project_id)
    if "name" in data:
        name = (data["name"] or "").strip()
        if not name:
            raise ValidationFailed("A project needs a name.", errors={"name": ["required"]})
        project.name = name[:200]
    if "description" in data:
        project.description = (data["description"] or "").strip()
    rebinding = False
    if data.get("repository_id") and int(data["repository_id"]) != project.repository_id:
        project.repository_id = get_visible_repository(who, int(data["repository_id"])).id
        rebinding = True
    branch = branch_name(data.get("branch"))
    if branch and branch != project.branch:
        project.branch = branch
        rebinding = True
    if "base_path" in data and normalize_base_path(data["base_path"]) != project.base_path:
        project.base_path = normalize_base_path(data["base_path"])
        rebinding = True
    if "use_pull_request" in data:
        project.use_pull_request = bool(data["use_pull_request"])
    if rebinding:
        # What was synced to the old place says nothing about the new one.
        from webapp.sync.models import SyncedFile

        db.session.execute(SyncedFile.__table__.delete().where(SyncedFile.project_id == project.id))
    audit.record("sync.project.update", "sync_project", project.id, actor=_user(who),
                 details={k: v for k, v in data.items() if k != "files"})
    db.session.commit()
    return project


def delete_project(who: Any, project_id: int) -> None:
    project = get_project(who, project_id)
    audit.record("sync.project.delete", "sync_project", project.id, actor=_user(who), details={"name": project.name})
    db.session.delete(project)
    db.session.commit()


# --- files ---------------------------------------------------------------------------------


def _check_size(path: str, content: bytes) -> None:
    limit = int(current_app.config["SYNC_MAX_FILE_BYTES"])
    if len(content) > limit:
        raise PayloadTooLarge(f"{path} is {len(content)} bytes; GitHub refuses files over {limit} bytes.",
                              errors={"content": [f"at most {limit} bytes"]})


def get_file(who: Any, project_id: int, path: str) -> ProjectFile:
    project = get_project(who, project_id)
    found = engine.file_by_path(project.id, normalize_path(path))
    if found is None:
        raise NotFound(f"Project {project_id} has no file {path}.")
    return found


def _set_file(project: Project, path: str, content: bytes, executable: bool | None) -> tuple[ProjectFile, bool]:
    _check_size(path, content)
    found = engine.file_by_path(project.id, path)
    created = found is None
    if found is None:
        found = ProjectFile(project=project, path=path, executable=bool(executable))
        db.session.add(found)
    elif executable is not None:
        found.executable = executable
    found.content = content
    found.size = len(content)
    found.blob_sha = blob_sha(content)
    found.updated_at = utcnow()
    return found, created


def put_file(who: Any, project_id: int, path: str, content: bytes,
             executable: bool | None = None, replacing: str | None = None) -> tuple[ProjectFile, bool]:
    """Create or replace one file; returns it and whether it was created.

    `replacing` names the file the writer had open ("" for a new one): a different path that already
    holds a file is refused, so a new file never silently overwrites another one.
    """
    project = get_project(who, project_id)
    clean = normalize_path(path)
    if replacing is not None and clean != replacing and engine.file_by_path(project.id, clean) is not None:
        raise Conflict(f"{clean} already exists in this project; open it to change it, or choose another path.",
                       code="file_exists", errors={"path": ["already exists"]})
    found, created = _set_file(project, clean, content, executable)
    audit.record("sync.file.put", "sync_project", project.id, actor=_user(who),
                 details={"path": clean, "size": len(content), "sha": found.blob_sha, "created": created})
    db.session.commit()
    return found, created


def put_files(who: Any, project_id: int, files: dict[str, tuple[bytes, bool | None]],
              replace_all: bool = False) -> list[ProjectFile]:
    """Create or replace several files at once (and, with `replace_all`, delete every other file)."""
    project = get_project(who, project_id)
    cleaned: dict[str, tuple[bytes, bool | None]] = {}
    errors: dict[str, list[str]] = {}
    for raw, value in files.items():
        try:
            clean = normalize_path(raw)
            _check_size(clean, value[0])
        except (ValidationFailed, PayloadTooLarge) as exc:
            errors[raw] = [exc.message]
            continue
        cleaned[clean] = value
    if errors:
        raise ValidationFailed("Some files were not accepted; nothing was saved.", errors=errors)
    saved = [_set_file(project, path, content, executable)[0] for path, (content, executable) in cleaned.items()]
    removed = []
    if replace_all:
        for file in list(project.files):
            if file.path not in cleaned:
                removed.append(file.path)
                db.session.delete(file)
    audit.record("sync.files.put", "sync_project", project.id, actor=_user(who),
                 details={"paths": sorted(cleaned)[:200], "count": len(cleaned), "removed": removed[:200]})
    db.session.commit()
    return saved


def delete_file(who: Any, project_id: int, path: str) -> None:
    found = get_file(who, project_id, path)
    audit.record("sync.file.delete", "sync_project", project_id, actor=_user(who), details={"path": found.path})
    db.session.delete(found)
    db.session.commit()


def files_from_zip(data: bytes) -> dict[str, tuple[bytes, bool | None]]:
    """The regular files of a zip archive, with their executable bit; refuses unsafe or huge archives."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValidationFailed("That is not a zip archive.", errors={"file": ["not a zip archive"]}) from exc
    limit = int(current_app.config["SYNC_MAX_FILE_BYTES"])
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > ZIP_MAX_FILES:
        raise ValidationFailed(f"The archive holds more than {ZIP_MAX_FILES} files.", errors={"file": ["too many"]})
    out: dict[str, tuple[bytes, bool | None]] = {}
    for member in members:
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            continue  # symlinks are not project files
        name = posixpath.normpath(member.filename.replace("\\", "/"))
        path = normalize_path(name, "file")
        if member.file_size > limit:
            raise PayloadTooLarge(f"{path} is {member.file_size} bytes; GitHub refuses files over {limit} bytes.")
        with archive.open(member) as handle:
            content = handle.read(limit + 1)
        if len(content) > limit:
            raise PayloadTooLarge(f"{path} is larger than {limit} bytes once unpacked.")
        out[path] = (content, bool(mode & 0o111) if mode else None)
    return out


# --- runs ----------------------------------------------------------------------------------


def start_sync(who: Any, project_id: int, *, paths: list[str] | None = None, overwrite: bool = False,
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
        overwrite_paths=sorted(overwrite_paths or []), requested_by_id=_user(who).id,
        message=(message or "").strip()[:500],
    )
    db.session.add(run)
    db.session.flush()
    audit.record("sync.run.start", "sync_run", run.id, actor=_user(who),
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


def get_run(who: Any, run_id: int) -> SyncRun:
    run = db.session.get(SyncRun, run_id)
    if run is None:
        raise NotFound(f"Sync run {run_id} does not exist or you have no access to it.")
    try:
        get_project(who, run.project_id)
    except NotFound:
        raise NotFound(f"Sync run {run_id} does not exist or you have no access to it.") from None
    return run


def retry_run(who: Any, run_id: int) -> SyncRun:
    """Run a failed sync again, under the same Sync-Id (so a commit it already made is not made twice)."""
    run = get_run(who, run_id)
    if run.status not in ("failed", "waiting"):
        raise Conflict(f"Sync run {run_id} is {run.status}; only failed or waiting runs can be retried.",
                       code="not_retryable")
    run.status = "queued"
    audit.record("sync.run.retry", "sync_run", run.id, actor=_user(who))
    # its own job id: the failed job may still hold RQ's automatic retry (a finished run ignores it)
    _defer(run.id, suffix=f"-retry-{run.attempts}")
    db.session.commit()
    return run


def resolve_conflict(who: Any, run_id: int, path: str, choice: str) -> SyncRun:
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
    audit.record("sync.conflict.resolve", "sync_run", run.id, actor=_user(who), details={"path": path,
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
    _set_file(project, entry["path"], content, there["mode"] == "100755")


def find_project(who: Any, reference: str | int) -> Project:
    """A visible project by its id, or by its name (how clients that keep their own project ids name it)."""
    text = str(reference).strip()
    if text.isdigit():
        return get_project(who, int(text))
    stmt = restrict_to_visible(select(Project).where(Project.name == text).order_by(Project.id).limit(1),
                               Project.repository_id, who)
    project = db.session.scalar(stmt)
    if project is None:
        raise NotFound(f"Project {text} does not exist or you have no access to it.")
    return project


def get_run_by_sync_id(who: Any, sync_id: str) -> SyncRun:
    """A visible run by its Sync-Id (or its numeric id)."""
    text = str(sync_id).strip()
    if text.isdigit():
        return get_run(who, int(text))
    run_id = db.session.scalar(select(SyncRun.id).where(SyncRun.sync_id == text))
    if run_id is None:
        raise NotFound(f"Sync run {text} does not exist or you have no access to it.")
    return get_run(who, run_id)


def latest_failed_run(who: Any, project_id: int) -> SyncRun:
    project = get_project(who, project_id)
    run = db.session.scalar(select(SyncRun).where(SyncRun.project_id == project.id, SyncRun.status == "failed")
                            .order_by(SyncRun.id.desc()).limit(1))
    if run is None:
        raise NotFound(f"Project {project.name} has no failed sync to retry.", code="nothing_to_retry")
    return run


def sync_now(who: Any, run: SyncRun) -> SyncRun:
    """Execute a just-queued run in this request, for clients whose answer must carry the commit.

    The queued job still exists: whichever of the two takes the branch lock first does the work and
    the other finds the run final (one commit either way). A busy branch, a spent write budget or a
    GitHub rate limit leaves the run queued or waiting for the worker, as any run; a failure is
    recorded on the run.
    """
    from webapp.sync.budget import BranchBusy, RetryLater

    get_run(who, run.id)
    try:
        engine.execute_run(run.id)
    except (BranchBusy, RetryLater, engine.SyncFailed):
        db.session.rollback()
    db.session.expire_all()
    return get_run(who, run.id)


def run_history(who: Any, project_id: int, cursor: str | None, limit: int) -> Page[SyncRun]:
    project = get_project(who, project_id)
    return keyset_page(select(SyncRun).where(SyncRun.project_id == project.id), [SyncRun.id], cursor, limit)


def sync_status(who: Any, project_id: int) -> dict[str, Any]:
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


def sync_metrics(who: Any, project_id: int | None = None) -> dict[str, Any]:
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


def check_conflicts(who: Any, project_id: int, paths: list[str] | None = None,
                    overwrite: bool = False) -> dict[str, Any]:
    project = get_project(who, project_id)
    clean = sorted({normalize_path(p) for p in paths}) if paths is not None else None
    try:
        return engine.plan_preview(project, clean, overwrite)
    except engine.SyncFailed as exc:
        raise Conflict(str(exc), code="cannot_plan") from exc
    except GitHubError as exc:
        raise Unavailable(f"GitHub could not be read: {exc.message}", code="github_unavailable") from exc


def find_or_create_binding(who: Any, repository_id: int, branch: str | None, base_path: str | None,
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


def push_files_map(who: Any, data: dict[str, Any], *, replace_all: bool) -> SyncRun:
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
    import base64
    import binascii

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
