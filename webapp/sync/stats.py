"""Figures read from the database: for /metrics scrapes and the overview page's cards."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask import url_for
from prometheus_client.core import Metric
from sqlalchemy import func, select

from webapp.auth.principal import Who
from webapp.core.metrics import gauge
from webapp.core.models import utcnow
from webapp.core.overview import Card, daily_trend
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.sync.models import RUN_ACTIVE, Project, SyncRun


def collect_sync_figures() -> Iterable[Metric]:
    by_status = db.session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)).all()
    yield gauge("gantry_sync_runs", "Project sync runs stored, by status", ["status"],
                [([status], float(count)) for status, count in by_status])
    projects = db.session.scalar(select(func.count()).select_from(Project)) or 0
    yield gauge("gantry_sync_projects", "Projects kept in Gantry", [], [([], float(projects))])


def overview_cards(principal: Who) -> list[Card]:
    """Cards for the overview page: runs going now, conflicts waiting for a choice, the last week."""

    def count(*conditions: Any) -> int:
        stmt = restrict_to_visible(select(func.count()).select_from(SyncRun).where(*conditions),
                                   SyncRun.repository_id, principal)
        return int(db.session.scalar(stmt) or 0)

    week_ago = utcnow() - timedelta(days=7)
    active = count(SyncRun.status.in_(RUN_ACTIVE))
    conflicts = count(SyncRun.status == "conflict", SyncRun.finished_at >= week_ago)
    landed = count(SyncRun.status.in_(("succeeded", "pull_request")), SyncRun.finished_at >= week_ago)
    failed = count(SyncRun.status == "failed", SyncRun.finished_at >= week_ago)
    link = url_for("sync.projects")
    return [
        Card("Syncing", str(active), link, "queued, running or waiting"),
        Card("Conflicts (7 d)", str(conflicts), link, "runs stopped for a choice", "warn" if conflicts else "neutral"),
        Card("Synced (7 d)", str(landed), link, "commits or pull requests", "ok" if landed else "neutral"),
        Card("Failed (7 d)", str(failed), link, "sync runs", "failed" if failed else "ok",
             trend=daily_trend("sync-failed", principal, SyncRun.finished_at, lambda stmt: restrict_to_visible(
                 stmt.where(SyncRun.status == "failed"), SyncRun.repository_id, principal)),
             trend_label="failed sync runs per day"),
    ]
