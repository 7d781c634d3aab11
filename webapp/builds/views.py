"""Pages: the builds list with live filters, a build's timeline, the dashboard, the catalogue admin."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Blueprint, request
from werkzeug.datastructures import MultiDict

from webapp.auth.access import actor, page_requires, signed_in
from webapp.builds import catalog_service, charts, dashboard, service
from webapp.builds.catalog_service import KINDS, PHASES
from webapp.builds.models import RESULTS
from webapp.builds.schemas import BuildListArgs
from webapp.core.errors import GantryError, ValidationFailed
from webapp.core.htmx import render

bp = Blueprint("builds", __name__)

PAGE_SIZE = 50
FILTER_NAMES = ("platform", "os_version", "image_type", "result", "state", "commit", "repository", "since", "until",
                "text")
FOLDED_FILTERS = FILTER_NAMES[:-1]  # behind the "Filters (N)" toggle on a phone; the search box stays out


def _filters(args: MultiDict[str, str]) -> dict[str, Any]:
    raw = {name: args[name].strip() for name in (*FILTER_NAMES, "cursor") if args.get(name, "").strip()}
    for name in ("since", "until"):  # date inputs send a day
        if name in raw and len(raw[name]) == 10:
            raw[name] += "T00:00:00+00:00"
    try:
        return BuildListArgs().load(raw)
    except ma.ValidationError as exc:
        raise ValidationFailed("Some filters are not valid.", errors=exc.messages_dict) from exc


def _catalogue_choices() -> dict[str, Any]:
    return {
        "platforms": catalog_service.list_entries("platforms"),
        "os_versions": catalog_service.list_entries("os-versions"),
        "image_types": catalog_service.list_entries("image-types"),
        "state_codes": catalog_service.list_state_codes(),
        "results": RESULTS,
    }


@bp.route("/builds")
@page_requires("viewer")
def list_page() -> Any:
    error, errors, page, status = None, {}, None, 200
    try:
        filters = _filters(request.args)
        cursor, limit = filters.pop("cursor"), filters.pop("limit")
        page = service.list_builds(filters, signed_in(), cursor=cursor, limit=min(limit, PAGE_SIZE))
    except GantryError as exc:
        error, errors, status = exc.message, exc.errors, exc.status
    current = {name: request.args.get(name, "") for name in FILTER_NAMES}
    more = None
    if page is not None and page.next_cursor:
        more = MultiDict({k: v for k, v in current.items() if v})
        more["cursor"] = page.next_cursor
    narrowing = sum(1 for name in FOLDED_FILTERS if current[name])
    return render("builds/list.html", "build_results", status_code=status, page=page, error=error, errors=errors,
                  filters=current, narrowing=narrowing, more_args=more, **_catalogue_choices())


@bp.route("/builds/dashboard")
@page_requires("viewer")
def dashboard_page() -> Any:
    principal = signed_in()
    summary = dashboard.summary(principal)
    failures = dashboard.failures(principal)
    recent = dashboard.recent(principal)
    top_components = failures["30d"]["components"]
    return render(
        "builds/dashboard.html", "dashboard_panel",
        summary=summary, failures=failures, recent=recent,
        per_day_chart=charts.builds_per_day(summary["per_day"]),
        trend_chart=charts.success_trend(summary["per_day"]),
        duration_chart=charts.horizontal_bars(summary["duration_by_platform"], "median_seconds", "platform",
                                              unit="duration", css="bar-duration"),
        failing_chart=charts.horizontal_bars(top_components, "failures", "name", css="bar-failed"),
    )


@bp.route("/builds/<build_uuid>")
@page_requires("viewer")
def detail_page(build_uuid: str) -> Any:
    build, events = service.history(build_uuid, signed_in())
    return render("builds/detail.html", "build_live", build=build, events=events,
                  failures=service.failures_of(build))


# --- catalogue admin -----------------------------------------------------------------------


def _catalog_page(status: int = 200, error: str | None = None, errors: dict[str, Any] | None = None,
                  form: Any = None, section: str | None = None) -> Any:
    return render("builds/catalog.html", "catalog_panel", status_code=status, error=error, errors=errors or {},
                  form=form or {}, section=section, kinds=KINDS, phases=PHASES,
                  entries={key: catalog_service.list_entries(key) for key in KINDS},
                  mappings=catalog_service.list_mappings(signed_in()),
                  repositories=catalog_service.mappable_repositories(),
                  **_catalogue_choices())


def _form_data(section: str) -> dict[str, Any]:
    form = request.form
    if section == "state-codes":
        code = form.get("code", "").strip()
        return {"code": int(code) if code.isdigit() else code, "name": form.get("name", ""),
                "description": form.get("description", ""), "phase": form.get("phase", ""),
                "terminal": form.get("terminal") == "on", "failure": form.get("failure") == "on"}
    if section == "github-mappings":
        return {name: form.get(name, "") for name in ("repository", "workflow_name", "platform", "os_version",
                                                      "image_type")}
    k = catalog_service.kind(section)
    data: dict[str, Any] = {name: form.get(name, "") for name in ("slug", "name", *k.extra)}
    if form.get("aliases", "").strip():
        data["aliases"] = _aliases(form["aliases"])
    return data


def _aliases(text: str) -> list[str]:
    """Aliases typed as one line, separated by commas or spaces."""
    return [alias for alias in re.split(r"[\s,]+", text) if alias]


@bp.route("/admin/catalog")
@page_requires("admin")
def catalog_page() -> Any:
    return _catalog_page()


@bp.route("/admin/catalog/<section>", methods=["POST"])
@page_requires("admin")
def catalog_add(section: str) -> Any:
    try:
        data = _form_data(section)
        if section == "state-codes":
            catalog_service.create_state_code(data, actor=actor())
        elif section == "github-mappings":
            catalog_service.create_mapping(data, actor=actor())
        else:
            catalog_service.create_entry(section, data, actor=actor())
    except GantryError as exc:
        return _catalog_page(exc.status, exc.message, exc.errors, request.form, section)
    return _catalog_page(201)


@bp.route("/admin/catalog/<section>/<item>/aliases", methods=["POST"])
@page_requires("admin")
def catalog_aliases(section: str, item: str) -> Any:
    """Replace an entry's aliases (an empty line removes them all)."""
    try:
        catalog_service.update_entry(section, item, {"aliases": _aliases(request.form.get("aliases", ""))},
                                     actor=actor())
    except GantryError as exc:
        return _catalog_page(exc.status, exc.message, exc.errors, request.form, section)
    return _catalog_page()


@bp.route("/admin/catalog/<section>/<item>/delete", methods=["POST"])
@page_requires("admin")
def catalog_delete(section: str, item: str) -> Any:
    try:
        if section == "state-codes":
            catalog_service.delete_state_code(int(item) if item.isdigit() else -1, actor=actor())
        elif section == "github-mappings":
            catalog_service.delete_mapping(int(item) if item.isdigit() else -1, actor=actor())
        else:
            catalog_service.delete_entry(section, item, actor=actor())
    except GantryError as exc:
        return _catalog_page(exc.status, exc.message, exc.errors, section=section)
    return _catalog_page()
