"""Runners as pages, the API and webhooks use them: the workflow_job handler, scaling, lists, stop."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from webapp.auth.principal import Actor, Who
from webapp.core import audit
from webapp.core.errors import Conflict, Unavailable
from webapp.core.pagination import Page, keyset_page
from webapp.core.txcache import once_before_commit
from webapp.extensions import db
from webapp.integrations.ecs import AwsError
from webapp.integrations.github import GitHubError
from webapp.repos.access import (
    can_see_repository,
    get_visible_or_404,
    not_visible,
    restrict_to_visible,
    visible_repository_ids,
)
from webapp.runners.launcher import defer_launches
from webapp.runners.ledger import record_workflow_job
from webapp.runners.models import (
    ALIVE_STATES,
    DEMAND_STATUSES,
    Runner,
    RunnerPool,
    WorkflowJob,
)
from webapp.runners.pools import _require_manage
from webapp.runners.reconciler import lock_runner, stop_runner
from webapp.runners.scaler import scale_pool

log = logging.getLogger(__name__)


# --- webhooks --------------------------------------------------------------------------------


def on_workflow_job(event: Any) -> str:
    """Router handler: merge the delivery into the ledger and have the job's pool scaled as the
    processing transaction commits (once for a whole batch of deliveries); launches are queued by
    that commit."""
    job = record_workflow_job(event.payload, installation_id=event.installation_id)
    if job.pool_id is None:
        what = "unmatched" if job.self_hosted else "not for self-hosted runners"
        return f"job {job.github_job_id} {job.status}: {what}"
    scale_before_commit(job.pool_id)
    return f"job {job.github_job_id} {job.status}: pool {job.pool_id}"


def scale_before_commit(pool_id: int) -> None:
    """Scale the pool just before this transaction commits, once however many deliveries ask; pools
    are locked in id order, so two workers' batches never wait on each other in a circle."""
    once_before_commit(("runners.scale", pool_id), lambda: defer_launches(scale_pool(pool_id)))


def scale_and_launch(pool_id: int) -> int:
    """Scale one pool now and queue the launches with its commit; returns how many were asked for."""
    launched = scale_pool(pool_id)
    defer_launches(launched)
    db.session.commit()
    return len(launched)


# --- runners ---------------------------------------------------------------------------------


def _visible_runners(who: Who) -> Any:
    return restrict_to_visible(select(Runner), Runner.repository_id, who)


def list_runners(who: Who, *, status: str | None = None, pool_id: int | None = None,
                 repository_id: int | None = None, cursor: str | None = None, limit: int = 50) -> Page[Runner]:
    stmt = _visible_runners(who)
    if status == "alive":
        stmt = stmt.where(Runner.state.in_(ALIVE_STATES))
    elif status:
        stmt = stmt.where(Runner.state == status)
    if pool_id is not None:
        stmt = stmt.where(Runner.pool_id == pool_id)
    if repository_id is not None:
        stmt = stmt.where(Runner.repository_id == repository_id)
    return keyset_page(stmt, [Runner.id], cursor, limit)


def pool_runners(pool: RunnerPool, who: Who, *, alive_only: bool = False, limit: int = 50) -> list[Runner]:
    stmt = _visible_runners(who).where(Runner.pool_id == pool.id)
    if alive_only:
        stmt = stmt.where(Runner.state.in_(ALIVE_STATES))
    return list(db.session.scalars(stmt.order_by(Runner.id.desc()).limit(limit)).unique())


def get_visible_runner(who: Who, runner_id: int) -> Runner:
    return get_visible_or_404(who, Runner, runner_id, "Runner", visible=lambda runner: _runner_visible(who, runner))


def _runner_visible(who: Who, runner: Runner) -> bool:
    visible = visible_repository_ids(who)
    if visible is None:
        return True
    return runner.repository_id is not None and can_see_repository(who, runner.repository_id)


def request_stop(who: Who, runner_id: int, *, actor: Actor = None) -> Runner:
    """Stop a runner by hand: deregister on GitHub, then StopTask. 409 while it runs a job."""
    runner = get_visible_runner(who, runner_id)

    _require_manage(who, runner.pool)
    locked = lock_runner(runner.id)
    if locked is None:
        raise not_visible(f"Runner {runner_id}")
    try:
        outcome = stop_runner(locked, f"Stopped by {getattr(actor, 'username', None) or 'an operator'}")
    except (AwsError, GitHubError) as exc:
        db.session.rollback()
        raise Unavailable(f"The runner could not be stopped now: {exc}") from exc
    if outcome == "busy":
        db.session.commit()
        raise Conflict(f"Runner {locked.name} is running a job; it ends by itself when the job completes.")
    if outcome == "stopped":
        audit.record("runner.stop", "runner", locked.id, actor=actor, details={"name": locked.name})
    db.session.commit()
    return locked


# --- jobs --------------------------------------------------------------------------------------


def waiting_jobs(who: Who, *, pool_id: int | None = None, unmatched: bool = False,
                 limit: int = 100) -> list[WorkflowJob]:
    """Jobs still waiting for a runner, oldest first (what the pool and runners pages show)."""
    stmt = restrict_to_visible(select(WorkflowJob), WorkflowJob.repository_id, who).where(
        WorkflowJob.status.in_(DEMAND_STATUSES))
    if pool_id is not None:
        stmt = stmt.where(WorkflowJob.pool_id == pool_id)
    if unmatched:
        stmt = stmt.where(WorkflowJob.pool_id.is_(None), WorkflowJob.self_hosted.is_(True))
    return list(db.session.scalars(stmt.order_by(WorkflowJob.queued_at).limit(limit)))


def runner_job(runner: Runner) -> WorkflowJob | None:
    return db.session.get(WorkflowJob, runner.job_id) if runner.job_id else None

