"""Periodic jobs, declared as data: a deterministic job id per entry, each task named by its dotted path.

Each runs on one worker per interval, whichever claims it first (`rq_worker.PeriodicTicker`). The sweeps
here are what makes "nothing is lost" hold when Redis was away at a commit or a worker died.
"""

from __future__ import annotations

from webapp.core.rq_worker import Periodic

RECONCILE_INSTALLATIONS_EVERY = 3600
ACCESS_SYNC_EVERY = 900

PERIODIC_JOBS: tuple[Periodic, ...] = (
    Periodic("webhooks.sweep", "tasks.webhooks.sweep_pending_deliveries", every=60, queue="high"),
    Periodic("webhooks.redeliver", "tasks.webhooks.redeliver_failed_deliveries", every=300),
    Periodic("repos-reconcile", "tasks.repos.reconcile_installations", every=RECONCILE_INSTALLATIONS_EVERY),
    Periodic("repos-access", "tasks.repos.sync_all_user_access", every=ACCESS_SYNC_EVERY),
    Periodic("forwarding-sweep", "tasks.forwarding.sweep_forward_deliveries", every=5, queue="default"),
    Periodic("runners-reconcile", "tasks.runners.reconcile_runners", every=30),
    Periodic("releases-sweep", "tasks.releases.sweep_deployments", every=60),
    Periodic("sync-requeue-stalled", "tasks.sync.requeue_stalled_syncs", every=300),
    Periodic("retention-purge", "tasks.retention.purge_expired_data", every=3600),
)
