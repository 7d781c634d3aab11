"""Processing stored deliveries: many per job, each exactly once.

Every stored delivery has a job of its own (the intake queues it), but the job that runs first
does not stop at its delivery. It locks its own row, then claims up to BATCH_SIZE - 1 more
`received` rows with `FOR UPDATE SKIP LOCKED`, runs their handlers (in one savepoint; when one
fails, again with a savepoint each, so a failing delivery rolls back alone and is recorded as
failed or retrying), and commits the batch once: the handlers' rows, the deliveries' statuses
and the jobs the handlers deferred. It goes on claiming batches while there are any, for up to
DRAIN_SECONDS, so a burst drains at the cost of one commit per batch rather than one job, one
lock and one commit per delivery.

Exactly once holds as before: a delivery's handlers run only while its row is locked and only
when its status is not final, and the status is committed with the handlers' work. The jobs of
deliveries processed in another job's batch are withdrawn once the batch commits (their job hash
is deleted while they still wait, and RQ skips an id without a hash); one that was already
running waits for the row lock, finds the delivery final and does nothing.

A handler is `fn(event) -> str | None` registered with `router.register_handler`; it never
commits. The processing job is retried by RQ when its own delivery fails (back-off intervals);
a delivery that failed in another job's batch keeps its own job, which tries it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from prometheus_client import Counter
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from sqlalchemy import Select, select

from webapp.core import jobs
from webapp.core.metrics import REGISTRY
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.webhooks.intake import job_id_for
from webapp.webhooks.models import FAILED, FINAL_STATUSES, HANDLED, IGNORED, RECEIVED, RETRYING, WebhookDelivery
from webapp.webhooks.router import WebhookEvent, handlers_for

log = logging.getLogger(__name__)

PROCESSED = Counter(
    "gantry_webhook_processed_total", "Webhook deliveries processed, by event and outcome", ["event", "status"],
    registry=REGISTRY,
)
BATCH_SIZE = 200  # deliveries per transaction
DRAIN_SECONDS = 5.0  # how long one job goes on claiming batches before it hands the worker back


CLAIMED = "claimed"  # what a job returns when another job's batch holds its delivery


class DeliveryFailed(Exception):
    """A handler failed; raised from the task so RQ retries it with back-off."""


@dataclass(frozen=True)
class _Outcome:
    """What processing one delivery came to, read before the commit expires the row."""

    pk: int
    delivery_id: str
    event: str
    status: str
    error: str | None = None


def process_delivery(pk: int) -> str:
    """Process delivery `pk` and, in the same job, whatever else is waiting; returns `pk`'s status.

    A delivery already handled, ignored or failed is left alone (re-processing resets it first).
    A handler's exception rolls back that delivery's handlers only, records the error and, for
    `pk` itself, raises DeliveryFailed after the batch commits, so the job is retried; after
    WEBHOOK_MAX_ATTEMPTS attempts it stays `failed`.

    A delivery whose row another job holds is in that job's batch: this job does not wait for
    it but helps with whatever else waits, and returns "claimed". (Should that job die, its row
    lock goes with it and the delivery, still `received`, is claimed by the next batch or queued
    again by the sweep.)
    """
    delivery = db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == pk).with_for_update(skip_locked=True))
    if delivery is None:
        exists = db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.id == pk))
        db.session.rollback()
        if exists is None:
            log.warning("webhook delivery row %s does not exist; nothing to process", pk)
            return "missing"
        drain(time.monotonic() + DRAIN_SECONDS)
        return CLAIMED
    if delivery.status in FINAL_STATUSES:
        status = delivery.status
        db.session.rollback()
        return status
    outcomes = _process_batch([delivery, *_claim(BATCH_SIZE - 1, excluding=pk)], own=pk)
    own = next(o for o in outcomes if o.pk == pk)
    if own.error is not None:
        raise DeliveryFailed(own.error)
    drain(time.monotonic() + DRAIN_SECONDS)
    return own.status


def drain(deadline: float) -> int:
    """Process batches of waiting deliveries until none wait or `deadline` (monotonic) passes; how many."""
    done = 0
    while time.monotonic() < deadline:
        batch = _claim(BATCH_SIZE)
        if not batch:
            db.session.rollback()
            break
        done += len(_process_batch(batch))
    return done


def _claim(limit: int, excluding: int | None = None) -> list[WebhookDelivery]:
    """Lock up to `limit` deliveries waiting for their first attempt, oldest first, skipping locked ones."""
    return list(db.session.scalars(claim_statement(limit, excluding)))


def claim_statement(limit: int, excluding: int | None = None) -> Select[tuple[WebhookDelivery]]:
    """The claim, answered from the partial index of waiting deliveries (ix_webhook_deliveries_waiting)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.status == RECEIVED)
    if excluding is not None:
        stmt = stmt.where(WebhookDelivery.id != excluding)
    return stmt.order_by(WebhookDelivery.id).limit(limit).with_for_update(skip_locked=True)


