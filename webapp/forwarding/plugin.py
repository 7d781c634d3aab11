"""How forwarding joins the app: pages, API, the handler for every event, nav, metrics, status, demo data."""

from __future__ import annotations

from flask import Flask

from webapp.cli import add_seeder
from webapp.core.metrics import add_scrape_collector
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards
from webapp.extensions import api
from webapp.forwarding import api as forwarding_api
from webapp.forwarding import demo, figures, outbox, views
from webapp.forwarding.overview import overview_cards
from webapp.ops.service import add_status_check
from webapp.webhooks.router import register_handler


def init_app(app: Flask) -> None:
    """Register the pages, API, the router handler for every event, nav, metrics and status."""
    app.register_blueprint(views.bp)
    api.register_blueprint(forwarding_api.blp)
    register_handler(app, "*", outbox.on_event, name="forwarding")
    add_nav(app, NavItem("Forwarding", "forwarding.targets", role="maintainer", group="Events", order=20, icon="send"))
    add_scrape_collector(app, figures.collect)
    add_status_check(app, "forwarding", figures.status_check)
    add_overview_cards(app, "Forwarding", overview_cards, order=70)
    add_seeder(app, "forwarding", demo.seed_forwarding)
