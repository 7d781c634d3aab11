"""The outbox: a row per matching target written with the webhook's processing, queued by its
commit, swept when due, re-sent on request, purged after the retention period; and its log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import selectinload

from webapp.auth.principal import Actor, Who
from webapp.core import audit
from webapp.core.errors import Conflict
from webapp.core.pagination import Page, keyset_page
from webapp.core.txcache import once_per_transaction
from webapp.extensions import db
from webapp.forwarding import filters, service
from webapp.forwarding.models import FAILED, PENDING, ForwardDelivery, ForwardTarget
from webapp.repos.access import get_visible_or_404
from webapp.webhooks.router import WebhookEvent

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


# --- intake: one outbox row per matching target ----------------------------------------------


def on_event(event: WebhookEvent) -> str | None:
    """Router handler for every event: store a delivery for each target whose filters match.

    Runs inside the processing transaction (never commits); the sends are enqueued after it
    commits. A redelivery finds its rows already there and adds nothing.
    """
    targets = [t for t in once_per_transaction("forwarding.targets", _targets)
               if filters.wants(t, event.event, event.action, event.repository_id, event.payload)]
    if not targets:
        return None
    existing = set(db.session.scalars(
        select(ForwardDelivery.target_id).where(ForwardDelivery.github_delivery_id == event.delivery_id)
    ))
    now = service.current_time()
    created: list[ForwardDelivery] = []
    for target in targets:
        if target.id in existing:
            continue
        delivery = ForwardDelivery(
            message_id=f"msg_{event.delivery_id}_{target.id}"[:64],
            target_id=target.id,
            github_delivery_id=event.delivery_id,
            webhook_delivery_pk=event.delivery_pk,
            event=event.event,
            action=event.action,
            repository_id=event.repository_id,
            repository_full_name=event.repository_full_name,
            received_at=event.received_at,
            payload=event.payload,
            created_at=now,
        )
        if target.active:
            delivery.status, delivery.next_attempt_at = PENDING, now
        else:  # kept for "recover all failed since" once the target is enabled again
            delivery.status, delivery.last_error = FAILED, f"target disabled: {target.disabled_reason or 'inactive'}"
        db.session.add(delivery)
        created.append(delivery)
    db.session.flush()
    due = {d.target_id for d in created if d.status == PENDING}
    service.defer_sends(due)
    return f"forwarded to {len(created)} target(s)" if created else None


@dataclass(frozen=True)
class _Target:
    """What on_event needs of a target, read once per processing transaction (a batch of deliveries)."""

    id: int
    active: bool
    disabled_reason: str | None
    events: list[str]
    branch_patterns: list[str]
    tag_patterns: list[str]
    repository_ids: list[int]


def _targets() -> list[_Target]:
    return [
        _Target(t.id, t.active, t.disabled_reason, list(t.events or []), list(t.branch_patterns or []),
                list(t.tag_patterns or []), t.repository_ids)
        for t in db.session.scalars(select(ForwardTarget).options(selectinload(ForwardTarget.repositories)))
    ]


# --- sweep, resend, purge ------------------------------------------------------------------


def sweep_due(limit: int = SWEEP_BATCH) -> int:
    """Queue a send for every target with a delivery whose due time has come (retries, lapsed
    claims, jobs lost with Redis); returns how many targets were queued."""
    now = service.current_time()
    due = set(db.session.scalars(
        select(ForwardDelivery.target_id)
        .where(ForwardDelivery.status == PENDING, ForwardDelivery.next_attempt_at <= now)
        .group_by(ForwardDelivery.target_id)
        .limit(limit)
    ))
    queued = service.defer_sends(due)
    db.session.commit()
    return queued


def resend(who: Who, delivery_id: int, *, actor: Actor) -> ForwardDelivery:
    """Send one delivery again now, whatever its state, starting the retry schedule afresh."""
    delivery = get_delivery(who, delivery_id)
    if not delivery.target.active:
        raise Conflict("Enable the target before re-sending to it.", code="target_disabled")
    delivery.status, delivery.retry_index = PENDING, 0
    delivery.next_attempt_at = service.current_time()
    audit.record("forwarding.delivery.resent", "forward_delivery", delivery.id, actor=actor,
                 details={"target_id": delivery.target_id})
    service.defer_sends([delivery.target_id])
    db.session.commit()
    return delivery


def finished_before(cutoff: datetime) -> ColumnElement[bool]:
    """Deliveries done with (succeeded, or failed for good) and created before `cutoff`: what
    retention may delete. A pending one, still to be sent or retried, is never among them."""
    return and_(ForwardDelivery.created_at < cutoff, ForwardDelivery.status != PENDING)


# --- the delivery log ----------------------------------------------------------------------


def get_delivery(who: Who, delivery_id: int) -> ForwardDelivery:
    """The delivery, or 404 when it does not exist or its target is not visible to `who`."""
    return get_visible_or_404(who, ForwardDelivery, delivery_id, "Forward delivery", visible=lambda delivery: (
        db.session.scalar(service.visible_targets(who).where(ForwardTarget.id == delivery.target_id)) is not None))


def page_deliveries(who: Who, target_id: int, *, status: str | None, cursor: str | None,
                    limit: int) -> Page[ForwardDelivery]:
    target = service.get_target(who, target_id)
    stmt = select(ForwardDelivery).where(ForwardDelivery.target_id == target.id)
    if status:
        stmt = stmt.where(ForwardDelivery.status == status)
    return keyset_page(stmt, [ForwardDelivery.id], cursor, limit)
