"""Pages: releases per repository, the release page with its environment pipeline, settings, figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from webapp.auth.access import actor, page_requires, signed_in
from webapp.auth.principal import Principal
from webapp.core.errors import GantryError, ValidationFailed
from webapp.core.htmx import is_htmx, render
from webapp.integrations.github import GitHubError
from webapp.integrations.github import app_configured as github_app_configured
from webapp.releases import deployments, figures, service
from webapp.releases import environments as env_rules
from webapp.releases.models import SUCCEEDED, WAITING_STATUSES, Release
from webapp.repos.access import get_visible_repository

bp = Blueprint("releases", __name__)


def _who() -> Principal:
    return signed_in()


def _go(target: str) -> Response:
    if is_htmx():
        return Response("", 204, {"HX-Redirect": target})
    return redirect(target, 303)


# --- releases ------------------------------------------------------------------------------


@bp.route("/releases")
@page_requires("viewer")
def index() -> Any:
    return render("releases/index.html", rows=service.repositories_with_releases(_who()))


def _repo_page(repo_id: int, *, status: int = 200, preview: dict[str, Any] | None = None, error: str | None = None,
               errors: dict[str, Any] | None = None, block: str | None = None) -> Any:
    repo = get_visible_repository(_who(), repo_id)
    page = service.list_releases(_who(), repository_id=repo_id, cursor=request.args.get("cursor"), limit=50)
    return render("releases/repository.html", block, status_code=status, repo=repo, page=page, preview=preview,
                  error=error, errors=errors or {}, form=request.form,
                  environments=env_rules.environments_of(repo_id), github_ready=github_app_configured())


@bp.route("/repos/<int:repo_id>/releases")
@page_requires("viewer")
def repository(repo_id: int) -> Any:
    return _repo_page(repo_id)


@bp.route("/repos/<int:repo_id>/releases/preview", methods=["POST"])
@page_requires("maintainer")
def preview(repo_id: int) -> Any:
    try:
        result = service.preview_release(_who(), repo_id, request.form.get("target", ""),
                                         request.form.get("version") or None)
    except GantryError as exc:
        return _repo_page(repo_id, status=exc.status, error=exc.message, errors=exc.errors, block="release_form")
    except GitHubError as exc:  # the form stays, with what GitHub said
        return _repo_page(repo_id, status=409 if exc.status is None else 502,
                          error=f"GitHub could not be asked for the commits: {exc.message}", block="release_form")
    return _repo_page(repo_id, preview=result, block="release_form")


@bp.route("/repos/<int:repo_id>/releases", methods=["POST"])
@page_requires("maintainer")
def create(repo_id: int) -> Any:
    builds = [b for b in request.form.get("build_uuids", "").replace(",", " ").split() if b]
    try:
        release = service.create_release(_who(), repo_id, target=request.form.get("target", ""),
                                         version=request.form.get("version") or None,
                                         title=request.form.get("title", ""), build_uuids=builds, actor=actor())
    except GantryError as exc:
        return _repo_page(repo_id, status=exc.status, error=exc.message, errors=exc.errors, block="release_form")
    return _go(url_for("releases.release", release_id=release.id))


def _pipeline(release: Release) -> list[dict[str, Any]]:
    """Each environment left to right, with this release's latest deployment and what may be done."""
    who = _who()
    user = who.user
    stages = []
    previous_ok = True
    for env in env_rules.environments_of(release.repository_id):
        mine = [d for d in release.deployments if d.environment_id == env.id]
        latest = mine[-1] if mine else None
        current = deployments.list_deployments(who, environment_id=env.id, limit=1)
        waiting = latest is not None and latest.status in WAITING_STATUSES
        # while waiting only unexpired approvals count; afterwards, show who approved it
        approvals = [] if latest is None else (
            deployments.valid_approvals(latest) if waiting else list(latest.approvals))
        stages.append({
            "env": env,
            "deployment": latest,
            "approvals": approvals,
            "freeze": deployments.freeze_state(env),
            "current": current[0] if current else None,
            "can_promote": user.has_role("maintainer") and release.status == "published" and previous_ok
            and (latest is None or latest.is_final),
            "can_approve": waiting and user.has_role("maintainer") and deployments.may_approve(user, env)
            and release.created_by_id != user.id and all(a.user_id != user.id for a in approvals),
            "can_override": waiting and who.is_admin,
            "can_rollback": user.has_role("maintainer") and bool(current),
        })
        previous_ok = any(d.status == SUCCEEDED for d in mine)
    return stages


