"""The forwarding jobs and figures: sweep and purge are scheduled, and /status and /metrics report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.forwarding.conftest import Reply, purge_forwarded, webhook_event

pytestmark = pytest.mark.usefixtures("forwarding_settings")


def test_sweep_and_purge_are_scheduled():
    from webapp.schedule import PERIODIC_JOBS

    scheduled = {job.task for job in PERIODIC_JOBS}
    assert "tasks.forwarding.sweep_forward_deliveries" in scheduled
    assert "tasks.retention.purge_expired_data" in scheduled  # old forward deliveries go with the retention purge


def test_sweep_task_sends_what_is_due(app, receiver, make_target, process, run_jobs, clock, monkeypatch):
    from tasks.forwarding import sweep_forward_deliveries
    from webapp.forwarding.figures import figures, status_check

    receiver.replies = [Reply(503)]
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    assert figures() == {"pending": 1, "overdue": 0, "disabled_targets": 0}
    clock.advance(minutes=10)
    check = status_check()
    assert check["ok"] is False and check["overdue"] == 1  # a due delivery nobody picked up
    assert sweep_forward_deliveries() == 1
    run_jobs()
    assert figures()["pending"] == 0 and status_check()["ok"] is True
    monkeypatch.setitem(app.config, "FORWARDING_RETENTION_DAYS", 1)
    clock.advance(days=2)
    assert purge_forwarded() == 1


def test_metrics_and_status_include_forwarding(client, make_user, make_key):
    admin = make_user("admin")
    response = client.get("/metrics", headers=make_key(admin, "admin"))
    assert response.status_code == 200
    assert b"gantry_forward_deliveries_pending 0.0" in response.data
    assert b"gantry_forward_targets_disabled 0.0" in response.data
    from webapp.ops.service import system_status

    assert system_status()["components"]["forwarding"]["ok"] is True


def test_purge_keeps_recent_rows(app, receiver, make_target, process, run_jobs, clock):
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    clock.advance(days=29)
    assert purge_forwarded() == 0
    clock.now += timedelta(days=2)
    assert purge_forwarded() == 1


def test_demo_seed_is_idempotent_and_shown_to_its_owner(make_user, make_repo, grant, browser):
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.forwarding.demo import DEMO_NAME, DEMO_REPOSITORY_ID, seed_forwarding
    from webapp.forwarding.models import ForwardDelivery, ForwardTarget

    admin = make_user("admin")
    maria = make_user("maintainer", username="maria")
    make_repo(DEMO_REPOSITORY_ID, "gantry-demo/infrajet")
    grant(maria, DEMO_REPOSITORY_ID)
    seed_forwarding(admin)
    seed_forwarding(admin)
    assert db.session.scalar(select(func.count()).select_from(ForwardTarget)) == 1
    assert db.session.scalar(select(func.count()).select_from(ForwardDelivery)) == 3
    browser.login("maria")
    target_id = db.session.scalar(select(ForwardTarget.id))
    page = browser.get(f"/forwarding/targets/{target_id}").get_data(as_text=True)
    assert DEMO_NAME in page and "deploys paused" not in page and "answered 503" in page
