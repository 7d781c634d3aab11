"""Dashboards over builds: summary, recent, per platform, failures — cached per audience in Redis.

Each answer is plain JSON data (numbers, strings, ISO timestamps), computed by a few grouped
queries over the time-windowed indexes of `builds` and `build_failures`, never by walking rows.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, cast, func, select

from webapp.builds import cache
from webapp.builds.catalog_service import get_entry
from webapp.builds.models import Build, BuildFailure, ImageType, OsVersion, Platform, StateCode
from webapp.builds.service import restrict_visible, visibility_scope
from webapp.core.models import utcnow
from webapp.extensions import db

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DASHBOARD_DAYS = 30
RECENT_LIMIT = 20


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column."""
    if _postgres():
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _rate(succeeded: int, failed: int) -> float | None:
    """Success rate among builds that finished one way or the other (cancellations do not count)."""
    finished = succeeded + failed
    return round(succeeded / finished, 4) if finished else None


def _medians(group_column: Any, since: datetime, principal: Any, extra: Any = None) -> dict[int, dict[str, Any]]:
    """Median duration and count of finished builds since `since`, per value of `group_column`."""
    where = [Build.created_at >= since, Build.duration_seconds.is_not(None)]
    if extra is not None:
        where.append(extra)
    if _postgres():
        stmt = select(group_column, func.percentile_cont(0.5).within_group(Build.duration_seconds),
                      func.count()).where(*where).group_by(group_column)
        rows = db.session.execute(restrict_visible(stmt, principal)).all()
        return {key: {"median_seconds": round(float(median)), "finished": count} for key, median, count in rows}
    durations: dict[int, list[int]] = defaultdict(list)
    for key, seconds in db.session.execute(restrict_visible(select(group_column, Build.duration_seconds)
                                                            .where(*where), principal)):
        durations[key].append(seconds)
    return {k: {"median_seconds": round(statistics.median(v)), "finished": len(v)} for k, v in durations.items()}


def build_brief(build: Build) -> dict[str, Any]:
    """A build as dashboards and lists show it."""
    return {
        "uuid": str(build.uuid),
        "build_id": build.build_id,
        "platform": build.platform.slug,
        "os_version": build.os_version.slug,
        "image_type": build.image_type.slug,
        "repository": build.repository.full_name if build.repository is not None else None,
        "commit_hash": build.commit_hash,
        "state_code": build.current_state_code,
        "state_name": build.current_state.name,
        "phase": build.current_state.phase,
        "result": build.result,
        "created_at": build.created_at.isoformat(),
        "updated_at": build.current_state_at.isoformat(),
        "duration_seconds": build.duration_seconds,
        "failure_count": build.failure_count,
    }


def _per_day(since: datetime, principal: Any, extra: Any = None) -> list[dict[str, Any]]:
    day = _day(Build.created_at)
    stmt = select(day, Build.result, func.count()).where(Build.created_at >= since)
    if extra is not None:
        stmt = stmt.where(extra)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {r: 0 for r in ("succeeded", "failed", "cancelled",
                                                                              "in_progress")})
    for value, result, count in db.session.execute(restrict_visible(stmt.group_by(day, Build.result), principal)):
        key = value.isoformat() if isinstance(value, date) else str(value)
        counts[key][result] = count
    first = since.date()
    days = []
    for offset in range((utcnow().date() - first).days + 1):
        key = (first + timedelta(days=offset)).isoformat()
        row = counts.get(key, {"succeeded": 0, "failed": 0, "cancelled": 0, "in_progress": 0})
        days.append({"day": key, **row, "total": sum(row.values()),
                     "success_rate": _rate(row["succeeded"], row["failed"])})
    return days


# --- summary -------------------------------------------------------------------------------


def summary(principal: Any) -> dict[str, Any]:
    """Counts by state and phase (30 days), builds in flight, success rates over 24 h / 7 d / 30 d,
    median duration by platform, and builds per day."""
    return cache.cached("summary", visibility_scope(principal), {}, lambda: _compute_summary(principal))


def _compute_summary(principal: Any) -> dict[str, Any]:
    now = utcnow()
    since = now - WINDOWS["30d"]
    states = {s.code: s for s in db.session.scalars(select(StateCode))}
    by_state_rows = db.session.execute(restrict_visible(
        select(Build.current_state_code, func.count()).where(Build.created_at >= since)
        .group_by(Build.current_state_code), principal)).all()
    by_state = []
    by_phase: dict[str, int] = defaultdict(int)
    for code, count in sorted(by_state_rows):
        state = states.get(code)
        phase = state.phase if state else "unknown"
        by_state.append({"code": code, "name": state.name if state else str(code), "phase": phase, "count": count})
        by_phase[phase] += count

    aggregates = []
    for window in WINDOWS.values():
        recent = Build.created_at >= now - window
        for result in ("succeeded", "failed", "cancelled"):
            aggregates.append(func.count().filter(and_(recent, Build.result == result)))
    row = db.session.execute(restrict_visible(select(*aggregates).where(Build.created_at >= since), principal)).one()
    success: dict[str, Any] = {}
    for i, name in enumerate(WINDOWS):
        succeeded, failed, cancelled = row[i * 3: i * 3 + 3]
        success[name] = {"succeeded": succeeded, "failed": failed, "cancelled": cancelled,
                         "rate": _rate(succeeded, failed)}

    in_flight = db.session.scalar(restrict_visible(
        select(func.count()).select_from(Build).where(Build.result == "in_progress"), principal)) or 0
    platforms = {p.id: p for p in db.session.scalars(select(Platform))}
    medians = _medians(Build.platform_id, since, principal)
    duration_by_platform = sorted(
        ({"platform": platforms[pid].slug, "name": platforms[pid].name, **values}
         for pid, values in medians.items() if pid in platforms),
        key=lambda item: item["platform"],
    )
    return {
        "generated_at": now.isoformat(),
        "window_days": DASHBOARD_DAYS,
        "total": sum(item["count"] for item in by_state),
        "in_flight": in_flight,
        "by_state": by_state,
        "by_phase": dict(sorted(by_phase.items())),
        "success_rate": success,
        "duration_by_platform": duration_by_platform,
        "per_day": _per_day(since, principal),
    }


