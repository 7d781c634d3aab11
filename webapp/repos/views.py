"""Pages: repositories (list, detail with commits), the GitHub connection, App set-up, repository webhooks."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, request, session, url_for

from webapp.auth.access import page_requires, public, signed_in
from webapp.auth.principal import Principal
from webapp.core.errors import Forbidden, GantryError, ValidationFailed
from webapp.core.htmx import render
from webapp.integrations.github import GitHubError
from webapp.integrations.github import app_configured as github_app_configured
from webapp.repos import accounts, app_setup, hooks, sandbox_actions, sandbox_github, service
from webapp.repos.app_config import get_app_settings

bp = Blueprint("repos", __name__)


def _principal() -> Principal:
    return signed_in()


@bp.route("/health/github")
@public
def github_health() -> Any:
    """Is GitHub reachable with the App's credentials? 200 or 503, and no details beyond that."""
    health = service.github_health()
    body = {"status": "ok" if health["ok"] else "unavailable", "configured": health["configured"],
            "jwt": health["jwt"], "api": health["api"]}
    return jsonify(body), 200 if health["ok"] else 503


@bp.route("/repos")
@page_requires("viewer")
def repository_list() -> Any:
    search = (request.args.get("q") or "").strip()[:200] or None
    page = service.list_repositories(_principal(), search=search, cursor=request.args.get("cursor") or None, limit=25)
    total = service.count_repositories(_principal(), search)
    return render("repos/list.html", "repo_list", page=page, q=search or "", total=total)


@bp.route("/repos/<owner>/<name>")
@page_requires("viewer")
def repository_detail(owner: str, name: str) -> Any:
    return _detail_page(owner, name)


def _detail_page(owner: str, name: str, *, status_code: int = 200, push: dict[str, str] | None = None,
                 push_errors: dict[str, Any] | None = None, push_error: str | None = None) -> Any:
    """The repository's page; `push`, `push_errors` and `push_error` refill the sandbox's push form after bad input."""
    repo = service.get_repository(_principal(), owner, name)
    commits: list[dict[str, Any]] = []
    error = None
    try:
        commits = service.recent_commits(_principal(), owner, name, limit=15)
    except (GitHubError, GantryError) as exc:
        error = f"Commits could not be read from GitHub: {exc.message}"
    return render("repos/detail.html", "commits", status_code=status_code, repo=repo, commits=commits, error=error,
                  permission=service.permission_of(_principal(), repo.id), push=push or {},
                  push_errors=push_errors or {}, push_error=push_error)


@bp.route("/repos/<owner>/<name>/sandbox/run-workflow", methods=["POST"])
@page_requires("maintainer")
def sandbox_run_workflow(owner: str, name: str) -> Any:
    """Sandbox mode only (404 otherwise): queue a workflow job on Sandbox GitHub."""
    try:
        job = sandbox_actions.run_workflow(_principal(), owner, name, request.form.get("labels", ""),
                                           request.form.get("outcome", "success"))
    except (ValidationFailed, Forbidden) as exc:
        flash(exc.message, "error")
    except GitHubError as exc:
        flash(f"Sandbox GitHub refused: {exc.message}", "error")
    else:
        flash(f"Sandbox GitHub queued job {job['id']} on {', '.join(job['labels'])}; a pool with those labels "
              "launches a runner for it.", "success")
    return redirect(url_for("repos.repository_detail", owner=owner, name=name))


@bp.route("/repos/<owner>/<name>/sandbox/push", methods=["POST"])
@page_requires("maintainer")
def sandbox_push(owner: str, name: str) -> Any:
    """Sandbox mode only (404 otherwise): push a commit that sets one file on Sandbox GitHub's default branch."""
    form = {field: request.form.get(field, "") for field in ("path", "content", "message")}
    try:
        pushed = sandbox_actions.push_commit(_principal(), owner, name, form["path"], form["content"], form["message"])
    except ValidationFailed as exc:
        return _detail_page(owner, name, status_code=422, push=form, push_errors=exc.errors, push_error=exc.message)
    except Forbidden as exc:
        flash(exc.message, "error")
    except GitHubError as exc:
        flash(f"Sandbox GitHub refused: {exc.message}", "error")
    else:
        flash(f"Pushed {pushed['after'][:7]} to {pushed['ref'].removeprefix('refs/heads/')} on Sandbox GitHub; "
              "it sent Gantry the push webhook.", "success")
    return redirect(url_for("repos.repository_detail", owner=owner, name=name))


@bp.route("/sandbox/github")
@page_requires("viewer")
def sandbox_github_page() -> Any:
    """Sandbox mode only (404 otherwise): what the GitHub simulator holds for a repository, and one file's content."""
    who = _principal()
    repositories = sandbox_github.sandbox_repositories(who)
    commit = (request.args.get("commit") or "").strip().lower() or None
    error = None
    if commit is not None and not sandbox_github.SHA.match(commit):
        error, commit = "A commit is 7 to 40 hexadecimal characters; the branch's newest is shown.", None
    view = sandbox_github.read_repository(who, request.args.get("repo") or None, request.args.get("branch") or None,
                                          commit, (request.args.get("file") or "").strip() or None)
    return render("repos/sandbox_github.html", repositories=repositories, view=view, error=error)


