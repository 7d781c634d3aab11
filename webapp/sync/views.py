"""Pages: projects, their files (editor, upload, delete), sync with live status, history, conflicts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from webapp.auth.access import current_principal, page_requires
from webapp.core.errors import GantryError, NotFound
from webapp.core.htmx import is_htmx, render
from webapp.core.pagination import DEFAULT_PAGE_SIZE
from webapp.repos.access import restrict_to_visible
from webapp.repos.models import Repository
from webapp.sync import service
from webapp.sync.diff import side_by_side
from webapp.sync.plan import CONFLICT

bp = Blueprint("sync", __name__)


def _principal() -> Any:
    principal = current_principal()
    assert principal is not None  # page_requires ran first
    return principal


def _visible_repositories() -> list[Repository]:
    from sqlalchemy import select

    from webapp.extensions import db

    stmt = restrict_to_visible(select(Repository).where(Repository.removed_at.is_(None)), Repository.id, _principal())
    return list(db.session.scalars(stmt.order_by(Repository.full_name)))


def _redirect(target: str) -> Response:
    if is_htmx():
        return Response("", 204, {"HX-Redirect": target})
    return redirect(target, 303)


@bp.route("/projects", methods=["GET", "POST"])
@page_requires("viewer")
def projects() -> Any:
    error, errors = None, {}
    if request.method == "POST":
        if not _principal().has_role("maintainer"):
            from webapp.core.errors import Forbidden

            raise Forbidden("This needs the maintainer role.", code="role_required")
        try:
            project = service.create_project(_principal(), {
                "name": request.form.get("name", ""), "description": request.form.get("description", ""),
                "repository_id": request.form.get("repository_id") or None,
                "branch": request.form.get("branch", ""), "base_path": request.form.get("base_path", ""),
                "use_pull_request": bool(request.form.get("use_pull_request")),
            })
            return _redirect(url_for("sync.project", project_id=project.id))
        except GantryError as exc:
            error, errors = exc.message, exc.errors
    return render("sync/projects.html", "create_form", status_code=422 if error else 200,
                  projects=service.list_projects(_principal()), repositories=_visible_repositories(),
                  error=error, errors=errors, form=request.form)


def _project_page(project_id: int, status_code: int = 200, **extra: Any) -> Any:
    project = service.get_project(_principal(), project_id)
    context = {"project": project, "status": service.sync_status(_principal(), project_id),
               "metrics": service.sync_metrics(_principal(), project_id), "error": None, "errors": {},
               "notice": None, **extra}
    return render("sync/project.html", "files_panel", status_code=status_code, **context)


@bp.get("/projects/<int:project_id>")
@page_requires("viewer")
def project(project_id: int) -> Any:
    return _project_page(project_id)


def _maintainer_action(project_id: int, action: Any, notice: str) -> Any:
    try:
        action()
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _project_page(project_id, status_code=exc.status, error=exc.message, errors=exc.errors)
    return _project_page(project_id, notice=notice)


@bp.post("/projects/<int:project_id>/files")
@page_requires("maintainer")
def upload_files(project_id: int) -> Any:
    """Upload several files, or a zip whose files are added under the given folder."""
    def save() -> None:
        folder = request.form.get("folder", "").strip().strip("/")
        files: dict[str, tuple[bytes, bool | None]] = {}
        uploads = [u for u in request.files.getlist("files") if u.filename]
        if not uploads:
            from webapp.core.errors import ValidationFailed

            raise ValidationFailed("Choose at least one file.", errors={"files": ["required"]})
        for upload in uploads:
            data = upload.read()
            name = upload.filename or ""
            if request.form.get("unzip") and name.lower().endswith(".zip"):
                for path, value in service.files_from_zip(data).items():
                    files[f"{folder}/{path}" if folder else path] = value
            else:
                base = name.replace("\\", "/").rsplit("/", 1)[-1]
                files[f"{folder}/{base}" if folder else base] = (data, None)
        service.put_files(_principal(), project_id, files)

    return _maintainer_action(project_id, save, "Files saved.")


@bp.post("/projects/<int:project_id>/files/delete")
@page_requires("maintainer")
def delete_file(project_id: int) -> Any:
    path = request.form.get("path", "")
    return _maintainer_action(project_id, lambda: service.delete_file(_principal(), project_id, path),
                              f"Deleted {path}.")


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@page_requires("viewer")
def edit_file(project_id: int) -> Any:
    """The editor: a new file (no path) or an existing text file (?path=...)."""
    project = service.get_project(_principal(), project_id)
    path = request.values.get("path", "")
    file = service.get_file(_principal(), project_id, path) if path and request.method == "GET" else None
    if file is not None and service.text_of(file) is None:
        raise NotFound(f"{path} is a binary file; replace it by uploading.")
    error, errors, notice = None, {}, None
    content = service.text_of(file) if file is not None else ""
    executable = file.executable if file is not None else False
    if request.method == "POST":
        if not _principal().has_role("maintainer"):
            from webapp.core.errors import Forbidden

            raise Forbidden("This needs the maintainer role.", code="role_required")
        content = request.form.get("content", "").replace("\r\n", "\n")
        executable = bool(request.form.get("executable"))
        try:
            file, created = service.put_file(_principal(), project_id, path, content.encode("utf-8"), executable)
            path = file.path
            notice = "Created." if created else "Saved."
        except GantryError as exc:
            error, errors = exc.message, exc.errors
    return render("sync/edit.html", "editor", status_code=422 if error else 200, project=project, path=path,
                  content=content, executable=executable, error=error, errors=errors, notice=notice)


@bp.post("/projects/<int:project_id>/sync")
@page_requires("maintainer")
def start_sync(project_id: int) -> Any:
    paths = [p for p in request.form.getlist("paths") if p] or None
    return _maintainer_action(project_id, lambda: service.start_sync(
        _principal(), project_id, paths=paths, message=request.form.get("message", ""),
        overwrite=bool(request.form.get("overwrite"))), "Sync queued.")


@bp.get("/projects/<int:project_id>/status")
@page_requires("viewer")
def status(project_id: int) -> Any:
    project = service.get_project(_principal(), project_id)
    return render("sync/project.html", "status_panel", project=project,
                  status=service.sync_status(_principal(), project_id))


@bp.get("/projects/<int:project_id>/history")
@page_requires("viewer")
def history(project_id: int) -> Any:
    project = service.get_project(_principal(), project_id)
    page = service.run_history(_principal(), project_id, request.args.get("cursor"), DEFAULT_PAGE_SIZE)
    return render("sync/history.html", "history_rows", project=project, page=page)


def _run_page(run_id: int, status_code: int = 200, **extra: Any) -> Any:
    run = service.get_run(_principal(), run_id)
    diffs = {}
    for entry in run.files:
        unresolved = entry["action"] == CONFLICT and not entry.get("resolution")
        if unresolved and ("here_text" in entry or "there_text" in entry):
            diffs[entry["path"]] = side_by_side(entry.get("here_text", ""), entry.get("there_text", ""))
    return render("sync/run.html", "run_panel", status_code=status_code, run=run, project=run.project,
                  diffs=diffs, error=extra.get("error"), notice=extra.get("notice"))


@bp.get("/sync/runs/<int:run_id>")
@page_requires("viewer")
def run(run_id: int) -> Any:
    return _run_page(run_id)


@bp.post("/sync/runs/<int:run_id>/resolve")
@page_requires("maintainer")
def resolve(run_id: int) -> Any:
    try:
        service.resolve_conflict(_principal(), run_id, request.form.get("path", ""), request.form.get("choice", ""))
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _run_page(run_id, status_code=exc.status, error=exc.message)
    return _run_page(run_id, notice="Choice recorded.")


@bp.post("/sync/runs/<int:run_id>/retry")
@page_requires("maintainer")
def retry(run_id: int) -> Any:
    try:
        service.retry_run(_principal(), run_id)
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _run_page(run_id, status_code=exc.status, error=exc.message)
    return _run_page(run_id, notice="Retry queued.")
