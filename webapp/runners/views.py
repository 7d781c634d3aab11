"""Pages: pools list and editor, pool page (live runners and waiting jobs), runner page with stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from webapp.auth.access import actor, page_requires, signed_in
from webapp.auth.principal import Principal
from webapp.core.errors import GantryError
from webapp.core.htmx import render
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.repos.models import Installation, Repository
from webapp.runners import figures, service
from webapp.runners import pools as pool_service
from webapp.runners.models import CAPACITY_CHOICES, RUNNER_STATES, RunnerPool

bp = Blueprint("runners", __name__, url_prefix="/runners")

FORM_FIELDS = (
    "name", "labels", "max_runners", "min_idle", "runner_group_id", "idle_timeout_seconds", "boot_timeout_seconds",
    "region", "cluster", "task_definition", "capacity", "subnets", "security_groups", "container_name", "cpu",
    "memory", "cost_per_vcpu_hour", "cost_per_gb_hour",
)


def _principal() -> Principal:
    return signed_in()


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {key: request.form.get(key, "") for key in FORM_FIELDS}
    data["assign_public_ip"] = bool(request.form.get("assign_public_ip"))
    data["enabled"] = bool(request.form.get("enabled"))
    for key in ("runner_group_id", "cpu", "memory"):
        data[key] = data[key] or None
    return data


def _form_values(source: Any) -> dict[str, Any]:
    """What the editor's inputs show: a pool's settings or the submitted form."""
    if isinstance(source, RunnerPool):
        values = {key: getattr(source, key) for key in (*FORM_FIELDS, "assign_public_ip", "enabled")}
    else:
        values = dict(source)
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = ", ".join(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[key] = str(value)  # so a 0 shows as 0, not as an empty input
    return values


def _owner_choices() -> tuple[list[Repository], list[Installation]]:
    principal = _principal()
    repos = list(db.session.scalars(
        restrict_to_visible(select(Repository), Repository.id, principal)
        .where(Repository.installation_id.is_not(None), Repository.removed_at.is_(None))
        .order_by(Repository.full_name)).unique())
    installations: list[Installation] = []
    if principal.is_admin:
        installations = list(db.session.scalars(
            select(Installation).where(Installation.account_type == "Organization", Installation.removed_at.is_(None))
            .order_by(Installation.account_login)).unique())
    return repos, installations


@bp.route("/", endpoint="pools")
@page_requires("viewer")
def pool_list() -> Any:
    principal = _principal()
    return render("runners/pools.html", "pools_live", pools=pool_service.list_pools(principal),
                  counts=figures.runners_by_state(),
                  unmatched=service.waiting_jobs(principal, unmatched=True, limit=50),
                  can_create=principal.has_role("maintainer"), now=utcnow())


@bp.route("/pools/new", methods=["GET", "POST"])
@page_requires("maintainer")
def new_pool() -> Any:
    repos, installations = _owner_choices()
    values = _form_values(pool_service.pool_form_defaults())
    error, errors, status = None, {}, 200
    if request.method == "POST":
        data = _form_data()
        scope = request.form.get("scope", "repository")
        owner = request.form.get("owner", "")
        data["scope"] = scope
        data["repository_id" if scope == "repository" else "installation_id"] = owner or None
        try:
            pool = pool_service.create_pool(_principal(), data, actor=actor())
        except GantryError as exc:
            error, errors, status = exc.message, exc.errors, exc.status
            values = _form_values({**data, "scope": scope, "owner": owner})
        else:
            flash(f"Pool {pool.name} created.", "success")
            if request.headers.get("HX-Request"):
                return Response("", 204, {"HX-Redirect": url_for("runners.pool", pool_id=pool.id)})
            return redirect(url_for("runners.pool", pool_id=pool.id))
    return render("runners/pool_form.html", "pool_form", status_code=status, pool=None, values=values, error=error,
                  errors=errors, repos=repos, installations=installations, capacities=CAPACITY_CHOICES,
                  aws_ready=pool_service.aws_credentials_found())


@bp.route("/pools/<int:pool_id>")
@page_requires("viewer")
def pool(pool_id: int) -> Any:
    principal = _principal()
    found = pool_service.get_visible_pool(principal, pool_id)
    week_ago = utcnow() - timedelta(days=7)
    return render(
        "runners/pool.html", "pool_live", pool=found, now=utcnow(),
        runners=service.pool_runners(found, principal, alive_only=True, limit=200),
        recent=service.pool_runners(found, principal, limit=20),
        waiting=service.waiting_jobs(principal, pool_id=found.id),
        counts=figures.runners_by_state(found.id).get(found.id, {}), states=RUNNER_STATES,
        histogram=figures.wait_histograms(found.id, since=week_ago).get(found.id),
        failures=figures.launch_failures(found.id, since=week_ago),
        usage=figures.usage_by_day(principal, days=14, pool_id=found.id),
        can_manage=principal.has_role("maintainer") and (found.scope == "repository" or principal.is_admin),
    )


@bp.route("/pools/<int:pool_id>/edit", methods=["GET", "POST"])
@page_requires("maintainer")
def edit_pool(pool_id: int) -> Any:
    principal = _principal()
    found = pool_service.get_visible_pool(principal, pool_id)
    values = _form_values(found)
    error, errors, status = None, {}, 200
    if request.method == "POST":
        data = _form_data()
        try:
            pool_service.update_pool(principal, pool_id, data, actor=actor())
        except GantryError as exc:
            db.session.rollback()
            error, errors, status = exc.message, exc.errors, exc.status
            values = _form_values(data)
            found = pool_service.get_visible_pool(principal, pool_id)
        else:
            flash("Pool saved.", "success")
            if request.headers.get("HX-Request"):
                return Response("", 204, {"HX-Redirect": url_for("runners.pool", pool_id=pool_id)})
            return redirect(url_for("runners.pool", pool_id=pool_id))
    return render("runners/pool_form.html", "pool_form", status_code=status, pool=found, values=values, error=error,
                  errors=errors, repos=[], installations=[], capacities=CAPACITY_CHOICES,
                  aws_ready=pool_service.aws_credentials_found())


@bp.route("/pools/<int:pool_id>/delete", methods=["POST"])
@page_requires("maintainer")
def delete_pool(pool_id: int) -> Any:
    pool_service.delete_pool(_principal(), pool_id, actor=actor())
    flash("Pool deleted.", "success")
    if request.headers.get("HX-Request"):
        return Response("", 204, {"HX-Redirect": url_for("runners.pools")})
    return redirect(url_for("runners.pools"))


@bp.route("/<int:runner_id>")
@page_requires("viewer")
def runner(runner_id: int) -> Any:
    principal = _principal()
    found = service.get_visible_runner(principal, runner_id)
    return render("runners/runner.html", "runner_live", runner=found, job=service.runner_job(found), now=utcnow(),
                  can_manage=principal.has_role("maintainer")
                  and (found.pool.scope == "repository" or principal.is_admin))


@bp.route("/<int:runner_id>/stop", methods=["POST"])
@page_requires("maintainer")
def stop(runner_id: int) -> Any:
    principal = _principal()
    error = None
    try:
        service.request_stop(principal, runner_id, actor=actor())
    except GantryError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise
        error = exc.message
    found = service.get_visible_runner(principal, runner_id)
    return render("runners/runner.html", "runner_live", status_code=409 if error else 200, runner=found,
                  job=service.runner_job(found), now=utcnow(), error=error, can_manage=True)


@bp.app_template_filter("runner_duration")
def runner_duration(seconds: float | None) -> str:
    """A wait or run time for people: 42 s, 3 min 5 s, 2 h 10 min."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