@bp.route("/github")
@page_requires("viewer")
def connection() -> Any:
    principal = _principal()
    return render("github/connection.html", None, status=accounts.connection_status(principal.user),
                  installations=service.list_installations(principal), health=service.github_health())


@bp.route("/github/disconnect", methods=["POST"])
@page_requires("viewer")
def disconnect() -> Any:
    try:
        accounts.disconnect(_principal().user, revoke=bool(request.form.get("revoke")))
    except (GantryError, GitHubError) as exc:
        flash(f"Could not disconnect: {exc.message}", "error")
    else:
        flash("Your user is no longer connected to GitHub.", "success")
    return redirect(url_for("repos.connection"))


@bp.route("/github/reconcile", methods=["POST"])
@page_requires("admin")
def reconcile() -> Any:
    if not github_app_configured():
        flash("There is nothing to compare with: Gantry has no GitHub App id and private key yet.", "error")
        return redirect(url_for("repos.connection"))
    service.request_reconcile()
    flash("Installations and repositories will be compared with GitHub in a moment; "
          "the installations table shows when it last ran.", "success")
    return redirect(url_for("repos.connection"))


@bp.route("/github/app", methods=["GET", "POST"])
@page_requires("admin")
def app_setup_page() -> Any:
    settings = get_app_settings()
    form = None
    error = None
    errors: dict[str, Any] = {}
    if request.method == "POST":
        state = secrets.token_urlsafe(24)
        try:
            form = app_setup.manifest_form(state=state, organization=request.form.get("organization") or None,
                                           name=request.form.get("name") or "Gantry")
            session["github_manifest_state"] = state
        except ValidationFailed as exc:
            error, errors = exc.message, exc.errors
    return render("github/app_setup.html", None, status_code=422 if error else 200, settings=settings, form=form,
                  error=error, errors=errors)


@bp.route("/github/app/manifest/callback")
@page_requires("admin")
def manifest_callback() -> Any:
    expected = session.pop("github_manifest_state", None)
    given = request.args.get("state", "")
    if not expected or not secrets.compare_digest(str(expected), given):
        return render("github/app_setup.html", None, status_code=400, settings=get_app_settings(), form=None,
                      error="The answer from GitHub does not belong to a registration started here. Start again.",
                      errors={})
    try:
        config = app_setup.complete_manifest(request.args.get("code", ""), actor=_principal().user)
    except (GantryError, GitHubError) as exc:
        return render("github/app_setup.html", None, status_code=getattr(exc, "status", 502) or 502,
                      settings=get_app_settings(), form=None, error=exc.message, errors={})
    flash(f"GitHub App {config.slug} registered. Now install it on your organisation.", "success")
    return redirect(url_for("repos.connection"))


def _hooks_page(status: int = 200, error: str | None = None, errors: dict[str, Any] | None = None) -> Any:
    principal = _principal()
    return render("github/hooks.html", "hook_list", status_code=status,
                  hooks=[hooks.hook_view(h) for h in hooks.list_hooks(principal)], error=error, errors=errors or {},
                  connected=accounts.connection_status(principal.user)["connected"])


@bp.route("/github/hooks")
@page_requires("viewer")
def hook_list() -> Any:
    return _hooks_page()


@bp.route("/github/hooks", methods=["POST"])
@page_requires("maintainer")
def hook_create() -> Any:
    try:
        hook = hooks.set_up_hook(_principal(), request.form.get("repository", ""))
    except GantryError as exc:
        return _hooks_page(exc.status, exc.message, exc.errors)
    except GitHubError as exc:
        return _hooks_page(502, f"GitHub refused: {exc.message}")
    flash(f"Webhook set up on {hook.repository.full_name}; GitHub was asked to ping it.", "success")
    return redirect(url_for("repos.hook_list"))


@bp.route("/github/hooks/<int:hook_id>/status")
@page_requires("viewer")
def hook_status(hook_id: int) -> Any:
    view = hooks.hook_view(hooks.get_hook(_principal(), hook_id))
    return render("github/hooks.html", "hook_row", hook=view)


@bp.route("/github/hooks/<int:hook_id>/ping", methods=["POST"])
@page_requires("maintainer")
def hook_ping(hook_id: int) -> Any:
    try:
        hooks.ping_hook(_principal(), hook_id)
    except (GantryError, GitHubError) as exc:
        return _hooks_page(getattr(exc, "status", 502) or 502, exc.message)
    flash("GitHub was asked to ping the webhook again.", "success")
    return redirect(url_for("repos.hook_list"))


@bp.route("/github/hooks/<int:hook_id>/remove", methods=["POST"])
@page_requires("maintainer")
def hook_remove(hook_id: int) -> Any:
    try:
        hook = hooks.remove_hook(_principal(), hook_id)
    except (GantryError, GitHubError) as exc:
        return _hooks_page(getattr(exc, "status", 502) or 502, exc.message)
    flash(f"Webhook removed from {hook.repository.full_name}.", "success")
    return redirect(url_for("repos.hook_list"))
