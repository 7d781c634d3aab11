"""How runners join the app: pages, API, the workflow_job handler, the ECS status check, figures, demo data."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from webapp.cli import add_seeder
from webapp.core.metrics import add_scrape_collector
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_overview_cards, add_setup_step
from webapp.extensions import api, db
from webapp.integrations import ecs
from webapp.integrations.ecs import AwsError, aws
from webapp.ops.service import add_status_check
from webapp.runners import api as runners_api
from webapp.runners import figures, models, setup, views  # noqa: F401  (models: tables known to migrations)
from webapp.runners.demo import seed_runners
from webapp.runners.models import RunnerPool
from webapp.runners.overview import overview_cards
from webapp.runners.service import on_workflow_job
from webapp.webhooks.router import register_handler


def check_ecs() -> dict[str, Any]:
    """/status: can Gantry reach the ECS clusters its runner pools launch into?"""
    targets = sorted(set(db.session.execute(
        select(RunnerPool.region, RunnerPool.cluster).where(RunnerPool.enabled.is_(True))).tuples()))
    if not targets:
        return {"ok": True, "pools": 0, "note": "no runner pool launches runners"}
    try:
        missing = [f"{cluster} ({region})" for region, cluster in targets
                   if (aws().describe_cluster(region, cluster) or {}).get("status") != "ACTIVE"]
    except AwsError as exc:
        return {"ok": False, "clusters": len(targets), "error": exc.message}
    result: dict[str, Any] = {"ok": not missing, "clusters": len(targets)}
    if missing:
        result["error"] = f"not active: {', '.join(missing)}"
    return result


def init_app(app: Flask) -> None:
    """Register pages, API, the workflow_job handler, status check, figures and demo data."""
    ecs.init_app(app)
    app.register_blueprint(views.bp)
    api.register_blueprint(runners_api.blp)
    add_nav(app, NavItem("Runners", "runners.pools", group="Delivery", order=30, icon="server-2"))
    register_handler(app, "workflow_job", on_workflow_job)
    add_status_check(app, "ecs", check_ecs)
    add_scrape_collector(app, figures.collect_metrics)
    add_overview_cards(app, "Runners", overview_cards, order=30)
    add_setup_step(app, setup.aws_step, order=30)
    add_setup_step(app, setup.pool_step, order=40)
    add_seeder(app, "runners", seed_runners)