def _release_page(release_id: int, *, status: int = 200, error: str | None = None, block: str | None = None) -> Any:
    release = service.get_release(_who(), release_id)
    return render("releases/release.html", block, status_code=status, release=release,
                  repo=get_visible_repository(_who(), release.repository_id), stages=_pipeline(release),
                  builds=service.linked_builds(_who(), release), error=error, now=service.now(),
                  github_ready=github_app_configured())


@bp.route("/releases/<int:release_id>")
@page_requires("viewer")
def release(release_id: int) -> Any:
    block = request.args.get("part") if request.args.get("part") in ("pipeline", "publishing") else None
    return _release_page(release_id, block=block)


def _release_action(release_id: int, action: Any) -> Any:
    try:
        action()
    except GantryError as exc:
        return _release_page(release_id, status=exc.status, error=exc.message, block="pipeline")
    return _release_page(release_id, block="pipeline")


@bp.route("/releases/<int:release_id>/publish", methods=["POST"])
@page_requires("maintainer")
def publish(release_id: int) -> Any:
    try:
        service.request_publish(_who(), release_id, actor=actor())
    except GantryError as exc:
        return _release_page(release_id, status=exc.status, error=exc.message, block="publishing")
    return _release_page(release_id, block="publishing")


def _scheduled_for() -> datetime | None:
    raw = request.form.get("scheduled_for", "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("Give the time as YYYY-MM-DDTHH:MM (UTC).",
                               errors={"scheduled_for": ["not a date and time"]}) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.route("/releases/<int:release_id>/environments/<int:environment_id>/promote", methods=["POST"])
@page_requires("maintainer")
def promote(release_id: int, environment_id: int) -> Any:
    reason = request.form.get("override_reason", "").strip()
    return _release_action(release_id, lambda: deployments.request_deployment(
        _who(), release_id, environment_id, scheduled_for=_scheduled_for(), override_freeze=bool(reason),
        override_reason=reason or None, actor=actor()))


@bp.route("/releases/<int:release_id>/deployments/<int:deployment_id>/approve", methods=["POST"])
@page_requires("maintainer")
def approve(release_id: int, deployment_id: int) -> Any:
    return _release_action(release_id, lambda: deployments.approve(
        _who(), deployment_id, comment=request.form.get("comment", "")))


@bp.route("/releases/<int:release_id>/deployments/<int:deployment_id>/override", methods=["POST"])
@page_requires("admin")
def override(release_id: int, deployment_id: int) -> Any:
    return _release_action(release_id, lambda: deployments.override_freeze(
        _who(), deployment_id, request.form.get("override_reason"), actor=actor()))


@bp.route("/releases/<int:release_id>/environments/<int:environment_id>/rollback", methods=["POST"])
@page_requires("maintainer")
def rollback(release_id: int, environment_id: int) -> Any:
    return _release_action(release_id, lambda: deployments.rollback(
        _who(), environment_id, reason=request.form.get("reason", ""), actor=actor()))


# --- environments --------------------------------------------------------------------------


def _windows_from_form(text: str) -> list[dict[str, Any]]:
    """One window per line: `cron | duration minutes | time zone | reason`."""
    windows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 3:
            raise ValidationFailed(f"Freeze window line {number} needs cron | minutes | time zone.",
                                   errors={"freeze_windows": [f"line {number}: cron | minutes | zone [| reason]"]})
        windows.append({"cron": parts[0], "duration_minutes": parts[1], "timezone": parts[2],
                        "reason": parts[3] if len(parts) > 3 else ""})
    return windows


