"""Forwarding jobs: send one delivery, sweep what is due (old log entries go with retention's purge).

A failed POST is an outcome recorded on the delivery (with its own retry schedule), not a job
failure; these raise only when the work itself could not be done (database away, say).
"""

from __future__ import annotations

from webapp.forwarding import outbox, sending


def send_target_deliveries(target_id: int) -> dict[str, int]:
    """Send a target's due forward deliveries, oldest first (outcomes counted for the job log)."""
    return sending.send_due_for_target(target_id)


def sweep_forward_deliveries() -> int:
    """Queue every forward delivery whose due time has come."""
    return outbox.sweep_due()

