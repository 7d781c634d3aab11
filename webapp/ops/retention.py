"""Retention: old data that would grow forever is purged in small batches, and what grew is shown.

Each policy names the rows it may remove once they are older than its setting (RETENTION_*_DAYS;
None keeps them forever) and, by what its condition leaves out, everything still in use:

- a webhook delivery is touched only once handled or ignored: one still to be processed, retrying,
  or failed (waiting for someone to re-process it) keeps its payload and row, and so does one
  whose forwarding to a downstream target is still pending;
- a build keeps its whole state history: builds are not purged at all unless RETENTION_BUILD_DAYS
  is set, and then only finished builds that no release links to, history and all;
- a runner goes only once ended, and a ledger job only once completed and no runner row points
  at it any more;
- a project sync run goes only once finished, and never its project's newest (the project's state);
- the audit log is kept unless RETENTION_AUDIT_DAYS is set.

Every purge is one audit event ("retention.purge") saying what it removed, which /status shows.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, exists, func, literal, select, text
from sqlalchemy.orm import aliased

from webapp.builds.models import Build
from webapp.core import audit
from webapp.core.audit import AuditEvent
from webapp.core.models import utcnow
from webapp.core.purge import count_matching, purge_in_batches
from webapp.extensions import db
from webapp.forwarding.models import PENDING as FORWARD_PENDING
from webapp.forwarding.models import ForwardAttempt, ForwardDelivery
from webapp.forwarding.outbox import finished_before
from webapp.releases.models import Release
from webapp.runners.models import ENDED_STATES, Runner, RunnerEvent, WorkflowJob
from webapp.sync.models import RUN_FINAL, SyncRun
from webapp.webhooks.models import (
    ASK_DELIVERED,
    ASK_GAVE_UP,
    HANDLED,
    IGNORED,
    RedeliveryRequest,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

PURGE_ACTION = "retention.purge"
DONE_WITH = (HANDLED, IGNORED)  # a failed delivery waits for someone to re-process it: never purged


@dataclass(frozen=True)
class Policy:
    """One kind of row retention removes (or empties) once older than the days in `setting`."""

    name: str
    label: str
    setting: str
    model: Any
    condition: Callable[[datetime], ColumnElement[bool]]  # given the cutoff: the rows that may go
    values: Callable[[datetime], dict[str, Any]] | None = None  # update these columns instead of deleting


def _no_pending_forwarding() -> ColumnElement[bool]:
    return ~exists().where(ForwardDelivery.webhook_delivery_pk == WebhookDelivery.id,
                           ForwardDelivery.status == FORWARD_PENDING)


def _deliveries_done_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(WebhookDelivery.status.in_(DONE_WITH), WebhookDelivery.received_at < cutoff, _no_pending_forwarding())


def _payloads_done_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_deliveries_done_before(cutoff), WebhookDelivery.payload_purged_at.is_(None))


def _redelivery_requests_settled_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(RedeliveryRequest.status.in_((ASK_DELIVERED, ASK_GAVE_UP)), RedeliveryRequest.updated_at < cutoff)


def _runners_ended_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Runner.state.in_(ENDED_STATES), func.coalesce(Runner.ended_at, Runner.requested_at) < cutoff)


def _jobs_completed_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        WorkflowJob.status == "completed",
        func.coalesce(WorkflowJob.completed_at, WorkflowJob.updated_at) < cutoff,
        ~exists().where(Runner.job_id == WorkflowJob.id),
    )


def _builds_finished_before(cutoff: datetime) -> ColumnElement[bool]:
    # Releases link builds by uuid in a JSON list; there are few releases, so the linked set is read once.
    linked = set()
    for uuids in db.session.scalars(select(Release.build_uuids)):
        for value in uuids or []:
            try:
                linked.add(uuid.UUID(str(value)))
            except ValueError:
                continue
    condition = and_(Build.result != "in_progress", func.coalesce(Build.finished_at, Build.updated_at) < cutoff)
    return and_(condition, Build.uuid.not_in(sorted(linked))) if linked else condition


def _sync_runs_finished_before(cutoff: datetime) -> ColumnElement[bool]:
    # A project's newest run is its state (and a conflict to resolve): it stays however old.
    newer = aliased(SyncRun)
    return and_(
        SyncRun.status.in_(RUN_FINAL),
        func.coalesce(SyncRun.finished_at, SyncRun.created_at) < cutoff,
        exists().where(newer.project_id == SyncRun.project_id, newer.id > SyncRun.id),
    )


def _audit_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(AuditEvent.created_at < cutoff, AuditEvent.action != PURGE_ACTION)


def _emptied_payload(now: datetime) -> dict[str, Any]:
    return {"payload": {}, "payload_purged_at": now}


# Order matters: rows are deleted before payloads are emptied (no work on rows about to go), and
# runners before ledger jobs (a job is kept while a runner row points at it).
POLICIES: tuple[Policy, ...] = (
    Policy("webhook_deliveries", "Webhook deliveries", "RETENTION_DELIVERY_DAYS", WebhookDelivery,
           _deliveries_done_before),
    Policy("webhook_payloads", "Webhook delivery payloads", "RETENTION_DELIVERY_PAYLOAD_DAYS", WebhookDelivery,
           _payloads_done_before, _emptied_payload),
    Policy("redelivery_requests", "Redelivery requests", "RETENTION_DELIVERY_DAYS", RedeliveryRequest,
           _redelivery_requests_settled_before),
    Policy("forward_deliveries", "Forward deliveries and attempts", "FORWARDING_RETENTION_DAYS", ForwardDelivery,
           finished_before),
    Policy("runners", "Runners and their events", "RETENTION_RUNNER_DAYS", Runner, _runners_ended_before),
    Policy("workflow_jobs", "Workflow job ledger", "RETENTION_RUNNER_DAYS", WorkflowJob, _jobs_completed_before),
    Policy("builds", "Builds with their history", "RETENTION_BUILD_DAYS", Build, _builds_finished_before),
    Policy("sync_runs", "Project sync runs", "RETENTION_SYNC_DAYS", SyncRun, _sync_runs_finished_before),
    Policy("audit_events", "Audit log", "RETENTION_AUDIT_DAYS", AuditEvent, _audit_before),
)


def purge(*, dry_run: bool = False, now: datetime | None = None, only: set[str] | None = None) -> dict[str, Any]:
    """Purge every kind of expired row (or, on a dry run, count them); returns what was done.

    Sleeps RETENTION_BATCH_PAUSE_MS between batches, so the intake's writes and vacuum keep up, and
    stops starting new batches after RETENTION_MAX_SECONDS: the next run carries on.
    """
    now = now or utcnow()
    config = current_app.config
    deadline = time.monotonic() + int(config["RETENTION_MAX_SECONDS"])
    kinds: dict[str, dict[str, Any]] = {}
    for policy in POLICIES:
        if only is not None and policy.name not in only:
            continue
        days = config.get(policy.setting)
        if not days:
            kinds[policy.name] = {"days": None, "rows": 0, "kept": "forever"}
            continue
        cutoff = now - timedelta(days=int(days))
        condition = policy.condition(cutoff)
        if dry_run:
            kinds[policy.name] = {"days": int(days), "rows": count_matching(policy.model, condition)}
            continue
        outcome = purge_in_batches(policy.model, condition, values=policy.values(now) if policy.values else None,
                                   batch_size=int(config["RETENTION_BATCH_SIZE"]), deadline=deadline,
                                   pause=int(config["RETENTION_BATCH_PAUSE_MS"]) / 1000)
        kinds[policy.name] = {"days": int(days), **outcome.as_dict()}
    summary = {"dry_run": dry_run, "at": now.isoformat(), "kinds": kinds,
               "rows": sum(int(k["rows"]) for k in kinds.values())}
    if not dry_run:
        audit.record(PURGE_ACTION, "retention", None, actor="system", details=summary)
        db.session.commit()
        log.info("retention purge removed or emptied %d rows", summary["rows"])
    return summary


# --- what grew: /status for admins ----------------------------------------------------------

GROWING_TABLES: tuple[tuple[Any, str], ...] = (
    (WebhookDelivery, "Webhook deliveries"),
    (ForwardDelivery, "Forward deliveries"),
    (ForwardAttempt, "Forward attempts"),
    (Runner, "Runners"),
    (RunnerEvent, "Runner events"),
    (WorkflowJob, "Workflow job ledger"),
    (Build, "Builds"),
    (SyncRun, "Project sync runs"),
    (AuditEvent, "Audit log"),
)
EXACT_COUNT_UP_TO = 10_000  # a never-analysed table is counted, up to this many rows


def table_sizes() -> list[dict[str, Any]]:
    """Each growing table's size on disk (with indexes and TOAST) and row count.

    PostgreSQL: sizes from pg_total_relation_size and row estimates from the planner's statistics
    (pg_class.reltuples: free, and close enough for a million-row table). Elsewhere: exact counts.
    """
    names = [model.__tablename__ for model, _ in GROWING_TABLES]
    rows: dict[str, tuple[int | None, int, bool]] = {}
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            found = db.session.execute(text(
                "SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(:names)"
            ), {"names": names}).all()
            for name, size, estimate in found:
                if estimate >= 0:
                    rows[name] = (int(size), int(estimate), True)
                else:
                    rows[name] = (int(size), _bounded_count(name), False)
        else:
            for name in names:
                rows[name] = (None, _bounded_count(name), False)
    finally:
        db.session.rollback()
    return [
        {"table": model.__tablename__, "label": label, "bytes": rows[model.__tablename__][0],
         "rows": rows[model.__tablename__][1], "estimated": rows[model.__tablename__][2]}
        for model, label in GROWING_TABLES if model.__tablename__ in rows
    ]


def _bounded_count(table: str) -> int:
    inner = select(literal(1)).select_from(text(f'"{table}"')).limit(EXACT_COUNT_UP_TO).subquery()
    return int(db.session.scalar(select(func.count()).select_from(inner)) or 0)


def last_purge() -> dict[str, Any] | None:
    """The newest purge's audit record: when it ran and what it removed."""
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == PURGE_ACTION).order_by(AuditEvent.id.desc()).limit(1)
    )
    if event is None:
        return None
    return {"at": event.created_at.isoformat(), "rows": event.details.get("rows", 0),
            "kinds": event.details.get("kinds", {})}


def storage_report() -> dict[str, Any]:
    """What /status shows admins: the growing tables, the settings in force, and the last purge."""
    config = current_app.config
    return {
        "tables": table_sizes(),
        "settings": {policy.name: config.get(policy.setting) for policy in POLICIES},
        "last_purge": last_purge(),
    }

