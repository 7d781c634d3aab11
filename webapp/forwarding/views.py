"""Pages: forward targets, their settings, secret rotation, recovery, and the delivery log."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from webapp.auth.access import actor, page_requires, signed_in
from webapp.auth.principal import Principal
from webapp.core.errors import GantryError, ValidationFailed
from webapp.core.htmx import render
from webapp.core.models import UTC
from webapp.forwarding import outbox, service
from webapp.forwarding.models import DELIVERY_STATUSES

bp = Blueprint("forwarding", __name__, url_prefix="/forwarding")


def _who() -> Principal:
    return signed_in()


def _split(raw: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", raw or "") if part]


def _form_data(form: MultiDict[str, str], *, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "url": form.get("url", ""),
        "events": _split(form.get("events", "")),
        "branch_patterns": _split(form.get("branch_patterns", "")),
        "tag_patterns": _split(form.get("tag_patterns", "")),
        "github_signature": form.get("github_signature") == "on",
    }
    try:
        data["repository_ids"] = [int(v) for v in form.getlist("repository_ids")]
    except ValueError as exc:
        raise ValidationFailed("The forward target is not valid.",
                               errors={"repository_ids": ["choose repositories from the list"]}) from exc
    if creating and form.get("secret"):
        data["secret"] = form["secret"]
    return data


def _targets_page(status: int = 200, **extra: Any) -> Any:
    who = _who()
    context: dict[str, Any] = {"error": None, "errors": {}, "form": {}, "created": None, "secret": None}
    context.update(extra)
    me = actor()
    targets = service.list_targets(who)
    return render(
        "forwarding/targets.html", "targets_panel", status_code=status, targets=targets,
        repositories=service.selectable_repositories(who),
        my_disabled=[t for t in targets if not t.active and me is not None and t.owner_id == me.id],
        **context,
    )


@bp.route("", methods=["GET", "POST"])
@page_requires("maintainer")
def targets() -> Any:
    if request.method == "POST":
        try:
            target, secret = service.create_target(_who(), _form_data(request.form, creating=True), actor=actor())
        except GantryError as exc:
            return _targets_page(exc.status, error=exc.message, errors=exc.errors, form=request.form)
        return _targets_page(201, created=target, secret=secret)
    return _targets_page()


def _target_page(target_id: int, status: int = 200, block: str = "settings_panel", **extra: Any) -> Any:
    who = _who()
    target = service.get_target(who, target_id)
    context: dict[str, Any] = {"error": None, "errors": {}, "secret": None, "notice": None}
    context.update(extra)
    status_filter = request.args.get("status") if request.args.get("status") in DELIVERY_STATUSES else None
    page = outbox.page_deliveries(who, target.id, status=status_filter, cursor=request.args.get("cursor") or None,
                                  limit=50)
    return render(
        "forwarding/target.html", block, status_code=status, target=target, page=page,
        status_filter=status_filter, statuses=DELIVERY_STATUSES,
        repositories=service.selectable_repositories(who), **context,
    )


@bp.route("/targets/<int:target_id>", methods=["GET", "POST"])
@page_requires("maintainer")
def target(target_id: int) -> Any:
    if request.method == "POST":
        try:
            service.update_target(_who(), target_id, _form_data(request.form, creating=False), actor=actor())
        except GantryError as exc:
            return _target_page(target_id, exc.status, error=exc.message, errors=exc.errors)
        return _target_page(target_id, notice="Saved.")
    if request.args.get("status") is not None or request.args.get("cursor"):
        return _target_page(target_id, block="deliveries_panel")
    return _target_page(target_id)


@bp.route("/targets/<int:target_id>/rotate", methods=["POST"])
@page_requires("maintainer")
def rotate(target_id: int) -> Any:
    _, secret = service.rotate_secret(_who(), target_id, actor=actor())
    return _target_page(target_id, secret=secret,
                        notice="New secret in use; the previous one also signs for 24 hours.")


@bp.route("/targets/<int:target_id>/active", methods=["POST"])
@page_requires("maintainer")
def set_active(target_id: int) -> Any:
    active = request.form.get("active") == "true"
    service.update_target(_who(), target_id, {"active": active}, actor=actor())
    return _target_page(target_id, notice="Enabled." if active else "Paused.")


def _parse_since(raw: str) -> datetime:
    """The recovery start from the form's datetime-local field, read as UTC."""
    try:
        since = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("Give the time to recover from.", errors={"since": ["a date and time (UTC)"]}) from exc
    return since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)


@bp.route("/targets/<int:target_id>/recover", methods=["POST"])
@page_requires("maintainer")
def recover(target_id: int) -> Any:
    try:
        ids = service.recover_failed_since(_who(), target_id, _parse_since(request.form.get("since", "")),
                                           actor=actor())
    except GantryError as exc:
        return _target_page(target_id, exc.status, error=exc.message, errors=exc.errors)
    return _target_page(target_id, notice=f"{len(ids)} failed deliveries queued to be sent again.")


@bp.route("/targets/<int:target_id>/delete", methods=["POST"])
@page_requires("maintainer")
def delete(target_id: int) -> Any:
    service.delete_target(_who(), target_id, actor=actor())
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("forwarding.targets")}
    return redirect(url_for("forwarding.targets"))


@bp.route("/deliveries/<int:delivery_id>")
@page_requires("maintainer")
def delivery(delivery_id: int) -> Any:
    found = outbox.get_delivery(_who(), delivery_id)
    return render("forwarding/delivery.html", "delivery_panel", delivery=found, notice=None, error=None)


@bp.route("/deliveries/<int:delivery_id>/resend", methods=["POST"])
@page_requires("maintainer")
def resend(delivery_id: int) -> Any:
    try:
        found = outbox.resend(_who(), delivery_id, actor=actor())
    except GantryError as exc:
        found = outbox.get_delivery(_who(), delivery_id)
        return render("forwarding/delivery.html", "delivery_panel", status_code=exc.status, delivery=found,
                      notice=None, error=exc.message)
    return render("forwarding/delivery.html", "delivery_panel", delivery=found, notice="Queued to be sent again.",
                  error=None)
