"""Dashboards over builds: summary, recent, per platform, failures — cached per audience in Redis.

Each answer is plain JSON data (numbers, strings, ISO timestamps), computed by one or two grouped
passes over the covering, time-ordered indexes of `builds` and `build_failures`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select, text, tuple_

from webapp.auth.principal import Who
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


EXACT_MEDIAN_UP_TO = 2000  # finished builds per platform; above, the median comes from a per-minute histogram


def median_from_minutes(buckets: dict[int, int]) -> int:
    """The median of durations counted per whole minute, interpolated within its minute (±30 s)."""
    total = sum(buckets.values())
    middle = total / 2
    seen = 0
    for minute in sorted(buckets):
        count = buckets[minute]
        if seen + count >= middle:
            return round(60 * minute + 60 * (middle - seen) / count)
        seen += count
    return 0


def _platform_medians(since: datetime, principal: Who) -> dict[int, dict[str, Any]]:
    """Median duration and count of finished builds since `since`, per platform.

    Sorting ~80,000 durations costs more than the rest of the summary, so busy platforms get their
    median from a per-minute histogram (one hashed pass, no sort); the others get the exact one.
    """
    finished = (Build.created_at >= since, Build.duration_seconds.is_not(None))
    if _postgres():
        minute = Build.duration_seconds // 60
        histogram: dict[int, dict[int, int]] = defaultdict(dict)
        for pid, bucket, count in db.session.execute(restrict_visible(
                select(Build.platform_id, minute, func.count()).where(*finished).group_by(Build.platform_id, minute),
                principal)):
            histogram[pid][bucket] = count
        medians = {pid: {"median_seconds": median_from_minutes(b), "finished": sum(b.values())}
                   for pid, b in histogram.items()}
        small = [pid for pid, m in medians.items() if m["finished"] <= EXACT_MEDIAN_UP_TO]
        if small:
            exact = select(Build.platform_id, func.percentile_cont(0.5).within_group(Build.duration_seconds)).where(
                *finished, Build.platform_id.in_(small)).group_by(Build.platform_id)
            for pid, median in db.session.execute(restrict_visible(exact, principal)):
                medians[pid]["median_seconds"] = round(float(median))
        return medians
    durations: dict[int, list[int]] = defaultdict(list)
    for key, seconds in db.session.execute(restrict_visible(select(Build.platform_id, Build.duration_seconds)
                                                            .where(*finished), principal)):
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


def _day_key(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _day_rows(counts: dict[str, dict[str, int]], since: datetime) -> list[dict[str, Any]]:
    """One row per day since `since` (empty days included), with counts by result and success rate."""
    first = since.date()
    days = []
    for offset in range((utcnow().date() - first).days + 1):
        key = (first + timedelta(days=offset)).isoformat()
        row = {r: counts.get(key, {}).get(r, 0) for r in ("succeeded", "failed", "cancelled", "in_progress")}
        days.append({"day": key, **row, "total": sum(row.values()),
                     "success_rate": _rate(row["succeeded"], row["failed"])})
    return days


# --- summary -------------------------------------------------------------------------------


def summary(principal: Who) -> dict[str, Any]:
    """Counts by state and phase (30 days), builds in flight, success rates over 24 h / 7 d / 30 d,
    median duration by platform, and builds per day."""
    return cache.cached("summary", visibility_scope(principal), {}, lambda: _compute_summary(principal))


def _compute_summary(principal: Who) -> dict[str, Any]:
    now = utcnow()
    since = now - WINDOWS["30d"]
    states = {s.code: s for s in db.session.scalars(select(StateCode))}
    # One pass over the 30-day slice of the covering index gives states, days and all three windows.
    day = _day(Build.created_at)
    rows = db.session.execute(restrict_visible(
        select(day, Build.current_state_code, func.count(),
               func.count().filter(Build.created_at >= now - WINDOWS["24h"]),
               func.count().filter(Build.created_at >= now - WINDOWS["7d"]))
        .where(Build.created_at >= since).group_by(day, Build.current_state_code), principal)).all()
    by_code: dict[int, int] = defaultdict(int)
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    windows = {name: {"succeeded": 0, "failed": 0, "cancelled": 0} for name in WINDOWS}
    for value, code, count, last_day, last_week in rows:
        state = states.get(code)
        result = state.result if state else "in_progress"
        by_code[code] += count
        per_day[_day_key(value)][result] += count
        if result in windows["30d"]:
            windows["24h"][result] += last_day
            windows["7d"][result] += last_week
            windows["30d"][result] += count
    by_state = []
    by_phase: dict[str, int] = defaultdict(int)
    for code, count in sorted(by_code.items()):
        state = states.get(code)
        phase = state.phase if state else "unknown"
        by_state.append({"code": code, "name": state.name if state else str(code), "phase": phase, "count": count})
        by_phase[phase] += count
    success = {name: {**w, "rate": _rate(w["succeeded"], w["failed"])} for name, w in windows.items()}

    in_flight = db.session.scalar(restrict_visible(
        select(func.count()).select_from(Build).where(Build.result == "in_progress"), principal)) or 0
    platforms = {p.id: p for p in db.session.scalars(select(Platform))}
    medians = _platform_medians(since, principal)
    duration_by_platform = sorted(
        ({"platform": platforms[pid].slug, "name": platforms[pid].name, **values}
         for pid, values in medians.items() if pid in platforms),
        key=lambda item: item["platform"],
    )
    return {
        "generated_at": now.isoformat(),
        "window_days": DASHBOARD_DAYS,
        "total": sum(by_code.values()),
        "in_flight": in_flight,
        "by_state": by_state,
        "by_phase": dict(sorted(by_phase.items())),
        "success_rate": success,
        "duration_by_platform": duration_by_platform,
        "per_day": _day_rows(per_day, since),
    }


# --- recent --------------------------------------------------------------------------------


def recent(principal: Who, limit: int = RECENT_LIMIT) -> dict[str, Any]:
    """The newest builds and the builds still in flight."""
    return cache.cached("recent", visibility_scope(principal), {"limit": limit},
                        lambda: _compute_recent(principal, limit))


def _compute_recent(principal: Who, limit: int) -> dict[str, Any]:
    newest = db.session.scalars(restrict_visible(
        select(Build).order_by(Build.created_at.desc(), Build.id.desc()).limit(limit), principal))
    in_flight = db.session.scalars(restrict_visible(
        select(Build).where(Build.result == "in_progress").order_by(Build.current_state_at.desc()).limit(limit),
        principal))
    return {"generated_at": utcnow().isoformat(), "builds": [build_brief(b) for b in newest],
            "in_flight": [build_brief(b) for b in in_flight]}


# --- per platform --------------------------------------------------------------------------


def platform(slug: str, principal: Who) -> dict[str, Any]:
    """One platform over 30 days: results, success rate, durations, by OS version and image type."""
    entry = get_entry("platforms", slug)
    return cache.cached("platform", visibility_scope(principal), {"platform": entry.id},
                        lambda: _compute_platform(entry, principal))


def _compute_platform(entry: Platform, principal: Who) -> dict[str, Any]:
    now = utcnow()
    since = now - WINDOWS["30d"]
    mine = (Build.platform_id == entry.id, Build.created_at >= since)
    per_day, by_os, by_type = _platform_counts(mine, principal)
    medians = _platform_breakdown_medians(mine, principal)
    days = _day_rows(per_day, since)
    totals = {r: sum(d[r] for d in days) for r in ("succeeded", "failed", "cancelled", "in_progress")}
    latest = db.session.scalars(restrict_visible(
        select(Build).where(Build.platform_id == entry.id).order_by(Build.created_at.desc(), Build.id.desc())
        .limit(RECENT_LIMIT), principal))
    return {
        "generated_at": now.isoformat(),
        "platform": {"slug": entry.slug, "name": entry.name, "cloud": entry.cloud},
        "window_days": DASHBOARD_DAYS,
        "totals": {**totals, "total": sum(totals.values())},
        "success_rate": _rate(totals["succeeded"], totals["failed"]),
        "median_seconds": medians["all"].get(0),
        "by_os_version": _breakdown(by_os, medians["os"], OsVersion),
        "by_image_type": _breakdown(by_type, medians["type"], ImageType),
        "per_day": days,
        "recent": [build_brief(b) for b in latest],
    }


Counts = dict[int, dict[str, int]]


def _platform_counts(mine: tuple[Any, ...], principal: Who) -> tuple[dict[str, dict[str, int]], Counts, Counts]:
    """Builds by day, by OS version and by image type, each split by result."""
    day = _day(Build.created_at)
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_os: Counts = defaultdict(lambda: defaultdict(int))
    by_type: Counts = defaultdict(lambda: defaultdict(int))
    if _postgres():  # one pass, three groupings
        stmt = (select(day, Build.os_version_id, Build.image_type_id, Build.result,
                       func.grouping(day, Build.os_version_id, Build.image_type_id), func.count())
                .where(*mine).group_by(func.grouping_sets(tuple_(day, Build.result), tuple_(Build.os_version_id,
                                                          Build.result), tuple_(Build.image_type_id, Build.result))))
        for value, os_id, type_id, result, grouping, count in db.session.execute(restrict_visible(stmt, principal)):
            if grouping == 0b011:
                per_day[_day_key(value)][result] += count
            elif grouping == 0b101:
                by_os[os_id][result] += count
            else:
                by_type[type_id][result] += count
        return per_day, by_os, by_type
    stmt = (select(day, Build.os_version_id, Build.image_type_id, Build.result, func.count()).where(*mine)
            .group_by(day, Build.os_version_id, Build.image_type_id, Build.result))
    for value, os_id, type_id, result, count in db.session.execute(restrict_visible(stmt, principal)):
        per_day[_day_key(value)][result] += count
        by_os[os_id][result] += count
        by_type[type_id][result] += count
    return per_day, by_os, by_type


def _platform_breakdown_medians(mine: tuple[Any, ...], principal: Who) -> dict[str, dict[int, int]]:
    """Median durations of the platform's finished builds: overall ("all": {0: ...}), per OS, per type."""
    finished = (*mine, Build.duration_seconds.is_not(None))
    medians: dict[str, dict[int, int]] = {"all": {}, "os": {}, "type": {}}
    if _postgres():
        db.session.execute(text("SET LOCAL work_mem = '32MB'"))
        stmt = (select(Build.os_version_id, Build.image_type_id,
                       func.grouping(Build.os_version_id, Build.image_type_id),
                       func.percentile_cont(0.5).within_group(Build.duration_seconds))
                .where(*finished).group_by(func.grouping_sets(tuple_(Build.os_version_id),
                                                              tuple_(Build.image_type_id), tuple_())))
        for os_id, type_id, grouping, median in db.session.execute(restrict_visible(stmt, principal)):
            if grouping == 0b01:
                medians["os"][os_id] = round(float(median))
            elif grouping == 0b10:
                medians["type"][type_id] = round(float(median))
            else:
                medians["all"][0] = round(float(median))
        return medians
    durations: dict[str, dict[int, list[int]]] = {"all": defaultdict(list), "os": defaultdict(list),
                                                  "type": defaultdict(list)}
    for os_id, type_id, seconds in db.session.execute(restrict_visible(
            select(Build.os_version_id, Build.image_type_id, Build.duration_seconds).where(*finished), principal)):
        durations["all"][0].append(seconds)
        durations["os"][os_id].append(seconds)
        durations["type"][type_id].append(seconds)
    return {kind: {k: round(statistics.median(v)) for k, v in values.items()} for kind, values in durations.items()}


