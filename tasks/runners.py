"""Runner jobs: launch one runner, scale one pool, reconcile everything (periodic)."""

from __future__ import annotations

from typing import Any

from webapp.runners import launcher, reconciler, service


def launch_runner(runner_id: int) -> str:
    """Start the ECS task of a requested runner; passing problems raise, so RQ retries with back-off."""
    return launcher.launch_runner(runner_id)


def scale_pool(pool_id: int) -> int:
    """Decide (under the pool's lock) how many runners to launch, and queue their launches."""
    return service.scale_and_launch(pool_id)


def reconcile_runners() -> dict[str, Any]:
    """Compare ECS, GitHub and the database; end, stop, remove and launch what differs."""
    return reconciler.reconcile_all()

