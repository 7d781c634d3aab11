"""The overview page's builds figures: builds in flight and today's success rate."""

from __future__ import annotations

from datetime import datetime, time

from flask import url_for
from sqlalchemy import func, select

from webapp.auth.principal import Who
from webapp.builds.models import Build
from webapp.builds.service import restrict_visible
from webapp.core.models import utcnow
from webapp.core.overview import Card, daily_trend
from webapp.extensions import db


def overview_cards(principal: Who) -> list[Card]:
    """Builds not yet ended, and how many of today's finished builds succeeded (cancellations aside)."""
    in_flight = db.session.scalar(restrict_visible(
        select(func.count()).select_from(Build).where(Build.result == "in_progress"), principal)) or 0
    now = utcnow()
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    # the partial in-flight index and the covering created_at index answer both counts
    succeeded, failed = db.session.execute(restrict_visible(
        select(func.count().filter(Build.result == "succeeded"), func.count().filter(Build.result == "failed"))
        .where(Build.created_at >= midnight), principal)).one()
    finished = int(succeeded) + int(failed)
    if finished:
        rate = round(100 * int(succeeded) / finished)
        value, state = f"{rate} %", "ok" if rate >= 90 else "warn" if rate >= 50 else "failed"
        detail = f"{succeeded} of {finished} finished builds started today (UTC)"
    else:
        value, state, detail = "n/a", "neutral", "no build started today (UTC) has finished"
    return [
        Card("In flight", str(in_flight), url_for("builds.list_page", result="in_progress"), "builds not yet ended"),
        Card("Success today", value, url_for("builds.dashboard_page"), detail, state,
             trend=daily_trend("builds-failed", principal, Build.created_at,
                               lambda stmt: restrict_visible(stmt.where(Build.result == "failed"), principal)),
             trend_label="failed builds per day"),
    ]
