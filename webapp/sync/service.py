"""Projects and their files: what the pages, the API and the tasks call.

Every function takes the acting principal (or user) and applies the repository access rules: a
project is visible to whoever may see its repository, and 404 for everyone else.
"""

from __future__ import annotations

import io
import posixpath
import stat
import zipfile
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.auth.models import User
from webapp.auth.principal import Who, user_of
from webapp.core import audit
from webapp.core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.repos.access import get_visible_or_404, get_visible_repository, restrict_to_visible
from webapp.sync import engine
from webapp.sync.models import Project, ProjectFile, SyncedFile
from webapp.sync.plan import blob_sha

MAX_PATH_LENGTH = 1000
ZIP_MAX_FILES = 5000


def acting_user(who: Who) -> User:
    return user_of(who)


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


def list_projects(who: Who, repository_id: int | None = None) -> list[Project]:
    stmt = restrict_to_visible(select(Project), Project.repository_id, who)
    if repository_id is not None:
        stmt = stmt.where(Project.repository_id == repository_id)
    return list(db.session.scalars(stmt.order_by(Project.name, Project.id)))


def get_project(who: Who, project_id: int) -> Project:
    return get_visible_or_404(who, Project, project_id, "Project")


def create_project(who: Who, data: dict[str, Any]) -> Project:
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
        owner_id=acting_user(who).id,
        repository_id=repo.id,
        branch=branch_name(data.get("branch")) or repo.default_branch,
        base_path=normalize_base_path(data.get("base_path")),
        use_pull_request=bool(data.get("use_pull_request", False)),
    )
    db.session.add(project)
    db.session.flush()
    audit.record("sync.project.create", "sync_project", project.id, actor=acting_user(who),
                 details={"name": project.name, "repository": repo.full_name, "branch": project.branch})
    db.session.commit()
    return project


def update_project(who: Who, project_id: int, data: dict[str, Any]) -> Project:
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
        db.session.execute(SyncedFile.__table__.delete().where(SyncedFile.project_id == project.id))
    audit.record("sync.project.update", "sync_project", project.id, actor=acting_user(who),
                 details={k: v for k, v in data.items() if k != "files"})
    db.session.commit()
    return project


def delete_project(who: Who, project_id: int) -> None:
    project = get_project(who, project_id)
    audit.record("sync.project.delete", "sync_project", project.id, actor=acting_user(who),
                 details={"name": project.name})
    db.session.delete(project)
    db.session.commit()


# --- files ---------------------------------------------------------------------------------


def _check_size(path: str, content: bytes) -> None:
    limit = int(current_app.config["SYNC_MAX_FILE_BYTES"])
    if len(content) > limit:
        raise PayloadTooLarge(f"{path} is {len(content)} bytes; GitHub refuses files over {limit} bytes.",
                              errors={"content": [f"at most {limit} bytes"]})


def get_file(who: Who, project_id: int, path: str) -> ProjectFile:
    project = get_project(who, project_id)
    found = engine.file_by_path(project.id, normalize_path(path))
    if found is None:
        raise NotFound(f"Project {project_id} has no file {path}.")
    return found


def set_file(project: Project, path: str, content: bytes, executable: bool | None) -> tuple[ProjectFile, bool]:
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


def put_file(who: Who, project_id: int, path: str, content: bytes,
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
    found, created = set_file(project, clean, content, executable)
    audit.record("sync.file.put", "sync_project", project.id, actor=acting_user(who),
                 details={"path": clean, "size": len(content), "sha": found.blob_sha, "created": created})
    db.session.commit()
    return found, created


def put_files(who: Who, project_id: int, files: dict[str, tuple[bytes, bool | None]],
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
    saved = [set_file(project, path, content, executable)[0] for path, (content, executable) in cleaned.items()]
    removed = []
    if replace_all:
        for file in list(project.files):
            if file.path not in cleaned:
                removed.append(file.path)
                db.session.delete(file)
    audit.record("sync.files.put", "sync_project", project.id, actor=acting_user(who),
                 details={"paths": sorted(cleaned)[:200], "count": len(cleaned), "removed": removed[:200]})
    db.session.commit()
    return saved


def delete_file(who: Who, project_id: int, path: str) -> None:
    found = get_file(who, project_id, path)
    audit.record("sync.file.delete", "sync_project", project_id, actor=acting_user(who), details={"path": found.path})
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
