"""The audit log: who did what to which thing, from where, under which request."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.logging import current_client_address, current_request_id
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db


class Person(Protocol):
    """What the audit log reads of a user who acted."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


class AuditEvent(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))


def record(
    action: str,
    target_type: str,
    target_id: Any = None,
    *,
    actor: Person | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes.

    `actor` is a user (anything with `id` and `username`), a string such as "system" or
    "github", or None for the system itself.
    """
    if actor is None:
        actor_id, actor_label = None, "system"
    elif isinstance(actor, str):
        actor_id, actor_label = None, actor
    else:
        actor_id, actor_label = actor.id, actor.username
    ip = current_client_address()
    event = AuditEvent(
        actor_id=actor_id,
        actor=actor_label,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
        ip=ip,
        request_id=current_request_id(),
    )
    db.session.add(event)
    return event


def list_events(
    *, cursor: str | None, limit: int, action: str | None = None, actor: str | None = None,
    target_type: str | None = None,
) -> Page[AuditEvent]:
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if target_type:
        stmt = stmt.where(AuditEvent.target_type == target_type)
    return keyset_page(stmt, [AuditEvent.id], cursor, limit)