def _environment_form() -> dict[str, Any]:
    form = request.form
    try:
        approvals = int(form.get("required_approvals") or 0)
    except ValueError as exc:
        raise ValidationFailed("Approvals is a number.", errors={"required_approvals": ["a whole number"]}) from exc
    return {
        "name": form.get("name", ""),
        "required_approvals": approvals,
        "approver_role": form.get("approver_role") or None,
        "approvers": [n.strip() for n in form.get("approvers", "").split(",") if n.strip()],
        "freeze_windows": _windows_from_form(form.get("freeze_windows", "")),
        "auto_promote": bool(form.get("auto_promote")),
        "url": form.get("url", ""),
    }


def _form_errors(errors: dict[str, Any] | None) -> dict[str, Any]:
    """Freeze window errors ("freeze_windows.0.timezone") shown under the one textarea, by line."""
    shown: dict[str, Any] = {}
    for key, messages in (errors or {}).items():
        if key.startswith("freeze_windows."):
            _, index, field = key.split(".", 2)
            shown.setdefault("freeze_windows", []).extend(
                f"line {int(index) + 1}, {field.replace('_', ' ')}: {m}" for m in messages)
        else:
            shown[key] = messages
    return shown


def _environments_page(repo_id: int, *, status: int = 200, error: str | None = None,
                       errors: dict[str, Any] | None = None, editing: int | None = None) -> Any:
    errors = _form_errors(errors)
    repo = get_visible_repository(_who(), repo_id)
    envs = env_rules.environments_of(repo_id)
    return render("releases/environments.html", "environments_panel", status_code=status, repo=repo,
                  environments=envs, approvers={e.id: env_rules.approver_names(e) for e in envs},
                  freezes={e.id: deployments.freeze_state(e) for e in envs}, error=error, errors=errors or {},
                  form=request.form, editing=editing)


@bp.route("/repos/<int:repo_id>/environments")
@page_requires("viewer")
def environments(repo_id: int) -> Any:
    return _environments_page(repo_id)


@bp.route("/repos/<int:repo_id>/environments", methods=["POST"])
@page_requires("maintainer")
def create_environment(repo_id: int) -> Any:
    try:
        env_rules.create_environment(_who(), repo_id, _environment_form(), actor=actor())
    except GantryError as exc:
        return _environments_page(repo_id, status=exc.status, error=exc.message, errors=exc.errors)
    return _environments_page(repo_id, status=201)


@bp.route("/repos/<int:repo_id>/environments/<int:environment_id>", methods=["POST"])
@page_requires("maintainer")
def update_environment(repo_id: int, environment_id: int) -> Any:
    try:
        data = _environment_form()
        if request.form.get("position"):
            data["position"] = int(request.form["position"])
        env_rules.update_environment(_who(), environment_id, data, actor=actor(), repository_id=repo_id)
    except GantryError as exc:
        return _environments_page(repo_id, status=exc.status, error=exc.message, errors=exc.errors,
                                  editing=environment_id)
    except ValueError:
        return _environments_page(repo_id, status=422, error="Position is a whole number.", editing=environment_id)
    return _environments_page(repo_id)


@bp.route("/repos/<int:repo_id>/environments/<int:environment_id>/delete", methods=["POST"])
@page_requires("maintainer")
def delete_environment(repo_id: int, environment_id: int) -> Any:
    try:
        env_rules.delete_environment(_who(), environment_id, actor=actor(), repository_id=repo_id)
    except GantryError as exc:
        return _environments_page(repo_id, status=exc.status, error=exc.message)
    return _environments_page(repo_id)


# --- figures -------------------------------------------------------------------------------


@bp.route("/repos/<int:repo_id>/delivery")
@page_requires("viewer")
def delivery(repo_id: int) -> Any:
    repo = get_visible_repository(_who(), repo_id)
    environment_id = request.args.get("environment_id", type=int)
    data = figures.delivery_figures(_who(), repo_id, environment_id)
    return render("releases/delivery.html", "figures", repo=repo, **data)
