"""A worker killed in the middle of a delivery: nothing half-done, processed exactly once in the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.webhooks.conftest import TEST_EVENT
from webapp.config import PROJECT_ROOT
from webapp.core import audit, jobs
from webapp.core.audit import AuditEvent
from webapp.webhooks import service
from webapp.webhooks.intake import job_id_for
from webapp.webhooks.models import WebhookDelivery


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def handled_rows(db) -> list[str | None]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.target_id).where(AuditEvent.action == "test.handled")))


@pytest.mark.slow
def test_killed_worker_leaves_nothing_and_the_delivery_is_processed_exactly_once(app, db, deliver, handlers,
                                                                                  run_jobs, tmp_path):
    row = deliver()
    marker = tmp_path / "inside-handler"
    env = {**os.environ, "TEST_DATABASE_URL": TEST_DATABASE_URL, "TEST_REDIS_URL": TEST_REDIS_URL,
           "GANTRY_ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]),
           "GITHUB_WEBHOOK_SECRET": DEFAULT_WEBHOOK_SECRET, "BLOCKING_MARKER": str(marker)}
    worker = subprocess.Popen([sys.executable, "-m", "tests.webhooks.blocking_worker"], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: marker.exists() or worker.poll() is not None, 30, "the worker to enter the handler")
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        assert jobs.job_status(job_id_for(row.delivery_id)) == "started"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        if worker.stderr:
            worker.stderr.close()

    # The handler's row died with the transaction; the delivery still waits to be processed.
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, row.id).status == "received"
    assert handled_rows(db) == []
    # Redis still believes the dead worker runs the job; the sweep sees nobody holds the row.
    assert jobs.job_status(job_id_for(row.delivery_id)) == "started"

    calls = []

    def count(event):
        calls.append(event.delivery_id)
        audit.record("test.handled", "webhook_delivery", event.delivery_pk, details={"by": "test worker"})
        return "done"

    handlers(TEST_EVENT, count, name="tests.count")
    # PostgreSQL ends the killed session's transaction as soon as it sees the socket close.
    queued: list[int] = []
    def swept_once_more() -> bool:
        queued.append(service.enqueue_pending(older_than=0))
        return queued[-1] == 1

    wait_for(swept_once_more, 10, "the sweep to queue the delivery again")
    run_jobs()
    assert service.enqueue_pending(older_than=0) == 0
    run_jobs()

    db.session.expire_all()
    final = db.session.get(WebhookDelivery, row.id)
    assert (final.status, final.attempts, final.result) == ("handled", 1, {"handlers": {"tests.count": "done"}})
    assert calls == [row.delivery_id]
    assert handled_rows(db) == [str(row.id)]
