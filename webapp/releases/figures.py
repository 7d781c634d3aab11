"""Delivery figures (the four DORA keys) per repository and environment, and their charts.

- deployment frequency: successful deployments per week;
- lead time for changes: from each shipped commit's author date to its successful deployment
  (median per week), measured in the environment asked for (the last one, production, by default);
- change failure rate: deployments that failed or were rolled back, out of all that finished;
- time to restore: from a failed / rolled-back deployment to the next success in that environment.

Charts are drawn on the server as SVG (bars with their values as titles), so pages need no script.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import url_for
from prometheus_client.core import Metric
from sqlalchemy import func, select

from webapp.auth.principal import Who
from webapp.core.metrics import gauge
from webapp.core.overview import Card, daily_trend
from webapp.extensions import db
from webapp.releases import environments, service
from webapp.releases.models import (
    FAILED,
    FINAL_STATUSES,
    IN_PROGRESS,
    PENDING_APPROVAL,
    QUEUED,
    ROLLED_BACK,
    SUCCEEDED,
    Deployment,
    Environment,
    Release,
)
from webapp.repos.access import restrict_to_visible

WEEKS = 12


@dataclass
class Chart:
    """Bars ready to draw: the template places them in a fixed viewBox, with the value axis in `ticks`."""

    title: str
    unit: str
    bars: list[dict[str, Any]]
    summary: str
    width: int = 360
    height: int = 150
    ticks: list[dict[str, Any]] = field(default_factory=list)
    left: int = 36
    baseline: int = 130


@dataclass
class _Finished:
    status: str
    finished_at: datetime
    commits: list[Any]


def _week_start(moment: datetime) -> datetime:
    day = moment - timedelta(days=moment.weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def _parse(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None


def _nice_top(value: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) the value axis ends at."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if value <= step * magnitude + 1e-9)


def _chart(title: str, unit: str, weeks: list[datetime], values: list[float | None], summary: str) -> Chart:
    top = _nice_top(max([v for v in values if v is not None] or [0]))
    width, height, left, bottom, above = 360, 150, 36, 20, 14  # `above`: room for the tallest bar's value
    baseline = height - bottom
    inner = baseline - above
    slot = (width - left) / max(len(weeks), 1)
    ticks = [{"y": round(baseline - inner * f, 1), "text": f"{top * f:g}"} for f in (0, 0.5, 1)]
    bars = []
    for i, (week, value) in enumerate(zip(weeks, values, strict=True)):
        h = 0.0 if value is None else inner * value / top
        bars.append({"x": round(left + i * slot + 2, 1), "w": round(slot - 4, 1), "y": round(baseline - h, 1),
                     "h": round(h, 1), "value": value, "label": week.strftime("%d %b"),
                     "mid": round(left + i * slot + slot / 2, 1),
                     "text": "no data" if value is None else f"{value:g} {unit}"})
    return Chart(title, unit, bars, summary, width, height, ticks, left, baseline)


def delivery_figures(who: Who, repository_id: int, environment_id: int | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
    """The four figures for the last WEEKS weeks, as charts and totals."""
    envs = environments.list_environments(who, repository_id)
    env: Environment | None
    if environment_id is not None:
        env = environments.get_environment(who, environment_id, repository_id)
    else:
        env = envs[-1] if envs else None
    moment = at or service.now()
    weeks = [_week_start(moment) - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    rows = _finished_deployments(env, weeks[0]) if env is not None else []
    series, all_lead, all_restore = _weekly_series(weeks, rows)
    finished = len(rows)
    failed = sum(1 for d in rows if d.status in (FAILED, ROLLED_BACK))
    succeeded = sum(1 for d in rows if d.status == SUCCEEDED)
    totals = {
        "deployments_per_week": round(succeeded / WEEKS, 2),
        "lead_time_hours": round(statistics.median(all_lead), 1) if all_lead else None,
        "change_failure_rate": round(100 * failed / finished, 1) if finished else None,
        "time_to_restore_hours": round(statistics.median(all_restore), 1) if all_restore else None,
        "deployments": finished,
    }
    charts = [
        _chart("Deployment frequency", "deploys", weeks, series["deployment_frequency"],
               f"{totals['deployments_per_week']:g} per week"),
        _chart("Lead time for changes", "h", weeks, series["lead_time_hours"],
               "median " + _fmt(totals["lead_time_hours"], "h")),
        _chart("Change failure rate", "%", weeks, series["change_failure_rate"],
               _fmt(totals["change_failure_rate"], "%")),
        _chart("Time to restore", "h", weeks, series["time_to_restore_hours"],
               "median " + _fmt(totals["time_to_restore_hours"], "h")),
    ]
    return {"environment": env, "environments": envs, "charts": charts, "totals": totals,
            "weeks": [w.date().isoformat() for w in weeks], "series": series}


def _fmt(value: float | None, unit: str) -> str:
    return "no data" if value is None else f"{value:g} {unit}"


def _finished_deployments(env: Environment, since: datetime) -> list[_Finished]:
    # Columns only (not ORM objects): this reads every finished deployment of twelve weeks.
    found = db.session.execute(
        select(Deployment.status, Deployment.finished_at, Release.notes_data["commits"])
        .join(Release, Release.id == Deployment.release_id)
        .where(Deployment.environment_id == env.id, Deployment.status.in_(FINAL_STATUSES),
               Deployment.finished_at >= since)
        .order_by(Deployment.finished_at)).all()
    return [_Finished(status, finished, commits or []) for status, finished, commits in found]


def _lead_hours(d: _Finished) -> list[float]:
    dates = [_parse(c.get("date")) for c in d.commits if isinstance(c, dict)]
    return [(d.finished_at - c).total_seconds() / 3600 for c in dates if c is not None]


def _restore_hours(d: _Finished, successes: list[datetime]) -> float | None:
    """Until the next success in the environment (`successes` sorted; they come later than `d`)."""
    index = bisect.bisect_right(successes, d.finished_at)
    if index == len(successes):
        return None
    return (successes[index] - d.finished_at).total_seconds() / 3600


def _weekly_series(weeks: list[datetime], rows: list[_Finished]
                   ) -> tuple[dict[str, list[float | None]], list[float], list[float]]:
    """Each figure week by week, and every lead time and time to restore of the whole period."""
    successes = sorted(d.finished_at for d in rows if d.status == SUCCEEDED)
    buckets: dict[datetime, list[_Finished]] = {w: [] for w in weeks}
    for d in rows:
        week = _week_start(d.finished_at)
        if week in buckets:
            buckets[week].append(d)
    freq: list[float | None] = []
    lead: list[float | None] = []
    cfr: list[float | None] = []
    ttr: list[float | None] = []
    all_lead: list[float] = []
    all_restore: list[float] = []
    for week in weeks:
        ds = buckets[week]
        ok = [d for d in ds if d.status == SUCCEEDED]
        bad = [d for d in ds if d.status in (FAILED, ROLLED_BACK)]
        freq.append(float(len(ok)))
        hours = [h for d in ok for h in _lead_hours(d)]
        all_lead += hours
        lead.append(round(statistics.median(hours), 1) if hours else None)
        cfr.append(round(100 * len(bad) / len(ds), 1) if ds else None)
        restores = [h for h in (_restore_hours(d, successes) for d in bad) if h is not None]
        all_restore += restores
        ttr.append(round(statistics.median(restores), 1) if restores else None)
    series = {"deployment_frequency": freq, "lead_time_hours": lead, "change_failure_rate": cfr,
              "time_to_restore_hours": ttr}
    return series, all_lead, all_restore


def collect_metrics() -> Iterable[Metric]:
    """Deployments by environment and status, and releases by status, at scrape time."""
    rows = db.session.execute(
        select(Environment.name, Deployment.status, func.count())
        .join(Environment, Environment.id == Deployment.environment_id)
        .group_by(Environment.name, Deployment.status)).all()
    yield gauge("gantry_deployments", "Deployments by environment name and status", ["environment", "status"],
                [([name, status], float(count)) for name, status, count in rows])
    releases = db.session.execute(select(Release.status, func.count()).group_by(Release.status)).all()
    yield gauge("gantry_releases", "Releases by status", ["status"],
                [([status], float(count)) for status, count in releases])


def overview_cards(principal: Who) -> list[Any]:
    """Cards for the overview page: what waits for approval, what is running, the last week."""

    def count(*conditions: Any) -> int:
        stmt = restrict_to_visible(select(func.count()).select_from(Deployment).where(*conditions),
                                   Deployment.repository_id, principal)
        return int(db.session.scalar(stmt) or 0)

    week_ago = service.now() - timedelta(days=7)
    waiting = count(Deployment.status == PENDING_APPROVAL)
    running = count(Deployment.status.in_((QUEUED, IN_PROGRESS)))
    shipped = count(Deployment.status == SUCCEEDED, Deployment.finished_at >= week_ago)
    failed = count(Deployment.status.in_((FAILED, ROLLED_BACK)), Deployment.finished_at >= week_ago)
    link = url_for("releases.index")
    return [
        Card("Awaiting approval", str(waiting), link, "deployments", "warn" if waiting else "neutral"),
        Card("Deploying", str(running), link, "queued or in progress"),
        Card("Deployed (7 d)", str(shipped), link, "successful deployments", "ok" if shipped else "neutral"),
        Card("Failed (7 d)", str(failed), link, "failed or rolled back", "failed" if failed else "ok",
             trend=daily_trend("deployments-failed", principal, Deployment.finished_at,
                               lambda stmt: restrict_to_visible(
                 stmt.where(Deployment.status.in_((FAILED, ROLLED_BACK))), Deployment.repository_id, principal)),
             trend_label="failed or rolled-back deployments per day"),
    ]
