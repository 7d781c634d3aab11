"""Scale-up decided on counts, per pool, under a row lock held in PostgreSQL.

    launch = min(cap - alive, queued_unassigned + min_idle - (launching + idle))

Every decision locks the pool row (`SELECT ... FOR NO KEY UPDATE`: it still serialises decisions,
but does not wait on the key-share locks that inserting jobs and runners take on the pool through
their foreign keys, which would deadlock) and counts inside that lock, so any
number of workers deciding at once never put more than `max_runners` alive in a pool: the second
decision waits for the first to commit and then sees its runners.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.runners.models import (
    ALIVE_STATES,
    DEMAND_STATUSES,
    IDLE,
    POOL_OK,
    REQUESTED,
    STARTING_STATES,
    Runner,
    RunnerEvent,
    RunnerPool,
    WorkflowJob,
    new_launch_token,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolCounts:
    alive: int
    starting: int  # requested + launching
    idle: int
    busy: int
    demand: int  # jobs queued or waiting for this pool

    @property
    def warm(self) -> int:
        return self.starting + self.idle


def count_pool(pool_id: int) -> PoolCounts:
    rows: dict[str, int] = dict(db.session.execute(  # type: ignore[arg-type]
        select(Runner.state, func.count()).where(Runner.pool_id == pool_id, Runner.state.in_(ALIVE_STATES))
        .group_by(Runner.state)
    ).all())
    demand = db.session.scalar(
        select(func.count()).select_from(WorkflowJob)
        .where(WorkflowJob.pool_id == pool_id, WorkflowJob.status.in_(DEMAND_STATUSES))
    ) or 0
    starting = sum(rows.get(state, 0) for state in STARTING_STATES)
    return PoolCounts(alive=sum(rows.values()), starting=starting, idle=rows.get(IDLE, 0),
                      busy=rows.get("busy", 0), demand=int(demand))


def runners_to_launch(pool: RunnerPool, counts: PoolCounts) -> int:
    room = pool.max_runners - counts.alive
    wanted = counts.demand + pool.min_idle - counts.warm
    return max(0, min(room, wanted))


def lock_pool(pool_id: int) -> RunnerPool | None:
    """The pool row, locked until the transaction ends (every scaling decision goes through here)."""
    return db.session.execute(
        select(RunnerPool).where(RunnerPool.id == pool_id).with_for_update(of=RunnerPool, key_share=True)
        .execution_options(populate_existing=True)
    ).unique().scalar_one_or_none()


def scale_pool(pool_id: int) -> list[int]:
    """Decide and record the runners to launch for one pool; returns their ids (the caller commits).

    Launching itself happens after the commit (`enqueue_launches`), outside the lock.
    """
    pool = lock_pool(pool_id)
    if pool is None or not pool.enabled or pool.status != POOL_OK:
        return []
    counts = count_pool(pool.id)
    pool.scaled_at = utcnow()
    wanted = runners_to_launch(pool, counts)
    if wanted <= 0:
        return []
    runners = []
    for _ in range(wanted):
        token = new_launch_token()
        runners.append(Runner(pool_id=pool.id, state=REQUESTED, launch_token=token, name=f"pending-{token}",
                              repository_id=pool.repository_id, vcpus=pool.vcpus, memory_gb=pool.memory_gb,
                              hourly_cost=pool.hourly_cost))
    db.session.add_all(runners)
    db.session.flush()
    for runner in runners:
        runner.name = f"gantry-{pool.name}-{runner.id}"
        db.session.add(RunnerEvent(runner=runner, pool_id=pool.id, kind=REQUESTED,
                                   message=f"Requested: {counts.demand} job(s) waiting, {counts.warm} runner(s) "
                                           f"starting or idle, {counts.alive} of {pool.max_runners} alive"))
    db.session.flush()
    log.info("pool %s: launching %d runner(s) (demand %d, alive %d/%d)", pool.name, wanted, counts.demand,
             counts.alive, pool.max_runners)
    return [runner.id for runner in runners]
