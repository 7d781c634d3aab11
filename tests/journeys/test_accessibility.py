"""The runners, releases and project sync pages, with the demo data and an admin's every control on
them, have no axe-core violation (labels, contrast and the other WCAG A/AA rules)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.journeys.conftest import sign_in

pytestmark = pytest.mark.journey


def test_runner_release_and_sync_pages_have_no_accessibility_violations(audit_page: Any, demo: dict[str, str],
                                                                        db: Any, fake_aws: Any) -> None:
    from webapp.releases.models import Release
    from webapp.runners.models import Runner, RunnerPool
    from webapp.sync.models import Project, SyncRun

    pool = db.session.scalars(select(RunnerPool).order_by(RunnerPool.id)).first()
    runner = db.session.scalars(select(Runner).order_by(Runner.id)).first()
    release = db.session.scalars(select(Release).order_by(Release.id.desc())).first()
    project = db.session.scalars(select(Project).order_by(Project.id)).first()
    run = db.session.scalars(select(SyncRun).where(SyncRun.status == "conflict")).first()
    assert pool and runner and release and project and run, "the demo data has one of each"
    paths = ["/runners/", "/runners/pools/new", f"/runners/pools/{pool.id}", f"/runners/pools/{pool.id}/edit",
             f"/runners/{runner.id}", "/releases", f"/repos/{release.repository_id}/releases",
             f"/releases/{release.id}", f"/repos/{release.repository_id}/environments",
             f"/repos/{release.repository_id}/delivery", "/projects", f"/projects/{project.id}",
             f"/projects/{project.id}/history", f"/sync/runs/{run.id}", f"/projects/{project.id}/edit"]
    db.session.remove()

    sign_in(audit_page, demo["admin"])
    problems = {}
    for path in paths:
        audit_page.goto(path)
        violations = audit_page.accessibility_violations()
        if violations:
            problems[path] = violations
    assert problems == {}
