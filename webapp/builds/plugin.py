"""How builds join the app: pages, API, the workflow_run handler, the catalogue CLI, demo data, figures."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from prometheus_client.core import Metric
from sqlalchemy import func, select

from webapp.builds import api, views
from webapp.builds.demo import catalog_group, seed_demo_builds
from webapp.builds.github import on_workflow_run
from webapp.builds.models import Build, Platform
from webapp.builds.overview import overview_cards
from webapp.cli import add_seeder
from webapp.core.metrics import add_scrape_collector, gauge
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards
from webapp.extensions import api as rest_api
from webapp.extensions import db
from webapp.webhooks.router import register_handler


def init_app(app: Flask) -> None:
    """Register pages, API, the workflow_run handler, the CLI, demo data and nav entries for builds."""
    app.register_blueprint(views.bp)
    rest_api.register_blueprint(api.blp)
    register_handler(app, "workflow_run", on_workflow_run)
    app.cli.add_command(catalog_group)
    add_seeder(app, "builds", seed_demo_builds)
    add_nav(app, NavItem("Builds", "builds.list_page", group="Delivery", order=10, icon="package"))
    add_nav(app, NavItem("Build dashboard", "builds.dashboard_page", group="Delivery", order=11, icon="chart-bar"))
    add_nav(app, NavItem("Build catalogue", "builds.catalog_page", role="admin", group="Admin", order=40,
                         icon="category"))
    add_scrape_collector(app, _builds_in_flight)
    add_overview_cards(app, "Builds", overview_cards, order=20)


def _builds_in_flight() -> Iterable[Metric]:
    """Builds not yet ended, per platform (read at scrape time from the partial in-flight index)."""
    rows = db.session.execute(select(Platform.slug, func.count(Build.id)).join(Build, Build.platform_id == Platform.id)
                              .where(Build.result == "in_progress").group_by(Platform.slug)).all()
    yield gauge("gantry_builds_in_flight", "Builds reported but not yet ended", ["platform"],
                [([slug], count) for slug, count in rows])
