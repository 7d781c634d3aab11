"""The overview page's queue figures (admins only): jobs waiting per queue, failed jobs, workers."""

from __future__ import annotations

from typing import Any

from flask import url_for

from webapp.core import jobs
from webapp.core.overview import Card


def overview_cards(principal: Any) -> list[Card]:
    """Read from Redis on each refresh; a Redis that does not answer shows as the section unavailable."""
    if not principal.is_admin:
        return []
    connection = jobs.redis_connection()
    queues = url_for("rq_dashboard.queues_overview")
    workers_page = url_for("rq_dashboard.workers_overview", instance_number=0)
    cards = [Card(f"Queue {name}", str(depth), queues, "jobs waiting", "warn" if depth >= 100 else "neutral")
             for name, depth in jobs.queue_depths(connection).items()]
    failed = jobs.failed_job_count(connection)
    workers = len(jobs.workers_seen(connection))
    cards.append(Card("Failed jobs", str(failed), queues, "kept 7 days", "failed" if failed else "ok"))
    cards.append(Card("Workers", str(workers), workers_page, "seen in Redis", "ok" if workers else "failed"))
    return cards
