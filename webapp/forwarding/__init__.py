"""Event forwarding: selected GitHub events delivered, signed and retried, to deployment platforms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages, API, the router handler for every event, nav, metrics and status."""
    from webapp.core.metrics import add_scrape_collector
    from webapp.core.nav import NavItem, add_nav
    from webapp.extensions import api
    from webapp.forwarding import api as forwarding_api
    from webapp.forwarding import models  # noqa: F401  (tables known to migrations)
    from webapp.forwarding import outbox, views
    from webapp.ops.service import add_status_check
    from webapp.webhooks.router import register_handler

    app.register_blueprint(views.bp)
    api.register_blueprint(forwarding_api.blp)
    register_handler(app, "*", outbox.on_event, name="forwarding")
    add_nav(app, NavItem("Forwarding", "forwarding.targets", role="maintainer", order=60))
    add_scrape_collector(app, _collect)
    add_status_check(app, "forwarding", _status)


def _figures() -> dict[str, Any]:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.forwarding.models import PENDING, ForwardDelivery, ForwardTarget
    from webapp.forwarding.service import current_time

    now = current_time()
    pending, overdue = db.session.execute(
        select(func.count(), func.count().filter(ForwardDelivery.next_attempt_at < now - _grace()))
        .where(ForwardDelivery.status == PENDING)
    ).one()
    disabled = db.session.scalar(select(func.count()).where(ForwardTarget.active.is_(False))) or 0
    return {"pending": int(pending), "overdue": int(overdue), "disabled_targets": int(disabled)}


def _grace() -> Any:
    from datetime import timedelta

    return timedelta(minutes=5)


def _status() -> dict[str, Any]:
    figures = _figures()
    return {"ok": figures["overdue"] == 0, **figures}


def _collect() -> Iterable[Any]:
    from webapp.core.metrics import gauge

    figures = _figures()
    yield gauge("gantry_forward_deliveries_pending", "Forward deliveries waiting to be sent", [],
                [([], figures["pending"])])
    yield gauge("gantry_forward_deliveries_overdue", "Forward deliveries due more than 5 minutes ago", [],
                [([], figures["overdue"])])
    yield gauge("gantry_forward_targets_disabled", "Forward targets disabled", [], [([], figures["disabled_targets"])])
