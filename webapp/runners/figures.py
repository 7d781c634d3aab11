"""Figures about runners, read from the database so /metrics and the pages agree across processes:
runners by state per pool, job wait (queued -> in progress) histograms, launch failures by reason,
runner-seconds and estimated cost per pool, repository and day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import case, func, select

from webapp.auth.principal import Who
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.repos.models import Repository
from webapp.runners.models import Runner, RunnerEvent, RunnerPool, WorkflowJob

WAIT_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _seconds_between(start: Any, end: Any) -> Any:
    """end - start in seconds, in SQL that PostgreSQL and SQLite both run."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _pool_names() -> dict[int, str]:
    return dict(db.session.execute(select(RunnerPool.id, RunnerPool.name)).tuples().all())


def runners_by_state(pool_id: int | None = None) -> dict[int, dict[str, int]]:
    stmt = select(Runner.pool_id, Runner.state, func.count()).group_by(Runner.pool_id, Runner.state)
    if pool_id is not None:
        stmt = stmt.where(Runner.pool_id == pool_id)
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, state, count in db.session.execute(stmt):
        result[pid][state] = count
    return dict(result)


@dataclass
class WaitHistogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count); the last bound is +Inf
    count: int
    total_seconds: float

    @property
    def bars(self) -> list[tuple[str, int]]:
        """Per-bucket (not cumulative) counts with readable labels, for the page's chart."""
        bars, previous, low = [], 0, 0.0
        for bound, cumulative in self.buckets:
            label = f"> {_short(low)}" if bound == float("inf") else f"≤ {_short(bound)}"
            bars.append((label, cumulative - previous))
            previous, low = cumulative, bound
        return bars

    @property
    def average(self) -> float | None:
        return self.total_seconds / self.count if self.count else None


def _short(seconds: float) -> str:
    return f"{int(seconds // 60)} min" if seconds >= 60 else f"{int(seconds)} s"


def wait_histograms(pool_id: int | None = None, since: datetime | None = None) -> dict[int, WaitHistogram]:
    """Cumulative wait histograms per pool, over jobs that started (optionally since a time)."""
    wait = _seconds_between(WorkflowJob.queued_at, WorkflowJob.started_at)
    columns = [func.sum(case((wait <= bound, 1), else_=0)) for bound in WAIT_BUCKETS]
    stmt = (select(WorkflowJob.pool_id, func.count(), func.coalesce(func.sum(wait), 0), *columns)
            .where(WorkflowJob.pool_id.is_not(None), WorkflowJob.started_at.is_not(None))
            .group_by(WorkflowJob.pool_id))
    if pool_id is not None:
        stmt = stmt.where(WorkflowJob.pool_id == pool_id)
    if since is not None:
        stmt = stmt.where(WorkflowJob.started_at >= since)
    result = {}
    for pid, count, total, *cumulative in db.session.execute(stmt):
        buckets = [(bound, int(c or 0)) for bound, c in zip(WAIT_BUCKETS, cumulative, strict=True)]
        buckets.append((float("inf"), int(count)))
        result[pid] = WaitHistogram(buckets, int(count), float(total or 0))
    return result


def launch_failures(pool_id: int | None = None, since: datetime | None = None) -> list[tuple[int, str, int]]:
    """(pool id, reason, count) of failed launch attempts."""
    stmt = (select(RunnerEvent.pool_id, func.coalesce(RunnerEvent.reason, "unknown"), func.count())
            .where(RunnerEvent.kind == "launch_failed").group_by(RunnerEvent.pool_id, RunnerEvent.reason))
    if pool_id is not None:
        stmt = stmt.where(RunnerEvent.pool_id == pool_id)
    if since is not None:
        stmt = stmt.where(RunnerEvent.at >= since)
    return [(int(p), str(r), int(c)) for p, r, c in db.session.execute(stmt)]


def usage_totals() -> list[tuple[int, int | None, float, float]]:
    """(pool id, repository id, runner-seconds, cost) over every runner that got a task."""
    end = func.coalesce(Runner.task_stopped_at, Runner.ended_at, func.now())
    seconds = _seconds_between(Runner.launching_at, end)
    stmt = (select(Runner.pool_id, Runner.repository_id, func.sum(seconds), func.sum(seconds * Runner.hourly_cost))
            .where(Runner.launching_at.is_not(None)).group_by(Runner.pool_id, Runner.repository_id))
    return [(int(p), r, float(s or 0), float(c or 0) / 3600) for p, r, s, c in db.session.execute(stmt)]


