"""Forward targets, the outbox of deliveries to them, and the log of every attempt.

A delivery row is written in the same transaction as the webhook's processing result; its
`next_attempt_at` is the due time that the send task and the sweep both work from, so the queue
only ever carries ids and losing Redis loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.crypto import EncryptedText
from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)


class ForwardTarget(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A downstream receiver (a deployment platform) and which events it wants."""

    __tablename__ = "forward_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(EncryptedText())
    # After a rotation the old secret keeps signing too, so receivers can switch without a gap.
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText())
    previous_secret_expires_at: Mapped[datetime | None]
    # "push", "release.published" or "*"; empty means every event.
    events: Mapped[list[Any]] = mapped_column(default=list)
    branch_patterns: Mapped[list[Any]] = mapped_column(default=list)
    tag_patterns: Mapped[list[Any]] = mapped_column(default=list)
    github_signature: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(1000))
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # first failure with no success since
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    owner = relationship("User")
    repositories: Mapped[list[ForwardTargetRepository]] = relationship(
        cascade="all, delete-orphan", back_populates="target"
    )

    @property
    def repository_ids(self) -> list[int]:
        return sorted(r.repository_id for r in self.repositories)


class ForwardTargetRepository(db.Model):  # type: ignore[name-defined]
    """A repository a target is limited to (a target without any gets every repository)."""

    __tablename__ = "forward_target_repositories"

    target_id: Mapped[int] = mapped_column(ForeignKey("forward_targets.id", ondelete="CASCADE"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)

    target: Mapped[ForwardTarget] = relationship(back_populates="repositories")


class ForwardDelivery(db.Model):  # type: ignore[name-defined]
    """One event to send to one target (the outbox row), with its retry state."""

    __tablename__ = "forward_deliveries"
    __table_args__ = (
        UniqueConstraint("target_id", "github_delivery_id", name="uq_forward_deliveries_target_delivery"),
        Index("ix_forward_deliveries_due", "status", "next_attempt_at"),
        Index("ix_forward_deliveries_target_created", "target_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # webhook-id: the same on every attempt
    target_id: Mapped[int] = mapped_column(ForeignKey("forward_targets.id", ondelete="CASCADE"))
    github_delivery_id: Mapped[str] = mapped_column(String(100))
    webhook_delivery_pk: Mapped[int | None] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(100))
    action: Mapped[str | None] = mapped_column(String(100))
    repository_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    repository_full_name: Mapped[str | None] = mapped_column(String(400))
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempt_count: Mapped[int] = mapped_column(default=0)
    retry_index: Mapped[int] = mapped_column(default=0)  # position in the retry schedule
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    succeeded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    target: Mapped[ForwardTarget] = relationship()
    attempts: Mapped[list[ForwardAttempt]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ForwardAttempt.number",
        back_populates="delivery",
    )


class ForwardAttempt(db.Model):  # type: ignore[name-defined]
    """One try at sending a delivery: what was sent, what came back, how long it took."""

    __tablename__ = "forward_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("forward_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    started_at: Mapped[datetime]
    url: Mapped[str] = mapped_column(String(2000))
    address: Mapped[str | None] = mapped_column(String(64))  # the IP actually connected to
    request_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_body: Mapped[str] = mapped_column(Text, default="")
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(20))  # succeeded / failed / refused
    error: Mapped[str | None] = mapped_column(String(1000))
    next_attempt_at: Mapped[datetime | None]

    delivery: Mapped[ForwardDelivery] = relationship(back_populates="attempts")
