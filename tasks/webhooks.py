"""Webhook jobs: process one stored delivery, sweep up what was stored but never queued, redeliver."""

from __future__ import annotations

from webapp.webhooks import processing, redelivery, service


def process_delivery(pk: int) -> str:
    """Run the router's handlers for delivery row `pk` (raises so RQ retries when a handler fails)."""
    return processing.process_delivery(pk)


def sweep_pending_deliveries() -> int:
    """Queue deliveries stored but not processed (Redis was down or a worker died)."""
    return service.enqueue_pending()


def redeliver_failed_deliveries() -> dict[str, int]:
    """Ask GitHub to redeliver what it failed to deliver and Gantry never stored."""
    return redelivery.redeliver_failed()

