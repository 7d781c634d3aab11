"""Pages: the delivery log with filters kept in the URL, one delivery's payload and result, re-process."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from webapp.auth.access import actor, current_principal, page_requires, signed_in
from webapp.core.errors import GantryError
from webapp.core.htmx import render
from webapp.webhooks import delivery_checks, redelivery, service
from webapp.webhooks.models import STATUSES

bp = Blueprint("webhooks", __name__)

FILTERS = ("event", "action", "status", "repository")


def _filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FILTERS}


@bp.route("/webhook-deliveries")
@page_requires("viewer")
def deliveries() -> Any:
    filters = _filters()
    error = None
    if filters["status"] and filters["status"] not in STATUSES:
        error = f"Status must be one of {', '.join(STATUSES)}."
        filters["status"] = ""
    try:
        page = service.list_deliveries(signed_in(), cursor=request.args.get("cursor") or None, limit=50,
                                       **{k: v or None for k, v in filters.items()})
    except GantryError as exc:  # a cursor that is not ours: show the first page and say so
        error = exc.message
        page = service.list_deliveries(signed_in(), limit=50, **{k: v or None for k, v in filters.items()})
    principal = current_principal()
    asked = redelivery.recent_requests() if principal is not None and principal.is_admin else []
    return render("webhooks/deliveries.html", "delivery_rows", status_code=422 if error else 200, page=page,
                  filters=filters, statuses=STATUSES, error=error, redeliveries=asked,
                  unsigned_accepted=delivery_checks.unsigned_allowed())


@bp.route("/webhook-deliveries/<int:delivery_pk>")
@page_requires("viewer")
def delivery(delivery_pk: int) -> Any:
    item = service.get_delivery(signed_in(), delivery_pk)
    return render("webhooks/delivery.html", "delivery_state", item=item, message=None)


@bp.route("/webhook-deliveries/<int:delivery_pk>/reprocess", methods=["POST"])
@page_requires("maintainer")
def reprocess(delivery_pk: int) -> Any:
    item = service.reprocess(signed_in(), delivery_pk, actor=actor())
    return render("webhooks/delivery.html", "delivery_state", status_code=202, item=item,
                  message="Queued for processing again.")
