"""Recovering what GitHub failed to deliver: read the App's delivery log, ask for redeliveries.

GitHub keeps the App's delivery log for three days, newest first, one entry per attempt (a
redelivery is a new entry with the same GUID). A GUID none of whose attempts succeeded and that
Gantry never stored is asked for again (`POST /app/hook/deliveries/{id}/attempts`), at most
WEBHOOK_REDELIVERY_MAX_ATTEMPTS times. Each run reads back only to the newest entry the previous
run saw; what it could not ask for (GitHub refused, or a rate limit) is remembered in
`webhook_redelivery_requests` and asked for on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import current_app
from sqlalchemy import select, update

from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import NOT_CONFIGURED, GitHubNotConfigured, GitHubRateLimited, github
from webapp.repos.app_config import get_app_settings
from webapp.webhooks.models import (
    ASK_DELIVERED,
    ASK_ERROR,
    ASK_GAVE_UP,
    ASK_PENDING,
    ASK_REQUESTED,
    RedeliveryCheckpoint,
    RedeliveryRequest,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

LOG_PATH = "/app/hook/deliveries"
CHECKPOINT = "app"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 log entries per run; runs every few minutes


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _next_cursor(next_url: str | None) -> str | None:
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("cursor")
    return values[0] if values else None


def _delivered(entry: dict[str, Any]) -> bool:
    code = entry.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


def read_log(gh: Any, stop_at_id: int | None, since: datetime) -> Iterator[dict[str, Any]]:
    """Log entries newer than `stop_at_id` and `since`, newest first, following the Link cursors."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if cursor:
            params["cursor"] = cursor
        body, next_url = gh.app_request_page(LOG_PATH, params=params)
        for entry in body or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or not entry.get("guid"):
                continue
            if stop_at_id is not None and entry["id"] <= stop_at_id:
                return
            delivered_at = _parse_time(entry.get("delivered_at"))
            if delivered_at is not None and delivered_at < since:
                return
            yield entry
        cursor = _next_cursor(next_url)
        if not cursor:
            return
    log.warning("GitHub's delivery log has more than %d pages since the last check; older entries skipped",
                MAX_PAGES)


def _failed_guids(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """GUID -> its newest failed entry, for GUIDs none of whose attempts in `entries` succeeded."""
    delivered = {e["guid"] for e in entries if _delivered(e)}
    failed: dict[str, dict[str, Any]] = {}
    for entry in entries:  # newest first: the first entry seen for a GUID is its latest attempt
        if entry["guid"] not in delivered:
            failed.setdefault(entry["guid"], entry)
    return failed


def redeliver_failed() -> dict[str, int]:
    """Read the delivery log since the last run and ask GitHub to redeliver what never arrived."""
    settings = get_app_settings()
    if settings is None or not settings.can_authenticate_app:
        log.info("webhook redelivery skipped: %s", NOT_CONFIGURED)
        return {"skipped": 1}
    gh = github()
    now = utcnow()
    since = now - timedelta(hours=int(current_app.config["WEBHOOK_REDELIVERY_LOOKBACK_HOURS"]))
    checkpoint = db.session.get(RedeliveryCheckpoint, CHECKPOINT)
    stop_at_id = checkpoint.last_log_id if checkpoint is not None and checkpoint.checked_at >= since else None
    try:
        entries = list(read_log(gh, stop_at_id, since))
    except GitHubNotConfigured:
        return {"skipped": 1}
    stats = {"read": len(entries), "failed": 0, "requested": 0, "errors": 0, "gave_up": 0}
    stats["failed"] = _record_failures(entries)
    _ask_for_redeliveries(gh, now, stats)
    _move_checkpoint(checkpoint, entries, now)
    db.session.commit()
    if stats["requested"] or stats["errors"] or stats["gave_up"]:
        log.info("webhook redelivery: %s", stats)
    return stats


def _record_failures(entries: list[dict[str, Any]]) -> int:
    """Remember each failed delivery Gantry never stored as one to ask for; returns how many there are."""
    failed = _failed_guids(entries)
    stored = set(db.session.scalars(
        select(WebhookDelivery.delivery_id).where(WebhookDelivery.delivery_id.in_(list(failed)))
    )) if failed else set()
    count = 0
    for guid, entry in failed.items():
        if guid in stored:
            continue
        count += 1
        ask = db.session.get(RedeliveryRequest, guid)
        if ask is None:
            ask = RedeliveryRequest(guid=guid, log_id=entry["id"], event=str(entry.get("event") or "")[:100],
                                    action=(str(entry["action"])[:100] if entry.get("action") else None),
                                    status=ASK_PENDING, attempts=0)
            db.session.add(ask)
        elif entry["id"] > ask.log_id and ask.status == ASK_REQUESTED:
            ask.status = ASK_PENDING  # the redelivery Gantry asked for failed as well
            ask.log_id = entry["id"]
    db.session.flush()
    return count


def _ask_for_redeliveries(gh: Any, now: datetime, stats: dict[str, int]) -> None:
    """Close the asks whose delivery has arrived since, then ask GitHub again for the rest (counted in `stats`)."""
    max_attempts = int(current_app.config["WEBHOOK_REDELIVERY_MAX_ATTEMPTS"])
    db.session.execute(
        update(RedeliveryRequest)
        .where(RedeliveryRequest.status.in_((ASK_PENDING, ASK_REQUESTED, ASK_ERROR)),
               RedeliveryRequest.guid.in_(select(WebhookDelivery.delivery_id)))
        .values(status=ASK_DELIVERED, updated_at=now)
    )
    to_ask = list(db.session.scalars(
        select(RedeliveryRequest)
        .where(RedeliveryRequest.status.in_((ASK_PENDING, ASK_ERROR)))
        .order_by(RedeliveryRequest.log_id.desc())
    ))
    for ask in to_ask:
        if ask.attempts >= max_attempts:
            ask.status = ASK_GAVE_UP
            stats["gave_up"] += 1
            log.warning("gave up asking GitHub to redeliver %s (%s) after %d attempts", ask.guid, ask.event,
                        ask.attempts)
            continue
        try:
            gh.app_request("POST", f"{LOG_PATH}/{ask.log_id}/attempts")
        except GitHubRateLimited:
            log.warning("GitHub rate limit reached while asking for redeliveries; the rest wait for the next run")
            break
        except Exception as exc:  # GitHubError or network: remembered, asked again next run
            ask.attempts += 1
            ask.status = ASK_ERROR
            ask.last_error = str(exc)[:2000]
            ask.last_requested_at = now
            stats["errors"] += 1
            continue
        ask.attempts += 1
        ask.status = ASK_REQUESTED
        ask.last_error = None
        ask.last_requested_at = now
        stats["requested"] += 1


def _move_checkpoint(checkpoint: RedeliveryCheckpoint | None, entries: list[dict[str, Any]], now: datetime) -> None:
    """The next run reads the log down to the newest entry this one saw."""
    if entries:
        newest = max(e["id"] for e in entries)
        if checkpoint is None:
            db.session.add(RedeliveryCheckpoint(name=CHECKPOINT, last_log_id=newest, checked_at=now))
        else:
            checkpoint.last_log_id = max(newest, checkpoint.last_log_id)
            checkpoint.checked_at = now
    elif checkpoint is not None:
        checkpoint.checked_at = now



def recent_requests(limit: int = 20) -> list[RedeliveryRequest]:
    """The redeliveries asked for most recently, for the delivery log page (admins)."""
    return list(db.session.scalars(
        select(RedeliveryRequest).order_by(RedeliveryRequest.updated_at.desc()).limit(limit)
    ))
