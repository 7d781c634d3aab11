"""Pages: projects, their files (editor, upload, delete), sync with live status, history, conflicts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from webapp.auth.access import page_requires, signed_in
from webapp.auth.principal import Principal
from webapp.core.errors import GantryError, NotFound, ValidationFailed
from webapp.core.htmx import is_htmx, render
from webapp.core.pagination import DEFAULT_PAGE_SIZE
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.repos.models import Repository
from webapp.sync import runs, service
from webapp.sync.diff import side_by_side
from webapp.sync.plan import CONFLICT

bp = Blueprint("sync", __name__)


def _principal() -> Principal:
    return signed_in()


def _visible_repositories() -> list[Repository]:

    stmt = restrict_to_visible(select(Repository).where(Repository.removed_at.is_(None)), Repository.id, _principal())
    return list(db.session.scalars(stmt.order_by(Repository.full_name)))


def _redirect(target: str) -> Response:
    if is_htmx():
        return Response("", 204, {"HX-Redirect": target})
    return redirect(target, 303)


def _projects_page(status_code: int = 200, error: str | None = None, errors: dict[str, Any] | None = None) -> Any:
    return render("sync/projects.html", "create_form", status_code=status_code,
                  projects=service.list_projects(_principal()), repositories=_visible_repositories(),
                  error=error, errors=errors or {}, form=request.form)


@bp.get("/projects")
@page_requires("viewer")
def projects() -> Any:
    return _projects_page()


@bp.post("/projects")
@page_requires("maintainer")
def create_project() -> Any:
    try:
        project = service.create_project(_principal(), {
            "name": request.form.get("name", ""), "description": request.form.get("description", ""),
            "repository_id": request.form.get("repository_id") or None,
            "branch": request.form.get("branch", ""), "base_path": request.form.get("base_path", ""),
            "use_pull_request": bool(request.form.get("use_pull_request")),
        })
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _projects_page(422, exc.message, exc.errors)
    return _redirect(url_for("sync.project", project_id=project.id))


def _project_page(project_id: int, status_code: int = 200, **extra: Any) -> Any:
    project = service.get_project(_principal(), project_id)
    context = {"project": project, "status": runs.sync_status(_principal(), project_id),
               "metrics": runs.sync_metrics(_principal(), project_id), "error": None, "errors": {},
               "notice": None, **extra}
    return render("sync/project.html", "files_panel", status_code=status_code, **context)


@bp.get("/projects/<int:project_id>")
@page_requires("viewer")
def project(project_id: int) -> Any:
    return _project_page(project_id)


def _maintainer_action(project_id: int, action: Any, notice: str | None) -> Any:
    """Run a change; errors show inline on the page, success redirects back (a reload repeats nothing).

    Without a notice the page itself shows the outcome (a sync's state lives in its status panel, which
    a one-off "queued" message would soon contradict)."""
    try:
        action()
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _project_page(project_id, status_code=exc.status, error=exc.message, errors=exc.errors)
    if is_htmx():
        return _project_page(project_id, notice=notice)
    if notice:
        flash(notice, "info")
    return redirect(url_for("sync.project", project_id=project_id), 303)


@bp.post("/projects/<int:project_id>/settings")
@page_requires("maintainer")
def update_project(project_id: int) -> Any:
    form = request.form
    changes = {"name": form.get("name", ""), "description": form.get("description", ""),
               "branch": form.get("branch", ""), "base_path": form.get("base_path", ""),
               "use_pull_request": bool(form.get("use_pull_request"))}
    return _maintainer_action(project_id, lambda: service.update_project(_principal(), project_id, changes),
                              "Project settings saved.")


@bp.post("/projects/<int:project_id>/delete")
@page_requires("maintainer")
def delete_project(project_id: int) -> Any:
    service.delete_project(_principal(), project_id)
    flash("Project deleted (nothing was deleted on GitHub).", "info")
    return _redirect(url_for("sync.projects"))


@bp.post("/projects/<int:project_id>/files")
@page_requires("maintainer")
def upload_files(project_id: int) -> Any:
    """Upload several files, or a zip whose files are added under the given folder."""
    def save() -> None:
        folder = request.form.get("folder", "").strip().strip("/")
        files: dict[str, tuple[bytes, bool | None]] = {}
        uploads = [u for u in request.files.getlist("files") if u.filename]
        if not uploads:
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


def _editor(project_id: int, path: str, content: str, executable: bool, status_code: int = 200,
            original: str = "", **extra: Any) -> Any:
    """The editor; `original` is the file it has open ("" for a new file), which the heading names."""
    project = service.get_project(_principal(), project_id)
    return render("sync/edit.html", "editor", status_code=status_code, project=project, path=path, content=content,
                  executable=executable, original=original, error=extra.get("error"),
                  errors=extra.get("errors") or {}, notice=extra.get("notice"))


@bp.get("/projects/<int:project_id>/edit")
@page_requires("viewer")
def edit_file(project_id: int) -> Any:
    """The editor: a new file (no path) or an existing text file (?path=...)."""
    path = request.args.get("path", "")
    if not path:
        service.get_project(_principal(), project_id)
        return _editor(project_id, "", "", False)
    file = service.get_file(_principal(), project_id, path)
    text = runs.text_of(file)
    if text is None:
        raise NotFound(f"{path} is a binary file; replace it by uploading.")
    return _editor(project_id, file.path, text, file.executable, original=file.path)


@bp.post("/projects/<int:project_id>/edit")
@page_requires("maintainer")
def save_file(project_id: int) -> Any:
    path = request.form.get("path", "")
    content = request.form.get("content", "").replace("\r\n", "\n")
    executable = bool(request.form.get("executable"))
    original = request.form.get("original", "")
    try:
        file, created = service.put_file(_principal(), project_id, path, content.encode("utf-8"), executable,
                                         replacing=original)
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _editor(project_id, path, content, executable, exc.status, original=original,
                       error=exc.message, errors=exc.errors)
    answer = _editor(project_id, file.path, content, executable, original=file.path,
                     notice="Created." if created else "Saved.")
    if is_htmx():  # the address now names the file, so a reload opens it rather than a blank new one
        answer.headers["HX-Push-Url"] = url_for("sync.edit_file", project_id=project_id, path=file.path)
    return answer


@bp.post("/projects/<int:project_id>/sync")
@page_requires("maintainer")
def start_sync(project_id: int) -> Any:
    paths = [p for p in request.form.getlist("paths") if p] or None
    return _maintainer_action(project_id, lambda: runs.start_sync(
        _principal(), project_id, paths=paths, message=request.form.get("message", ""),
        overwrite=bool(request.form.get("overwrite"))), None)


@bp.get("/projects/<int:project_id>/status")
@page_requires("viewer")
def status(project_id: int) -> Any:
    if not is_htmx():  # opened as a page, not polled by one: the status panel needs the whole project page
        return _project_page(project_id)
    project = service.get_project(_principal(), project_id)
    return render("sync/project.html", "status_panel", project=project,
                  status=runs.sync_status(_principal(), project_id),
                  metrics=runs.sync_metrics(_principal(), project_id))


@bp.get("/projects/<int:project_id>/history")
@page_requires("viewer")
def history(project_id: int) -> Any:
    project = service.get_project(_principal(), project_id)
    page = runs.run_history(_principal(), project_id, request.args.get("cursor"), DEFAULT_PAGE_SIZE)
    return render("sync/history.html", "history_rows", project=project, page=page)


def _run_page(run_id: int, status_code: int = 200, **extra: Any) -> Any:
    run = runs.get_run(_principal(), run_id)
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
        runs.resolve_conflict(_principal(), run_id, request.form.get("path", ""), request.form.get("choice", ""))
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _run_page(run_id, status_code=exc.status, error=exc.message)
    return _run_page(run_id, notice="Choice recorded.")


@bp.post("/sync/runs/<int:run_id>/retry")
@page_requires("maintainer")
def retry(run_id: int) -> Any:
    try:
        runs.retry_run(_principal(), run_id)
    except GantryError as exc:
        if exc.status == 404:
            raise
        return _run_page(run_id, status_code=exc.status, error=exc.message)
    return _run_page(run_id, notice="Retry queued.")
