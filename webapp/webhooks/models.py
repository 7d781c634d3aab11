"""Stored GitHub deliveries, and what Gantry asked GitHub to redeliver.

A delivery row is written before GitHub gets its 202, so the queue only ever carries its id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

# BIGINT on PostgreSQL; SQLite only auto-increments a column typed INTEGER.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

RECEIVED = "received"  # stored, waiting for a worker
RETRYING = "retrying"  # a handler failed; a retry is scheduled
HANDLED = "handled"  # at least one handler ran and the transaction committed
IGNORED = "ignored"  # no capability handles this event
FAILED = "failed"  # every attempt failed; `error` says why
STATUSES = (RECEIVED, RETRYING, HANDLED, IGNORED, FAILED)
PENDING_STATUSES = (RECEIVED, RETRYING)
FINAL_STATUSES = (HANDLED, IGNORED, FAILED)


class WebhookDelivery(db.Model):  # type: ignore[name-defined]
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_received_at", "status", "received_at"),
        # What processing claims, oldest first. Partial, so a claim reads the deliveries still waiting
        # and not every row once updated: an index scan skips entries whose rows are dead, where the
        # status index above made a claim read 5,000 heap pages after 20 minutes at 100/s (bench/soak.py).
        Index("ix_webhook_deliveries_waiting", "id", postgresql_where=text("status = 'received'"),
              sqlite_where=text("status = 'received'")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)  # X-GitHub-Delivery (a GUID)
    event: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str | None] = mapped_column(String(100))
    hook_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    # No foreign key: a delivery may name a repository Gantry has not mirrored (yet).
    repository_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    repository_full_name: Mapped[str | None] = mapped_column(String(400))
    verified_with: Mapped[str] = mapped_column(String(10), default="app")  # "app" or "hook" secret
    # json, not jsonb: the text GitHub sent, never queried inside (migration 0010)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set when retention emptied the payload of a handled delivery (the row stays for the log).
    payload_purged_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=RECEIVED)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATUSES


ASK_PENDING = "pending"  # to be asked for (new, or the last redelivery failed too)
ASK_REQUESTED = "requested"  # GitHub accepted the request to redeliver
ASK_ERROR = "error"  # GitHub refused the request; asked again next run
ASK_DELIVERED = "delivered"  # Gantry has stored the delivery since
ASK_GAVE_UP = "gave_up"  # WEBHOOK_REDELIVERY_MAX_ATTEMPTS used up
ASK_STATUSES = (ASK_PENDING, ASK_REQUESTED, ASK_ERROR, ASK_DELIVERED, ASK_GAVE_UP)


class RedeliveryRequest(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A delivery GitHub failed to make that Gantry asked it to try again (one row per GUID)."""

    __tablename__ = "webhook_redelivery_requests"

    guid: Mapped[str] = mapped_column(String(100), primary_key=True)
    log_id: Mapped[int] = mapped_column(BigInteger)  # id in GitHub's delivery log last asked for
    event: Mapped[str] = mapped_column(String(100))
    action: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=ASK_PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_requested_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)  # why GitHub refused the last request, if it did


class RedeliveryCheckpoint(db.Model):  # type: ignore[name-defined]
    """How far back GitHub's delivery log has been read, so the next run stops there."""

    __tablename__ = "webhook_redelivery_checkpoints"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_log_id: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
