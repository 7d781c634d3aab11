"""How releases join the app: pages, API, the deployment_status handler, nav, metrics and demo data."""

from __future__ import annotations

from flask import Flask

from webapp.cli import add_seeder
from webapp.core.metrics import add_scrape_collector
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards
from webapp.extensions import api
from webapp.releases import api as releases_api
from webapp.releases import deployments, models, seed, views  # noqa: F401  (tables known to migrations)
from webapp.releases.figures import collect_metrics, overview_cards
from webapp.webhooks.router import register_handler


def init_app(app: Flask) -> None:
    """Register pages, API, the deployment_status handler, nav, metrics and demo data."""
    app.register_blueprint(views.bp)
    api.register_blueprint(releases_api.blp)
    api.register_blueprint(releases_api.environments_blp)
    add_nav(app, NavItem("Releases", "releases.index", group="Delivery", order=20, icon="rocket"))
    register_handler(app, "deployment_status", deployments.on_deployment_status, name="releases.deployment_status")
    add_scrape_collector(app, collect_metrics)
    add_overview_cards(app, "Releases", overview_cards, order=40)
    add_seeder(app, "releases", seed.seed_demo)