def _breakdown(counts: Counts, medians: dict[int, int], model: Any) -> list[dict[str, Any]]:
    names = {m.id: m.slug for m in db.session.scalars(select(model))}
    return sorted(
        ({"slug": names.get(key, str(key)), "total": sum(c.values()), "succeeded": c["succeeded"],
          "failed": c["failed"], "success_rate": _rate(c["succeeded"], c["failed"]),
          "median_seconds": medians.get(key)} for key, c in counts.items()),
        key=lambda item: (-item["total"], item["slug"]),
    )


# --- failures ------------------------------------------------------------------------------


def failures(principal: Who, limit: int = 10) -> dict[str, Any]:
    """Top failing components and error codes over 7 and 30 days, with first and last seen."""
    return cache.cached("failures", visibility_scope(principal), {"limit": limit},
                        lambda: _compute_failures(principal, limit))


def _top(column: Any, now: datetime, principal: Who, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Both windows from one pass over the failures' covering index."""
    week = BuildFailure.occurred_at >= now - WINDOWS["7d"]
    builds = func.count(func.distinct(BuildFailure.build_id))
    stmt = (select(column, func.count(), builds, func.min(BuildFailure.occurred_at), func.max(BuildFailure.occurred_at),
                   func.count().filter(week), builds.filter(week), func.min(BuildFailure.occurred_at).filter(week))
            .where(BuildFailure.occurred_at >= now - WINDOWS["30d"]).group_by(column))
    rows = db.session.execute(restrict_visible(stmt, principal, BuildFailure.repository_id)).all()
    month, last_week = [], []
    for name, count, build_count, first, last, week_count, week_builds, week_first in rows:
        label = name or "(none)"
        month.append({"name": label, "failures": count, "builds": build_count, "first_seen": first.isoformat(),
                      "last_seen": last.isoformat()})
        if week_count:
            last_week.append({"name": label, "failures": week_count, "builds": week_builds,
                              "first_seen": week_first.isoformat(), "last_seen": last.isoformat()})
    return {
        window: sorted(items, key=lambda item: (-item["failures"], item["name"]))[:limit]
        for window, items in (("7d", last_week), ("30d", month))
    }


def _compute_failures(principal: Who, limit: int) -> dict[str, Any]:
    now = utcnow()
    components = _top(BuildFailure.component, now, principal, limit)
    codes = _top(BuildFailure.error_code, now, principal, limit)
    return {"generated_at": now.isoformat(),
            **{w: {"components": components[w], "error_codes": codes[w]} for w in ("7d", "30d")}}
