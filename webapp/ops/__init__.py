"""Health, readiness, status, metrics and the queue dashboard."""

from __future__ import annotations

from flask import Flask

from webapp.core.metrics import add_scrape_collector
from webapp.ops.service import queue_metrics


def init_app(app: Flask) -> None:
    """Add the queue figures to /metrics (the routes and the dashboard register themselves).

    The overview page leaves queues out: they are /status's, for admins.
    """
    add_scrape_collector(app, queue_metrics)
