"""The workflow_job ledger: one row per job attempt, fed by webhooks, moving forward only.

Every field is merged so that the final row depends only on the set of deliveries, never on their
order: the status is the furthest one seen, timestamps and the runner's name are filled in
whenever a delivery carries them, and the runner a job ran on follows the job's final status.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.core.models import utcnow
from webapp.core.txcache import once_per_transaction
from webapp.extensions import db
from webapp.runners.models import (
    ALIVE_STATES,
    BUSY,
    FINISHED,
    JOB_RANK,
    Runner,
    RunnerEvent,
    RunnerPool,
    WorkflowJob,
)

log = logging.getLogger(__name__)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def pool_label_set(pool: RunnerPool) -> set[str]:
    """A pool's labels as matching sees them: lower-case, with `self-hosted` implied."""
    return {str(label).strip().lower() for label in pool.labels} | {"self-hosted"}


def match_pool(job: WorkflowJob, pools: list[RunnerPool]) -> RunnerPool | None:
    """The most specific of `pools` (the enabled ones, `enabled_pools()`) whose labels hold all the job's.

    Specific = fewest labels beyond the job's; then a repository's own pool before its
    organisation's; then the oldest pool.
    """
    wanted = {str(label).strip().lower() for label in job.labels}
    candidates = []
    for pool in pools:
        if pool.scope == "repository" and pool.repository_id != job.repository_id:
            continue
        if pool.scope == "organization" and pool.installation_id != job.installation_id:
            continue
        labels = pool_label_set(pool)
        if wanted <= labels:
            candidates.append((len(labels - wanted), 0 if pool.scope == "repository" else 1, pool.id, pool))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[:3])[3]


def enabled_pools() -> list[RunnerPool]:
    """Every enabled pool, read once per transaction (a batch of deliveries, a reconciler pass)."""
    return once_per_transaction("runners.enabled_pools", lambda: list(db.session.scalars(
        select(RunnerPool).where(RunnerPool.enabled.is_(True)).order_by(RunnerPool.id))))


def _upsert_row(job_id: int, attempt: int, values: dict[str, Any]) -> WorkflowJob:
    """Insert the ledger row if missing, then lock it (so concurrent deliveries merge one by one)."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(WorkflowJob).values(github_job_id=job_id, run_attempt=attempt, **values)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["github_job_id", "run_attempt"]))
    return db.session.execute(
        select(WorkflowJob)
        .where(WorkflowJob.github_job_id == job_id, WorkflowJob.run_attempt == attempt)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


def record_workflow_job(payload: dict[str, Any], *, installation_id: int | None = None) -> WorkflowJob:
    """Merge one workflow_job delivery into the ledger (no commit) and return the row."""
    wj = payload.get("workflow_job") or {}
    repo = payload.get("repository") or {}
    if not wj.get("id"):
        raise ValueError("workflow_job delivery without a job id")
    status = wj.get("status") if wj.get("status") in JOB_RANK else payload.get("action")
    if status not in JOB_RANK:
        status = "queued"
    labels = [str(label) for label in (wj.get("labels") or [])]
    created = _when(wj.get("created_at")) or utcnow()
    installation = installation_id or (payload.get("installation") or {}).get("id")
    job = _upsert_row(int(wj["id"]), int(wj.get("run_attempt") or 1), {
        "status": status,
        "run_id": wj.get("run_id"),
        "repository_id": repo.get("id"),
        "repository_full_name": repo.get("full_name") or "",
        "installation_id": installation,
        "name": (wj.get("name") or "")[:500],
        "workflow_name": (wj.get("workflow_name") or None),
        "html_url": wj.get("html_url"),
        "labels": labels,
        "self_hosted": "self-hosted" in {label.lower() for label in labels},
        "queued_at": created,
    })
    if JOB_RANK[status] > JOB_RANK[job.status]:
        job.status = status
    job.queued_at = min(job.queued_at, created)
    if status in ("in_progress", "completed"):
        started = _when(wj.get("started_at"))
        if started is not None and job.started_at is None:
            job.started_at = max(started, job.queued_at)
        if wj.get("runner_name") and not job.runner_name:
            job.runner_name = str(wj["runner_name"])
            job.github_runner_id = wj.get("runner_id")
    if status == "completed":
        job.completed_at = job.completed_at or _when(wj.get("completed_at")) or utcnow()
        job.conclusion = job.conclusion or wj.get("conclusion")
        job.started_at = job.started_at or job.completed_at
    if job.status in ("in_progress", "completed") and job.started_at is None:
        job.started_at = utcnow()
    if job.pool_id is None:
        pool = match_pool(job, enabled_pools())
        job.pool_id = pool.id if pool else None
        job.matched = pool is not None
    link_runner(job)
    return job


def link_runner(job: WorkflowJob) -> Runner | None:
    """Point the Gantry runner that took the job (by name) at it, following the job's status."""
    if not job.runner_name or job.status not in ("in_progress", "completed"):
        return None
    runner = db.session.execute(
        select(Runner).where(Runner.name == job.runner_name).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if runner is None:
        return None
    now = utcnow()
    runner.job_id = job.id
    if runner.repository_id is None:
        runner.repository_id = job.repository_id
    if runner.registered_at is None:
        runner.registered_at = job.started_at or now
    if job.status == "in_progress" and runner.state in ALIVE_STATES and runner.state != BUSY:
        runner.state = BUSY
        runner.busy_at = job.started_at or now
        runner.idle_since = None
        db.session.add(RunnerEvent(runner=runner, pool_id=runner.pool_id, kind=BUSY,
                                   message=f"Took job {job.name or job.github_job_id} ({job.repository_full_name})"))
    elif job.status == "completed" and runner.state in ALIVE_STATES:
        runner.busy_at = runner.busy_at or job.started_at or now
        runner.state = FINISHED
        runner.ended_at = job.completed_at or now
        runner.idle_since = None
        runner.stop_reason = runner.stop_reason or f"Job completed ({job.conclusion or 'no conclusion'})"
        db.session.add(RunnerEvent(runner=runner, pool_id=runner.pool_id, kind=FINISHED,
                                   message=f"Job {job.name or job.github_job_id} completed: {job.conclusion}"))
    return runner
