"""Processing a stored delivery: handlers in one transaction, results, retries, idempotency, the sweep."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from rq.job import Job

from tasks.webhooks import process_delivery, sweep_pending_deliveries
from tests.webhooks.conftest import TEST_EVENT
from webapp.core import audit, jobs
from webapp.core.audit import AuditEvent
from webapp.core.jobs import after_commit
from webapp.webhooks import service
from webapp.webhooks.intake import JOB_RESULT_TTL, job_id_for
from webapp.webhooks.models import WebhookDelivery
from webapp.webhooks.processing import DeliveryFailed


def audit_actions(db, action):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.target_id).where(AuditEvent.action == action)))


def reload(db, row):
    db.session.expire_all()
    return db.session.get(WebhookDelivery, row.id)


def test_handlers_run_once_and_their_results_are_stored(db, run_jobs, handlers, deliver):
    calls: list[Any] = []
    committed_when_called = []

    def first(event):
        calls.append(("first", event.delivery_id, event.action, event.payload["action"]))
        audit.record("test.handled", "webhook_delivery", event.delivery_pk)
        after_commit(lambda: committed_when_called.append(audit_actions(db, "test.handled")))
        return "launched runner 7"

    def second(event):
        calls.append(("second", event.delivery_id, event.action, event.payload["action"]))
        return None

    handlers(TEST_EVENT, first, name="tests.first")
    handlers(TEST_EVENT, second, name="tests.second", actions={"poked"})
    handlers(TEST_EVENT, lambda e: calls.append("never"), name="tests.other_action", actions={"other"})
    row = deliver()

    run_jobs()

    row = reload(db, row)
    assert row.status == "handled" and row.error is None and row.attempts == 1
    assert row.result == {"handlers": {"tests.first": "launched runner 7", "tests.second": None}}
    assert calls == [("first", row.delivery_id, "poked", "poked"), ("second", row.delivery_id, "poked", "poked")]
    assert committed_when_called == [[str(row.id)]]  # after_commit ran once, after the commit

    assert process_delivery(row.id) == "handled"  # a second job for the same delivery does nothing
    assert len(calls) == 2
    assert audit_actions(db, "test.handled") == [str(row.id)]


def test_event_without_handler_is_ignored(db, run_jobs, deliver, handlers):
    row = deliver(event="gantry_nobody_listens")

    run_jobs()

    row = reload(db, row)
    assert (row.status, row.error, row.result) == ("ignored", None, {"handlers": {}})


def test_failing_handler_rolls_back_everything_retries_then_fails(app, db, handlers, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 3)
    seen_after_commit = []

    def writes(event):
        audit.record("test.handled", "webhook_delivery", event.delivery_pk)
        after_commit(lambda: seen_after_commit.append(event.delivery_id))
        return "wrote"

    def breaks(event):
        raise RuntimeError("ECS said no")

    handlers(TEST_EVENT, writes, name="tests.writes")
    handlers(TEST_EVENT, breaks, name="tests.breaks")
    row = deliver()

    for attempt in (1, 2):
        with pytest.raises(DeliveryFailed, match=r"tests\.breaks: RuntimeError: ECS said no"):
            process_delivery(row.id)
        current = reload(db, row)
        assert (current.status, current.attempts) == ("retrying", attempt)
        assert current.error == "tests.breaks: RuntimeError: ECS said no"
    with pytest.raises(DeliveryFailed):
        process_delivery(row.id)

    row = reload(db, row)
    assert (row.status, row.attempts, row.result) == ("failed", 3, None)
    assert row.processed_at is not None
    assert audit_actions(db, "test.handled") == []  # the other handler's work was rolled back each time
    assert seen_after_commit == []
    assert process_delivery(row.id) == "failed"  # final: RQ's leftover retries do nothing


def test_one_job_processes_every_waiting_delivery_in_one_transaction(db, run_jobs, handlers, deliver):
    seen = []

    def note(event):
        seen.append(event.delivery_id)
        return "ok"

    handlers(TEST_EVENT, note, name="tests.ok")
    rows = [deliver() for _ in range(5)]
    commits = []

    def count_commit(connection):
        commits.append(connection)

    sa.event.listen(db.engine, "commit", count_commit)
    try:
        assert process_delivery(rows[2].id) == "handled"
    finally:
        sa.event.remove(db.engine, "commit", count_commit)
    assert len(commits) == 1
    assert seen == [r.delivery_id for r in rows]  # all five, in the order they were stored
    for row in rows:
        current = reload(db, row)
        assert (current.status, current.attempts, current.error) == ("handled", 1, None)
    # Its own job is running; the others' waiting jobs were withdrawn once the batch committed.
    assert [jobs.job_status(job_id_for(r.delivery_id)) for r in rows if r is not rows[2]] == [None] * 4
    assert run_jobs() == 1  # rows[2]'s own job finds its delivery handled; the withdrawn ids are skipped
    assert len(seen) == 5


def test_a_failing_delivery_fails_alone_in_its_batch(app, db, run_jobs, handlers, deliver):
    written = []

    def picky(event):
        audit.record("test.handled", "webhook_delivery", event.delivery_pk)
        after_commit(lambda: written.append(event.delivery_id))
        if event.payload.get("bad"):
            raise RuntimeError("bad payload")
        return "ok"

    handlers(TEST_EVENT, picky, name="tests.picky")
    good, bad, also_good = deliver(), deliver({"action": "poked", "bad": True}), deliver()

    assert process_delivery(good.id) == "handled"

    assert (reload(db, good).status, reload(db, also_good).status) == ("handled", "handled")
    failed = reload(db, bad)
    assert (failed.status, failed.attempts, failed.error) == ("retrying", 1, "tests.picky: RuntimeError: bad payload")
    assert sorted(audit_actions(db, "test.handled")) == sorted([str(good.id), str(also_good.id)])
    assert sorted(written) == sorted([good.delivery_id, also_good.delivery_id])  # not the failed one's
    assert jobs.job_status(job_id_for(bad.delivery_id)) == "queued"  # its own job tries it again
    with pytest.raises(DeliveryFailed):
        process_delivery(bad.id)
    assert reload(db, bad).attempts == 2


def test_a_claim_reads_the_index_of_waiting_deliveries_only(db):
    from sqlalchemy.dialects import postgresql

    from webapp.webhooks.processing import claim_statement

    sql = claim_statement(200, excluding=7).compile(dialect=postgresql.dialect(),
                                                    compile_kwargs={"literal_binds": True})
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # an empty table: make the planner choose
    plan = "\n".join(db.session.execute(sa.text(f"EXPLAIN {sql}")).scalars())
    db.session.rollback()
    # Not the (status, received_at) index, whose scans visit every once-waiting row until vacuum.
    assert "ix_webhook_deliveries_waiting" in plan, plan


def test_a_delivery_another_worker_holds_is_left_to_it(db, handlers, deliver):
    handlers(TEST_EVENT, lambda e: "ok", name="tests.ok")
    mine, held = deliver(), deliver()
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": held.id})
        # Its own delivery is in another job's batch: the job does not wait, it helps with the rest.
        assert process_delivery(held.id) == "claimed"
        assert reload(db, mine).status == "handled"
        other.rollback()
    assert reload(db, held).status == "received"
    assert jobs.job_status(job_id_for(held.delivery_id)) == "queued"
    assert process_delivery(held.id) == "handled"


def test_failed_job_is_retried_by_rq_with_back_off(app, db, run_jobs, handlers, deliver):
    def breaks(event):
        raise ValueError("not yet")

    handlers(TEST_EVENT, breaks, name="tests.breaks")
    row = deliver()

    run_jobs()

    assert reload(db, row).status == "retrying"
    assert jobs.job_status(job_id_for(row.delivery_id)) == "scheduled"  # RQ retries it after a back-off
    assert service.enqueue_pending(older_than=0) == 0  # the sweep leaves a scheduled retry alone


def test_a_finished_processing_job_stays_a_minute_its_row_is_the_record(db, run_jobs, handlers, deliver, make_user):
    handlers(TEST_EVENT, lambda event: "ok", name="tests.ok")
    row = deliver()
    job_id = job_id_for(row.delivery_id)
    assert jobs.job_status(job_id) == "queued"

    def finished_for() -> int:
        assert jobs.job_status(job_id) == "finished"
        ttl: int = jobs.redis_connection().ttl(Job.key_for(job_id))  # type: ignore[assignment]  # sync client
        return ttl

    run_jobs()
    assert reload(db, row).status == "handled"
    assert 0 < finished_for() <= JOB_RESULT_TTL < jobs.RESULT_TTL  # other jobs stay five minutes

    admin = make_user("admin")
    service.reprocess(admin, row.id, actor=admin)  # queued again, by defer, under the same id
    assert jobs.job_status(job_id) == "queued"
    run_jobs()
    assert reload(db, row).status == "handled" and 0 < finished_for() <= JOB_RESULT_TTL


def test_reprocess_runs_a_final_delivery_again(db, run_jobs, handlers, deliver, make_user):
    calls = []

    def count(event):
        calls.append(event.delivery_id)
        return "ok"

    handlers(TEST_EVENT, count, name="tests.count")
    row = deliver()
    run_jobs()
    admin = make_user("admin")

    service.reprocess(admin, row.id, actor=admin)
    assert reload(db, row).status == "received"
    run_jobs()

    row = reload(db, row)
    assert (row.status, row.attempts) == ("handled", 1)
    assert calls == [row.delivery_id, row.delivery_id]
    assert audit_actions(db, "webhook.reprocess") == [str(row.id)]


def test_sweep_queues_only_old_unprocessed_deliveries(app, db, run_jobs, deliver, monkeypatch, handlers):
    handlers(TEST_EVENT, lambda e: "ok", name="tests.ok")
    stuck = deliver()
    done = deliver()
    run_jobs()
    # `stuck` was stored while Redis was away: its job never existed.
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == stuck.id).values(status="received",
                                                                                                  attempts=0))
    db.session.commit()
    jobs.redis_connection().delete(f"rq:job:{job_id_for(stuck.delivery_id)}")

    monkeypatch.setitem(app.config, "WEBHOOK_SWEEP_AFTER_SECONDS", 3600)
    assert sweep_pending_deliveries() == 0  # younger than the threshold
    monkeypatch.setitem(app.config, "WEBHOOK_SWEEP_AFTER_SECONDS", 0)
    assert sweep_pending_deliveries() == 1
    run_jobs()

    assert reload(db, stuck).status == "handled"
    assert reload(db, done).attempts == 1
    assert sweep_pending_deliveries() == 0


def test_sweep_skips_a_delivery_a_worker_is_processing(app, db, deliver, handlers):
    row = deliver()
    jobs.redis_connection().delete(f"rq:job:{job_id_for(row.delivery_id)}")
    # Another worker holds the row's lock while its handlers run.
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": row.id})
        assert service.enqueue_pending(older_than=0) == 0
        other.rollback()
    assert service.enqueue_pending(older_than=0) == 1


def test_periodic_jobs_are_declared():
    from webapp.schedule import PERIODIC_JOBS

    names = {job.name for job in PERIODIC_JOBS}
    assert {"webhooks.sweep", "webhooks.redeliver"} <= names
