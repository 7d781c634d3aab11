"""How webhook intake joins the app: the intake endpoint, the delivery log, the /status check and metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app
from prometheus_client.core import Metric

from webapp.core.metrics import add_scrape_collector, gauge
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards
from webapp.extensions import api
from webapp.ops.service import add_status_check
from webapp.webhooks import api as webhooks_api
from webapp.webhooks import endpoint, models, service, views  # noqa: F401  (models: tables known to migrations)
from webapp.webhooks.overview import overview_cards


def init_app(app: Flask) -> None:
    """Register the intake endpoint, delivery log pages and API, metrics and the /status check."""
    app.register_blueprint(endpoint.bp)
    app.register_blueprint(views.bp)
    api.register_blueprint(webhooks_api.blp)
    add_nav(app, NavItem("Webhooks", "webhooks.deliveries", group="Events", order=10, icon="webhook"))
    add_status_check(app, "webhooks", webhook_status, brief=webhook_ok)
    add_scrape_collector(app, webhook_metrics)
    add_overview_cards(app, "Webhooks", overview_cards, order=50)


def _oldest_pending() -> tuple[bool, float | None]:
    """(healthy, seconds): healthy while no stored delivery has waited longer than the sweep should allow."""
    age = service.oldest_pending_age()
    limit = 2 * int(current_app.config["WEBHOOK_SWEEP_AFTER_SECONDS"]) + 60
    return age is None or age <= limit, age


def webhook_ok() -> dict[str, Any]:
    """The verdict alone: one indexed lookup, where the counts by status read every stored delivery."""
    return {"ok": _oldest_pending()[0]}


def webhook_status() -> dict[str, Any]:
    """/status: the verdict, how long the oldest delivery has waited, and the deliveries by status."""
    ok, age = _oldest_pending()
    return {"ok": ok, "oldest_pending_seconds": None if age is None else round(age),
            "deliveries": service.status_counts()}


def webhook_metrics() -> Iterable[Metric]:
    counts = service.status_counts()
    yield gauge("gantry_webhook_deliveries", "Stored webhook deliveries by status", ["status"],
                [([status], float(n)) for status, n in counts.items()])
    age = service.oldest_pending_age()
    yield gauge("gantry_webhook_oldest_pending_seconds", "How long the oldest unprocessed delivery has waited",
                [], [([], age or 0.0)])
