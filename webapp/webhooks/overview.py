"""The overview page's webhook figures: deliveries that failed lately and those waiting for a retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import url_for
from sqlalchemy import func, select

from webapp.auth.principal import Who
from webapp.core.models import utcnow
from webapp.core.overview import Card, daily_trend
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.webhooks.models import FAILED, RETRYING, WebhookDelivery

FAILED_WINDOW = timedelta(hours=24)


def overview_cards(principal: Who) -> list[Card]:
    """Failed deliveries of the last 24 hours and deliveries retrying, as the delivery log shows them."""

    def count(*conditions: Any) -> int:
        stmt = select(func.count()).select_from(WebhookDelivery).where(*conditions)
        return int(db.session.scalar(restrict_to_visible(stmt, WebhookDelivery.repository_id, principal)) or 0)

    # both read the (status, received_at) index
    failed = count(WebhookDelivery.status == FAILED, WebhookDelivery.received_at >= utcnow() - FAILED_WINDOW)
    retrying = count(WebhookDelivery.status == RETRYING)
    return [
        Card("Failed (24 h)", str(failed), url_for("webhooks.deliveries", status=FAILED),
             "deliveries every attempt failed", "failed" if failed else "ok",
             trend=daily_trend("webhooks-failed", principal, WebhookDelivery.received_at,
                               lambda stmt: restrict_to_visible(
                 stmt.where(WebhookDelivery.status == FAILED), WebhookDelivery.repository_id, principal)),
             trend_label="failed deliveries per day"),
        Card("Retrying", str(retrying), url_for("webhooks.deliveries", status=RETRYING),
             "deliveries whose handler failed once", "warn" if retrying else "neutral"),
    ]
