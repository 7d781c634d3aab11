"""Sending forward deliveries: claim, sign, POST, record the attempt, schedule the retry.

Deliveries are claimed (their due time pushed past the send timeout) and committed before the
POST, so a second worker or the sweep never sends one twice at once, and a worker that dies
mid-send leaves them due again once the claim lapses. One job drains one target.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from flask import current_app
from prometheus_client import Counter, Histogram
from sqlalchemy import Select, or_, select, text, update
from sqlalchemy.orm import contains_eager

from webapp.core.metrics import REGISTRY
from webapp.extensions import db
from webapp.forwarding import sender, service, signing
from webapp.forwarding.models import FAILED, PENDING, SUCCEEDED, ForwardAttempt, ForwardDelivery, ForwardTarget
from webapp.forwarding.ssrf import UnsafeURL, check_url

RETRY_SCHEDULE: tuple[int, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.2
DRAIN_MAX = 10_000
CLAIM_BATCH = 20  # deliveries claimed per round trip
USER_AGENT = "Gantry-Forwarder/1"

ATTEMPTS = Counter("gantry_forward_attempts_total", "Forward delivery attempts", ["outcome"], registry=REGISTRY)
ATTEMPT_SECONDS = Histogram(
    "gantry_forward_attempt_seconds", "Time a forward delivery attempt took", registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)


def build_body(delivery: ForwardDelivery) -> bytes:
    """The JSON sent: an envelope about the GitHub delivery, and GitHub's payload unchanged."""
    kind = f"github.{delivery.event}" + (f".{delivery.action}" if delivery.action else "")
    envelope = {
        "type": kind,
        "timestamp": delivery.received_at.isoformat(),
        "delivery": {
            "id": delivery.github_delivery_id,
            "message_id": delivery.message_id,
            "event": delivery.event,
            "action": delivery.action,
            "repository": {"id": delivery.repository_id, "full_name": delivery.repository_full_name},
            "received_at": delivery.received_at.isoformat(),
        },
        "payload": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _headers(target: ForwardTarget, delivery: ForwardDelivery, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            service.signing_secrets(target, now), delivery.message_id, timestamp, body
        ),
        "X-Gantry-Event": delivery.event,
        "X-GitHub-Delivery": delivery.github_delivery_id,
    }
    if target.github_signature:
        headers["X-Hub-Signature-256"] = signing.github_signature(target.secret, body)
    return headers


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take one delivery if it is due, by pushing its due time past the send timeout, and commit."""
    _relaxed_commit()
    claimed = db.session.execute(
        update(ForwardDelivery)
        .where(ForwardDelivery.id == delivery_id, ForwardDelivery.status == PENDING,
               ForwardDelivery.next_attempt_at <= now)
        .values(next_attempt_at=_lease_until(now))
        .returning(ForwardDelivery.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    return claimed is not None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0)


def next_delay(retry_index: int, retry_after: float | None, rng: random.Random | None = None) -> float | None:
    """Seconds until the attempt at `retry_index` of the schedule (jittered), or None when it is over."""
    if retry_index >= len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[retry_index]
    delay = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, min(retry_after, float(current_app.config["FORWARDING_RETRY_AFTER_MAX"])))
    return delay


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=current_app.config["FORWARDING_TOTAL_TIMEOUT"] + 45)


def _claim_batch(target_id: int, now: datetime, size: int) -> list[ForwardDelivery]:
    """Claim the target's longest-due deliveries (skipping any another worker holds), load them
    with their target, and commit the claim."""
    _relaxed_commit()
    oldest = (
        select(ForwardDelivery.id)
        .where(ForwardDelivery.target_id == target_id, ForwardDelivery.status == PENDING,
               ForwardDelivery.next_attempt_at <= now)
        .order_by(ForwardDelivery.next_attempt_at, ForwardDelivery.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    lease = now + timedelta(seconds=current_app.config["FORWARDING_TOTAL_TIMEOUT"] * size + 45)
    ids = list(db.session.scalars(
        update(ForwardDelivery)
        .where(ForwardDelivery.id.in_(oldest))
        .values(next_attempt_at=lease)
        .returning(ForwardDelivery.id)
        .execution_options(synchronize_session=False)
    ))
    batch = list(db.session.scalars(_with_target().where(ForwardDelivery.id.in_(ids)).order_by(ForwardDelivery.id)))
    db.session.commit()
    return batch


def _release(deliveries: list[ForwardDelivery], now: datetime) -> None:
    """Hand claimed but unsent deliveries back: due again, for the next drain."""
    if deliveries:
        db.session.execute(
            update(ForwardDelivery)
            .where(ForwardDelivery.id.in_([d.id for d in deliveries]), ForwardDelivery.status == PENDING)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def _back_off_target(target_id: int, failed: ForwardDelivery, unsent: list[ForwardDelivery]) -> None:
    """No receiver answered: the target's other waiting deliveries (and the claimed but unsent
    ones) wait as long as `failed` does.

    A dead or hanging receiver then gets one attempt per step of the retry schedule, not one
    timeout per waiting delivery on every sweep; once it answers, the drain sends them all.
    """
    until = failed.next_attempt_at or service.current_time()
    db.session.execute(
        update(ForwardDelivery)
        .where(ForwardDelivery.target_id == target_id, ForwardDelivery.status == PENDING,
               ForwardDelivery.id != failed.id,
               or_(ForwardDelivery.next_attempt_at < until, ForwardDelivery.id.in_([d.id for d in unsent])))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _with_target() -> Select[Any]:
    # populate_existing: rows claimed just now must not be read from an older copy in the session
    return (
        select(ForwardDelivery).join(ForwardDelivery.target).options(contains_eager(ForwardDelivery.target))
        .execution_options(populate_existing=True)
    )


def _relaxed_commit() -> None:
    """Let this transaction commit without waiting for the disk (PostgreSQL's synchronous_commit).

    Only for what a database crash may lose safely: a claim (the delivery is simply due again)
    and an attempt's result (the delivery is sent again; receivers de-duplicate on webhook-id).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit = off"))


def send_due_for_target(target_id: int, *, budget_seconds: float = service.DRAIN_SECONDS,
                        limit: int = DRAIN_MAX) -> dict[str, int]:
    """Send the target's due deliveries, oldest first, for at most `budget_seconds`.

    Stops early after an attempt that reached no receiver (timeout, refused connection, SSRF
    refusal) and backs the whole target off until that delivery's next attempt.
    """
    deadline = time.monotonic() + budget_seconds
    outcomes: dict[str, int] = {}
    session = db.session()
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = False  # the batch stays loaded across its per-delivery commits
    try:
        sent = 0
        while sent < limit and time.monotonic() < deadline:
            batch = _claim_batch(target_id, service.current_time(), min(CLAIM_BATCH, limit - sent))
            if not batch:
                break
            for index, delivery in enumerate(batch):
                if time.monotonic() >= deadline:
                    _release(batch[index:], service.current_time())
                    return outcomes
                outcome, reached = _send_claimed(delivery, service.current_time())
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                sent += 1
                if not reached:
                    _back_off_target(target_id, delivery, batch[index + 1 :])
                    return outcomes
    finally:
        session.expire_on_commit = expire_on_commit
    return outcomes


def attempt_delivery(delivery_id: int) -> str:
    """Send one due delivery once and record the outcome; returns what happened."""
    now = service.current_time()
    if not _claim(delivery_id, now):
        return "not due"
    delivery = db.session.scalars(_with_target().where(ForwardDelivery.id == delivery_id)).one()
    return _send_claimed(delivery, now)[0]


def _send_claimed(delivery: ForwardDelivery, now: datetime) -> tuple[str, bool]:
    """POST a claimed delivery and record the attempt; (outcome, whether a receiver answered)."""
    target = delivery.target
    if not target.active:
        delivery.status, delivery.next_attempt_at = FAILED, None
        delivery.last_error = f"target disabled: {target.disabled_reason or 'inactive'}"
        db.session.commit()
        return "target disabled", False
    body = build_body(delivery)
    headers = _headers(target, delivery, body, now)
    config = current_app.config
    attempt = ForwardAttempt(
        delivery_id=delivery.id, number=delivery.attempt_count + 1, started_at=now, url=target.url,
        request_headers=headers, request_body=body[: sender.MAX_LOGGED_BODY].decode("utf-8", errors="replace"),
    )
    try:
        destination = check_url(target.url, service.url_policy())
    except UnsafeURL as exc:
        response = sender.Response(None, error=f"refused: {exc}")
        attempt.outcome = "refused"
    else:
        attempt.address = destination.address
        response = sender.post(destination, body, headers, connect_timeout=config["FORWARDING_CONNECT_TIMEOUT"],
                               total_timeout=config["FORWARDING_TOTAL_TIMEOUT"],
                               tls_context=sender.make_tls_context(config["FORWARDING_CA_BUNDLE"]))
    ATTEMPT_SECONDS.observe(response.latency_ms / 1000)
    return _record(delivery, target, attempt, response, now), response.status is not None


def _failure_reason(response: sender.Response) -> str:
    if response.error:
        return response.error
    status = response.status or 0
    if 300 <= status < 400:
        location = response.headers.get("Location") or response.headers.get("location") or "?"
        return f"answered {status}; redirects are not followed (to {location})"
    return f"answered {status}"


def _record(delivery: ForwardDelivery, target: ForwardTarget, attempt: ForwardAttempt,
            response: sender.Response, now: datetime) -> str:
    attempt.response_status = response.status
    attempt.response_headers = response.headers
    attempt.response_body = response.body
    attempt.latency_ms = response.latency_ms
    delivery.attempt_count = attempt.number
    delivery.last_attempt_at = now
    delivery.last_status_code = response.status
    succeeded = response.error is None and response.status is not None and 200 <= response.status < 300
    if succeeded:
        attempt.outcome = SUCCEEDED
        delivery.status, delivery.succeeded_at, delivery.next_attempt_at = SUCCEEDED, now, None
        delivery.last_error = None
        target.failing_since = None
    else:
        attempt.outcome = getattr(attempt, "outcome", None) or FAILED
        attempt.error = reason = _failure_reason(response)[:1000]
        delivery.last_error = reason
        if target.failing_since is None:
            target.failing_since = now
        disable_after = timedelta(hours=current_app.config["FORWARDING_DISABLE_AFTER_HOURS"])
        delivery.retry_index += 1
        delay = next_delay(delivery.retry_index, retry_after_seconds(_header(response, "Retry-After"), now))
        if response.status == 410:
            delivery.status, delivery.next_attempt_at = FAILED, None
            service.disable_target(target, f"the receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC", now)
        elif now - target.failing_since >= disable_after:
            delivery.status, delivery.next_attempt_at = FAILED, None
            service.disable_target(
                target, f"failing continuously since {target.failing_since:%Y-%m-%d %H:%M} UTC "
                f"(last: {reason})", now,
            )
        elif delay is None:
            delivery.status, delivery.next_attempt_at = FAILED, None
        else:
            delivery.next_attempt_at = attempt.next_attempt_at = now + timedelta(seconds=delay)
    db.session.add(attempt)
    outcome = attempt.outcome
    # A result lost with the database server (not with this process) means the delivery is sent
    # once more: receivers de-duplicate on webhook-id, as Standard Webhooks requires.
    _relaxed_commit()
    db.session.commit()
    ATTEMPTS.labels(outcome).inc()
    return outcome


def _header(response: sender.Response, name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in response.headers.items() if k.lower() == lowered), None)
