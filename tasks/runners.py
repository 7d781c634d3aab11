"""Runner jobs: launch one runner, scale one pool, reconcile everything (periodic)."""

from __future__ import annotations

from typing import Any

from webapp.core.jobs import Periodic


def launch_runner(runner_id: int) -> str:
    """Start the ECS task of a requested runner; passing problems raise, so RQ retries with back-off."""
    from webapp.runners.launcher import launch_runner as launch

    return launch(runner_id)


def scale_pool(pool_id: int) -> int:
    """Decide (under the pool's lock) how many runners to launch, and queue their launches."""
    from webapp.runners.service import scale_and_launch

    return scale_and_launch(pool_id)


def reconcile_runners() -> dict[str, Any]:
    """Compare ECS, GitHub and the database; end, stop, remove and launch what differs."""
    from webapp.runners.reconciler import reconcile_all

    return reconcile_all()


PERIODIC: list[Periodic] = [Periodic("runners-reconcile", reconcile_runners, every=30)]