@dataclass
class DayUsage:
    day: date
    pool: str
    repository: str
    seconds: float
    cost: float


def usage_by_day(who: Who, *, days: int = 14, pool_id: int | None = None) -> list[DayUsage]:
    """Runner-seconds and cost per day, pool and repository (a runner spanning midnight is split)."""
    now = utcnow()
    start = datetime.combine((now - timedelta(days=days - 1)).date(), datetime.min.time(), tzinfo=now.tzinfo)
    stmt = restrict_to_visible(select(Runner), Runner.repository_id, who).where(
        Runner.launching_at.is_not(None),
        func.coalesce(Runner.task_stopped_at, Runner.ended_at, now) >= start)
    if pool_id is not None:
        stmt = stmt.where(Runner.pool_id == pool_id)
    names = _pool_names()
    repos = dict(db.session.execute(select(Repository.id, Repository.full_name)).tuples().all())
    totals: dict[tuple[date, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for runner in db.session.scalars(stmt).unique():
        assert runner.launching_at is not None
        begin = max(runner.launching_at, start)
        end = runner.task_stopped_at or runner.ended_at or now
        key_pool = names.get(runner.pool_id, str(runner.pool_id))
        key_repo = repos.get(runner.repository_id, "(no job yet)") if runner.repository_id else "(no job yet)"
        for day, seconds in _split_by_day(begin, end):
            entry = totals[(day, key_pool, key_repo)]
            entry[0] += seconds
            entry[1] += seconds / 3600 * float(runner.hourly_cost)
    return [DayUsage(day, pool, repo, s, c) for (day, pool, repo), (s, c) in sorted(totals.items(), reverse=True)]


def _split_by_day(begin: datetime, end: datetime) -> Iterable[tuple[date, float]]:
    cursor = begin
    for _ in range(400):  # bounded: no runner lives a year
        if cursor >= end:
            return
        midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), tzinfo=cursor.tzinfo)
        upto = min(end, midnight)
        yield cursor.date(), (upto - cursor).total_seconds()
        cursor = upto


# --- /metrics ----------------------------------------------------------------------------------


def collect_metrics() -> Iterable[Metric]:
    names = _pool_names()
    states = GaugeMetricFamily("gantry_runners", "Runners per pool and state", labels=["pool", "state"])
    for pool_id, counts in sorted(runners_by_state().items()):
        for state, count in sorted(counts.items()):
            states.add_metric([names.get(pool_id, str(pool_id)), state], count)
    yield states
    waits = HistogramMetricFamily("gantry_runner_job_wait_seconds",
                                  "Time jobs waited from queued to in progress, per pool", labels=["pool"])
    for pool_id, hist in sorted(wait_histograms().items()):
        buckets = [("+Inf" if b == float("inf") else str(b), c) for b, c in hist.buckets]
        waits.add_metric([names.get(pool_id, str(pool_id))], buckets, hist.total_seconds)
    yield waits
    failures = CounterMetricFamily("gantry_runner_launch_failures", "Failed launch attempts by pool and reason",
                                   labels=["pool", "reason"])
    for pool_id, reason, count in sorted(launch_failures()):
        failures.add_metric([names.get(pool_id, str(pool_id)), reason], count)
    yield failures
    repos = dict(db.session.execute(select(Repository.id, Repository.full_name)).tuples().all())
    seconds = CounterMetricFamily("gantry_runner_seconds", "Runner-seconds (task launched to stopped)",
                                  labels=["pool", "repository"])
    cost = CounterMetricFamily("gantry_runner_cost_usd", "Estimated runner cost in USD from the pool's rates",
                               labels=["pool", "repository"])
    waiting = GaugeMetricFamily("gantry_runner_jobs_waiting", "Jobs queued or waiting for a runner, per pool",
                                labels=["pool"])
    for pool_id, repo_id, secs, usd in sorted(usage_totals(), key=lambda r: (r[0], r[1] or 0)):
        labels = [names.get(pool_id, str(pool_id)), repos.get(repo_id, "") if repo_id else ""]
        seconds.add_metric(labels, secs)
        cost.add_metric(labels, usd)
    yield seconds
    yield cost
    for pool_id, count in db.session.execute(
            select(WorkflowJob.pool_id, func.count()).where(WorkflowJob.status.in_(("queued", "waiting")))
            .group_by(WorkflowJob.pool_id)):
        waiting.add_metric([names.get(pool_id, "unmatched") if pool_id else "unmatched"], count)
    yield waiting
