"""Health, readiness, status, metrics and the queue dashboard."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Add the queue figures to /metrics and the overview (the routes and the dashboard register themselves)."""
    from webapp.core.metrics import add_scrape_collector
    from webapp.core.overview import add_overview_cards
    from webapp.ops.overview import overview_cards
    from webapp.ops.service import queue_metrics

    add_scrape_collector(app, queue_metrics)
    add_overview_cards(app, "Queues", overview_cards, order=90)
