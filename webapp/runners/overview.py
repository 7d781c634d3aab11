"""The overview page's runner figures: runners busy, idle and launching; jobs waiting and the longest wait."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, or_, select

from webapp.auth.principal import Who
from webapp.core.models import utcnow
from webapp.core.overview import Card
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.runners.models import BUSY, DEMAND_STATUSES, IDLE, STARTING_STATES, Runner, RunnerPool, WorkflowJob


def _wait_text(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def overview_cards(principal: Who) -> list[Card]:
    """Alive runners by state and self-hosted jobs waiting for one, as the runner pages show them."""
    by_state = dict(db.session.execute(restrict_to_visible(
        select(Runner.state, func.count()).where(Runner.state.in_((*STARTING_STATES, IDLE, BUSY)))
        .group_by(Runner.state), Runner.repository_id, principal)).tuples().all())
    launching = sum(by_state.get(state, 0) for state in STARTING_STATES)
    # (pool_id, status) is the ledger's index: name every pool (few) plus the unmatched ones
    pool_ids = list(db.session.scalars(select(RunnerPool.id)))
    waiting, oldest = db.session.execute(restrict_to_visible(
        select(func.count(), func.min(WorkflowJob.queued_at)).where(
            or_(WorkflowJob.pool_id.in_(pool_ids), WorkflowJob.pool_id.is_(None)),
            WorkflowJob.status.in_(DEMAND_STATUSES), WorkflowJob.self_hosted.is_(True)),
        WorkflowJob.repository_id, principal)).one()
    link = url_for("runners.pools")
    if waiting and oldest is not None:
        longest = max(0.0, (utcnow() - oldest).total_seconds())
        detail = f"longest wait {_wait_text(longest)}"
        state = "failed" if longest >= 1800 else "warn" if longest >= 300 else "neutral"
    else:
        detail, state = "no job waits for a runner", "ok"
    return [
        Card("Busy", str(by_state.get(BUSY, 0)), link, "runners running a job"),
        Card("Idle", str(by_state.get(IDLE, 0)), link, "runners ready for a job"),
        Card("Launching", str(launching), link, "requested or starting"),
        Card("Jobs waiting", str(waiting), link, detail, state),
    ]
