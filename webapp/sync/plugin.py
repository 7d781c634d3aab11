"""How project sync joins the app: pages, API, nav, metrics, overview cards and demo data."""

from __future__ import annotations

from flask import Flask

from webapp.cli import add_seeder
from webapp.core.metrics import add_scrape_collector
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards
from webapp.extensions import api
from webapp.sync import api as sync_api
from webapp.sync import (
    models,  # noqa: F401  (tables known to migrations)
    views,
)
from webapp.sync.demo import seed_demo_projects
from webapp.sync.stats import collect_sync_figures, overview_cards


def init_app(app: Flask) -> None:
    """Register pages, API, nav entry, metrics and demo data for project sync."""
    app.register_blueprint(views.bp)
    api.register_blueprint(sync_api.blp)
    add_nav(app, NavItem("Projects", "sync.projects", group="Delivery", order=40, icon="folder"))
    add_scrape_collector(app, collect_sync_figures)
    add_overview_cards(app, "Project sync", overview_cards, order=60)
    add_seeder(app, "project sync", seed_demo_projects)