# --- recent --------------------------------------------------------------------------------


def recent(principal: Any, limit: int = RECENT_LIMIT) -> dict[str, Any]:
    """The newest builds and the builds still in flight."""
    return cache.cached("recent", visibility_scope(principal), {"limit": limit},
                        lambda: _compute_recent(principal, limit))


def _compute_recent(principal: Any, limit: int) -> dict[str, Any]:
    newest = db.session.scalars(restrict_visible(
        select(Build).order_by(Build.created_at.desc(), Build.id.desc()).limit(limit), principal))
    in_flight = db.session.scalars(restrict_visible(
        select(Build).where(Build.result == "in_progress").order_by(Build.current_state_at.desc()).limit(limit),
        principal))
    return {"generated_at": utcnow().isoformat(), "builds": [build_brief(b) for b in newest],
            "in_flight": [build_brief(b) for b in in_flight]}


# --- per platform --------------------------------------------------------------------------


def platform(slug: str, principal: Any) -> dict[str, Any]:
    """One platform over 30 days: results, success rate, durations, by OS version and image type."""
    entry = get_entry("platforms", slug)
    return cache.cached("platform", visibility_scope(principal), {"platform": entry.id},
                        lambda: _compute_platform(entry, principal))


def _breakdown(column: Any, model: Any, since: datetime, entry: Platform, principal: Any) -> list[dict[str, Any]]:
    names = {m.id: m.slug for m in db.session.scalars(select(model))}
    stmt = (select(column, Build.result, func.count())
            .where(Build.platform_id == entry.id, Build.created_at >= since).group_by(column, Build.result))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, result, count in db.session.execute(restrict_visible(stmt, principal)):
        counts[key][result] += count
    medians = _medians(column, since, principal, Build.platform_id == entry.id)
    return sorted(
        ({"slug": names.get(key, str(key)), "total": sum(c.values()), "succeeded": c["succeeded"],
          "failed": c["failed"], "success_rate": _rate(c["succeeded"], c["failed"]),
          "median_seconds": medians.get(key, {}).get("median_seconds")} for key, c in counts.items()),
        key=lambda item: (-item["total"], item["slug"]),
    )


def _compute_platform(entry: Platform, principal: Any) -> dict[str, Any]:
    now = utcnow()
    since = now - WINDOWS["30d"]
    mine = Build.platform_id == entry.id
    latest = db.session.scalars(restrict_visible(
        select(Build).where(mine).order_by(Build.created_at.desc(), Build.id.desc()).limit(RECENT_LIMIT), principal))
    days = _per_day(since, principal, mine)
    totals = {r: sum(d[r] for d in days) for r in ("succeeded", "failed", "cancelled", "in_progress")}
    median = _medians(Build.platform_id, since, principal, mine).get(entry.id, {})
    return {
        "generated_at": now.isoformat(),
        "platform": {"slug": entry.slug, "name": entry.name, "cloud": entry.cloud},
        "window_days": DASHBOARD_DAYS,
        "totals": {**totals, "total": sum(totals.values())},
        "success_rate": _rate(totals["succeeded"], totals["failed"]),
        "median_seconds": median.get("median_seconds"),
        "by_os_version": _breakdown(Build.os_version_id, OsVersion, since, entry, principal),
        "by_image_type": _breakdown(Build.image_type_id, ImageType, since, entry, principal),
        "per_day": days,
        "recent": [build_brief(b) for b in latest],
    }


# --- failures ------------------------------------------------------------------------------


def failures(principal: Any, limit: int = 10) -> dict[str, Any]:
    """Top failing components and error codes over 7 and 30 days, with first and last seen."""
    return cache.cached("failures", visibility_scope(principal), {"limit": limit},
                        lambda: _compute_failures(principal, limit))


def _top(column: Any, since: datetime, principal: Any, limit: int) -> list[dict[str, Any]]:
    stmt = (select(column, func.count(), func.count(func.distinct(BuildFailure.build_id)),
                   func.min(BuildFailure.occurred_at), func.max(BuildFailure.occurred_at))
            .where(BuildFailure.occurred_at >= since).group_by(column)
            .order_by(func.count().desc(), column).limit(limit))
    if visibility_scope(principal) != "all":  # only then is the join to builds needed
        stmt = restrict_visible(stmt.join(Build, Build.id == BuildFailure.build_id), principal)
    return [{"name": name or "(none)", "failures": count, "builds": builds, "first_seen": first.isoformat(),
             "last_seen": last.isoformat()} for name, count, builds, first, last in db.session.execute(stmt)]


def _compute_failures(principal: Any, limit: int) -> dict[str, Any]:
    now = utcnow()
    windows = {}
    for name in ("7d", "30d"):
        since = now - WINDOWS[name]
        windows[name] = {
            "components": _top(BuildFailure.component, since, principal, limit),
            "error_codes": _top(BuildFailure.error_code, since, principal, limit),
        }
    return {"generated_at": now.isoformat(), **windows}
