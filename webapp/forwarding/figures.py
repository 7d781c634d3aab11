"""Forwarding figures for /status and /metrics: what waits, what is overdue, which targets are off."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from prometheus_client.core import Metric
from sqlalchemy import func, select

from webapp.core.metrics import gauge
from webapp.extensions import db
from webapp.forwarding.models import PENDING, ForwardDelivery, ForwardTarget
from webapp.forwarding.service import current_time

OVERDUE_AFTER = timedelta(minutes=5)


def figures() -> dict[str, int]:
    now = current_time()
    pending, overdue = db.session.execute(
        select(func.count(), func.count().filter(ForwardDelivery.next_attempt_at < now - OVERDUE_AFTER))
        .where(ForwardDelivery.status == PENDING)
    ).one()
    disabled = db.session.scalar(select(func.count()).where(ForwardTarget.active.is_(False))) or 0
    return {"pending": int(pending), "overdue": int(overdue), "disabled_targets": int(disabled)}


def status_check() -> dict[str, Any]:
    """Healthy while nothing due has waited more than 5 minutes (workers and sweep keep up)."""
    found = figures()
    return {"ok": found["overdue"] == 0, **found}


def collect() -> Iterable[Metric]:
    found = figures()
    yield gauge("gantry_forward_deliveries_pending", "Forward deliveries waiting to be sent", [],
                [([], found["pending"])])
    yield gauge("gantry_forward_deliveries_overdue", "Forward deliveries due more than 5 minutes ago", [],
                [([], found["overdue"])])
    yield gauge("gantry_forward_targets_disabled", "Forward targets disabled", [], [([], found["disabled_targets"])])
