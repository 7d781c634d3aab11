"""Home page, health and readiness probes, the status page and JSON, and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from webapp.auth.access import authenticate_api_request, current_principal, page_requires, public, signed_in
from webapp.core.crypto import constant_time_equals
from webapp.core.errors import Forbidden, GantryError, Unauthorized
from webapp.core.htmx import render
from webapp.core.metrics import render_metrics
from webapp.core.overview import overview_sections, setup_steps
from webapp.ops import retention, service

bp = Blueprint("ops", __name__)


def _operator_allowed() -> bool:
    """Admins (session or admin-scoped key) and holders of METRICS_TOKEN may see details."""
    token = current_app.config["METRICS_TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and header.lower().startswith("bearer ") and constant_time_equals(header[7:].strip(), token):
        return True
    principal = current_principal()
    if principal is None:
        try:
            principal = authenticate_api_request()
        except GantryError:
            principal = None
    return principal is not None and principal.is_admin


def _require_operator() -> None:
    if _operator_allowed():
        return
    if current_principal() is None and not request.headers.get("Authorization") and not request.headers.get(
        "X-API-Key"
    ):
        raise Unauthorized("Sign in as an admin or send the metrics bearer token.")
    raise Forbidden("Only admins and the metrics token may see this.")


@bp.route("/")
@page_requires("viewer")
def home() -> Any:
    """What needs the viewer now (failing, stuck or waiting), then each capability's health; admins also
    see the first-run checklist until it is done and one line of system status (details on /status)."""
    principal = signed_in()
    sections = overview_sections(principal)
    attention = [(section, card) for section, cards in sections for card in cards if card.needs_attention]
    steps = setup_steps() if principal.is_admin else []
    system_ok = service.system_ok() if principal.is_admin else None
    return render("ops/home.html", "overview_panel", sections=sections, attention=attention,
                  steps=steps if not all(step.done for step in steps) else [], system_ok=system_ok)


@bp.route("/health")
@public
def health() -> Any:
    """The process is alive; touches nothing else."""
    return jsonify(status="ok")


@bp.route("/health/db")
@public
def health_db() -> Any:
    result = service.check_database()
    return jsonify(status="ok" if result["ok"] else "unavailable", database=_public_part(result)), (
        200 if result["ok"] else 503
    )


@bp.route("/ready")
@public
def ready() -> Any:
    """Ready to serve: PostgreSQL and Redis both answer; 503 naming what failed otherwise."""
    ok, checks = service.readiness()
    failed = [name for name, check in checks.items() if not check["ok"]]
    body: dict[str, Any] = {
        "status": "ready" if ok else "unavailable",
        "checks": {k: _public_part(v) for k, v in checks.items()},
    }
    if failed:
        body["failed"] = failed
    return jsonify(body), 200 if ok else 503


def _public_part(check: dict[str, Any]) -> dict[str, Any]:
    return {"ok": check["ok"], "latency_ms": check.get("latency_ms")}


@bp.route("/status")
@public
def status_page() -> Any:
    status = service.system_status()
    details = _operator_allowed()
    storage = retention.storage_report() if details else None
    return render("ops/status.html", "status_panel", status=status, details=details, storage=storage)


@bp.route("/status.json")
@public
def status_json() -> Any:
    status = service.system_status()
    if _operator_allowed():
        return jsonify({**status, "storage": retention.storage_report()})
    return jsonify(ok=status["ok"], components={k: {"ok": v.get("ok")} for k, v in status["components"].items()})


@bp.route("/metrics")
@public
def metrics() -> Any:
    _require_operator()
    return render_metrics()
