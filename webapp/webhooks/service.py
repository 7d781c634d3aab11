"""The sweep that never lets a stored delivery wait forever, and the delivery log.

Processing itself is in `processing.py`: a worker killed mid-way leaves its deliveries
`received` and nothing half-done, and the sweep queues them again.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Select, func, select

from webapp.auth.principal import Actor, Who
from webapp.core import audit, jobs
from webapp.core.errors import Conflict
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.repos.access import get_visible_or_404, restrict_to_visible
from webapp.webhooks.intake import JOB_RESULT_TTL, job_id_for
from webapp.webhooks.models import (
    PENDING_STATUSES,
    RECEIVED,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

WAITING_JOB_STATES = {"queued", "scheduled", "deferred"}
MAX_ID = 2**63 - 1  # BIGINT: a larger id in a URL or filter matches nothing


# --- the sweep -----------------------------------------------------------------------------


SWEEP_CHUNK = 200  # rows locked, checked and queued per transaction


def enqueue_pending(older_than: int | None = None, limit: int = 500) -> int:
    """Queue deliveries stored but not processed (Redis was down, a worker died); returns how many.

    Rows being processed right now are locked by their worker and skipped. A job still waiting in
    Redis is left to run. A job that Redis calls "started" while nobody holds the row's lock
    belonged to a worker that died: a new job is queued under a fresh id, and the row lock makes
    sure the delivery's handlers still commit only once. Rows are taken SWEEP_CHUNK at a time,
    each chunk in its own transaction with one Redis round trip for its jobs' states, so a large
    backlog (everything that arrived while Redis was down) is not held locked from the workers
    while the whole of it is queued.
    """
    seconds = int(current_app.config["WEBHOOK_SWEEP_AFTER_SECONDS"] if older_than is None else older_than)
    cutoff = utcnow() - timedelta(seconds=seconds)
    queued = examined = last_id = 0
    while examined < limit:
        rows = db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.delivery_id)
            .where(WebhookDelivery.status.in_(PENDING_STATUSES), WebhookDelivery.received_at <= cutoff,
                   WebhookDelivery.id > last_id)
            .order_by(WebhookDelivery.id)
            .limit(min(SWEEP_CHUNK, limit - examined))
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            break
        examined += len(rows)
        last_id = rows[-1].id
        try:
            states = jobs.job_statuses([job_id_for(delivery_id) for _, delivery_id in rows])
        except RedisError:
            db.session.commit()  # release this chunk's row locks
            log.warning("webhook sweep could not reach Redis; the next sweep tries again")
            break
        for pk, delivery_id in rows:
            state = states[job_id_for(delivery_id)]
            if state in WAITING_JOB_STATES:
                continue
            job_id = None
            if state == "started":
                job_id = f"{job_id_for(delivery_id)}-recovered-{int(time.time())}"
            _defer_processing(pk, delivery_id, job_id=job_id)
            queued += 1
        db.session.commit()  # release this chunk's row locks and queue its jobs
    if queued:
        log.info("webhook sweep queued %d stored deliveries", queued)
    return queued


# --- the delivery log ----------------------------------------------------------------------


def _visible(who: Who) -> Select[Any]:
    return restrict_to_visible(select(WebhookDelivery), WebhookDelivery.repository_id, who)


def list_deliveries(
    who: Who,
    *,
    cursor: str | None = None,
    limit: int = 50,
    event: str | None = None,
    action: str | None = None,
    status: str | None = None,
    repository: str | None = None,
) -> Page[WebhookDelivery]:
    """Newest deliveries first, only of repositories `who` may see (admins: all, and app-level ones)."""
    stmt = _visible(who)
    if event:
        stmt = stmt.where(WebhookDelivery.event == event)
    if action:
        stmt = stmt.where(WebhookDelivery.action == action)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if repository:
        if repository.isdigit() and int(repository) <= MAX_ID:
            stmt = stmt.where(WebhookDelivery.repository_id == int(repository))
        else:
            stmt = stmt.where(func.lower(WebhookDelivery.repository_full_name) == repository.strip().lower())
    return keyset_page(stmt, [WebhookDelivery.id], cursor, limit)


def get_delivery(who: Who, pk: int) -> WebhookDelivery:
    """One delivery, or 404 — the same for one that does not exist and one `who` may not see."""
    return get_visible_or_404(who, WebhookDelivery, pk, "Webhook delivery")


def reprocess(who: Who, pk: int, *, actor: Actor) -> WebhookDelivery:
    """Run a delivery's handlers again (after a fix, or to replay it); audited."""
    delivery = get_delivery(who, pk)
    if delivery.payload_purged_at is not None:
        raise Conflict("This delivery's payload was removed by retention, so it cannot be processed again.",
                       code="payload_purged")
    previous = delivery.status
    delivery.status = RECEIVED
    delivery.attempts = 0
    delivery.error = None
    delivery.result = None
    delivery.processed_at = None
    audit.record("webhook.reprocess", "webhook_delivery", delivery.id, actor=actor,
                 details={"delivery_id": delivery.delivery_id, "event": delivery.event, "previous_status": previous})
    _defer_processing(delivery.id, delivery.delivery_id)
    db.session.commit()
    return delivery


def _defer_processing(pk: int, delivery_id: str, job_id: str | None = None) -> None:
    """Process the delivery once this transaction commits (Redis away: the next sweep queues it)."""
    jobs.defer("tasks.webhooks.process_delivery", pk, job_id=job_id or job_id_for(delivery_id), queue="high",
               result_ttl=JOB_RESULT_TTL)


def status_counts() -> dict[str, int]:
    rows = db.session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all()
    return {status: count for status, count in rows}


def oldest_pending_age() -> float | None:
    """Seconds the oldest unprocessed delivery has waited, or None when none waits."""
    oldest = db.session.scalar(
        select(func.min(WebhookDelivery.received_at)).where(WebhookDelivery.status.in_(PENDING_STATUSES))
    )
    if oldest is None:
        return None
    return max((utcnow() - oldest).total_seconds(), 0.0)