def _process_batch(batch: list[WebhookDelivery], own: int | None = None) -> list[_Outcome]:
    """The batch's handlers, one commit for all; then metrics and the others' jobs withdrawn.

    All deliveries run in one savepoint first. When a handler fails, that savepoint is rolled
    back (the row locks taken before it stay) and the batch runs again with a savepoint per
    delivery, so the failing one fails alone. Handlers are idempotent, so running the others
    twice is safe; failures are rare, so most batches pay for one savepoint, not one each.

    Deliveries about the same object (a workflow job's queued, in_progress and completed) lock
    that object's rows: every batch takes them in the order of the object's id, so two workers'
    batches wait for each other at most, never in a circle.
    """
    ordered = sorted(batch, key=_lock_order)
    outcomes = _all_together(ordered)
    if outcomes is None:
        outcomes = [_one_alone(delivery) for delivery in ordered]
    db.session.commit()  # the statuses, the handlers' rows, and the jobs the handlers deferred
    for outcome in outcomes:
        PROCESSED.labels(outcome.event, outcome.status).inc()
    _withdraw_jobs([o.delivery_id for o in outcomes if o.pk != own and o.status in FINAL_STATUSES])
    return outcomes


def _lock_order(delivery: WebhookDelivery) -> tuple[str, int, int]:
    about = delivery.payload.get(delivery.event) if isinstance(delivery.payload, dict) else None
    object_id = about.get("id") if isinstance(about, dict) else None
    return delivery.event, object_id if isinstance(object_id, int) else 0, delivery.id


class _HandlerFailed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _all_together(deliveries: list[WebhookDelivery]) -> list[_Outcome] | None:
    """Every delivery's handlers in one savepoint; None (and nothing done) when one failed."""
    savepoint = db.session.begin_nested()
    try:
        results = [_run_handlers(delivery) for delivery in deliveries]
    except _HandlerFailed:
        savepoint.rollback()
        return None
    savepoint.commit()
    return [_handled(delivery, ran) for delivery, ran in zip(deliveries, results, strict=True)]


def _one_alone(delivery: WebhookDelivery) -> _Outcome:
    """One delivery's handlers in a savepoint of its own: a failure rolls back its work only."""
    savepoint = db.session.begin_nested()
    try:
        ran = _run_handlers(delivery)
    except _HandlerFailed as failed:
        savepoint.rollback()  # this delivery's handlers' work, and the jobs they deferred
        status = _record_failure(delivery, failed.error)
        log.warning("webhook delivery %s (%s) failed: %s; now %s", delivery.delivery_id, delivery.event,
                    failed.error, status)
        return _Outcome(delivery.id, delivery.delivery_id, delivery.event, status, failed.error)
    savepoint.commit()
    return _handled(delivery, ran)


def _run_handlers(delivery: WebhookDelivery) -> dict[str, Any] | None:
    """Each handler's result by name (None: no handler listens); raises _HandlerFailed naming the one that failed."""
    handlers = handlers_for(delivery.event, delivery.action)
    if not handlers:
        return None
    event = _event_for(delivery)
    results: dict[str, Any] = {}
    current = ""
    try:
        for name, handler in handlers:
            current = name
            results[name] = _result_value(handler(event))
            db.session.flush()  # a handler's constraint error is reported as that handler's
    except Exception as exc:
        raise _HandlerFailed(f"{current}: {type(exc).__name__}: {exc}") from exc
    return results


def _handled(delivery: WebhookDelivery, results: dict[str, Any] | None) -> _Outcome:
    delivery.status = IGNORED if results is None else HANDLED
    delivery.result = {"handlers": results or {}}
    delivery.error = None
    delivery.attempts += 1
    delivery.processed_at = utcnow()
    return _Outcome(delivery.id, delivery.delivery_id, delivery.event, delivery.status)


def _record_failure(delivery: WebhookDelivery, error: str) -> str:
    delivery.attempts += 1
    delivery.error = error[:4000]
    delivery.result = None
    if delivery.attempts >= int(current_app.config["WEBHOOK_MAX_ATTEMPTS"]):
        delivery.status = FAILED
        delivery.processed_at = utcnow()
    else:
        delivery.status = RETRYING
    return delivery.status


def _withdraw_jobs(delivery_ids: list[str]) -> None:
    """Delete the waiting jobs of deliveries another job processed (best effort: a job left runs and does nothing)."""
    if not delivery_ids:
        return
    keys = [Job.key_for(job_id_for(delivery_id)) for delivery_id in delivery_ids]
    try:
        connection = jobs.redis_connection()
        pipeline = connection.pipeline(transaction=False)
        for key in keys:
            pipeline.hget(key, "status")
        statuses = pipeline.execute()
        waiting = [key for key, status in zip(keys, statuses, strict=True)
                   if status is not None and status.decode() == JobStatus.QUEUED.value]
        if waiting:
            connection.delete(*waiting)
    except RedisError:
        log.info("could not withdraw %d processed deliveries' jobs; each will find its delivery done", len(keys))


def _event_for(delivery: WebhookDelivery) -> WebhookEvent:
    return WebhookEvent(
        delivery_pk=delivery.id,
        delivery_id=delivery.delivery_id,
        event=delivery.event,
        action=delivery.action,
        payload=delivery.payload,
        installation_id=delivery.installation_id,
        repository_id=delivery.repository_id,
        received_at=delivery.received_at,
        hook_id=delivery.hook_id,
    )


def _result_value(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
