"""Figures read from the database when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric
from sqlalchemy import func, select

from webapp.core.metrics import gauge
from webapp.extensions import db
from webapp.sync.models import Project, SyncRun


def collect_sync_figures() -> Iterable[Metric]:
    by_status = db.session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)).all()
    yield gauge("gantry_sync_runs", "Project sync runs stored, by status", ["status"],
                [([status], float(count)) for status, count in by_status])
    projects = db.session.scalar(select(func.count()).select_from(Project)) or 0
    yield gauge("gantry_sync_projects", "Projects kept in Gantry", [], [([], float(projects))])
