"""Checks of the parts Gantry depends on, shared by /health/*, /ready, /status and the home page.

Capabilities add their own checks (GitHub, ECS) with `add_status_check(app, name, fn)`; `fn`
returns a dict with at least `ok` (bool) and runs in the app context. A check whose figures cost
more than its verdict also gives `brief`, which answers `ok` alone: the home page's one line of
system status asks for the verdict only, every 10 s from every open page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import text

from webapp.core import jobs
from webapp.core.metrics import Metric, gauge
from webapp.extensions import db

EXTENSION_KEY = "gantry.status_checks"
BRIEF_KEY = "gantry.status_briefs"
StatusCheck = Callable[[], dict[str, Any]]


def add_status_check(app: Flask, name: str, check: StatusCheck, brief: StatusCheck | None = None) -> None:
    app.extensions.setdefault(EXTENSION_KEY, {})[name] = check
    if brief is not None:
        app.extensions.setdefault(BRIEF_KEY, {})[name] = brief


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # each check reports its own failure; the page still renders
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        try:
            db.session.execute(text("SELECT 1"))
        finally:
            db.session.rollback()
        return {"ok": True, "dialect": db.engine.dialect.name}

    return _timed(probe)


def check_redis() -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        jobs.redis_connection().ping()
        return {"ok": True}

    return _timed(probe)


def readiness() -> tuple[bool, dict[str, Any]]:
    checks = {"database": check_database(), "redis": check_redis()}
    return all(c["ok"] for c in checks.values()), checks


def queue_figures() -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        return {
            "ok": True,
            "depths": jobs.queue_depths(),
            "failed": jobs.failed_job_count(),
            "running": jobs.started_job_count(),
            "workers": jobs.workers_seen(),
        }

    return _timed(probe)


def system_status() -> dict[str, Any]:
    """Everything /status shows: the core parts, the queues, and each capability's checks."""
    ready, checks = readiness()
    queues = queue_figures() if checks["redis"]["ok"] else {"ok": False, "error": "Redis unreachable"}
    extra = {name: _timed(check) for name, check in current_app.extensions.get(EXTENSION_KEY, {}).items()}
    components = {**checks, **extra}
    return {
        "ok": ready and all(c.get("ok") for c in extra.values()),
        "environment": current_app.config["ENVIRONMENT"],
        "components": components,
        "queues": queues,
    }


def system_ok() -> bool:
    """The verdict of system_status() (`ok`) without its figures: each check's brief form where it has one,
    stopping at the first part that is down."""
    ready, _ = readiness()
    if not ready:
        return False
    briefs = current_app.extensions.get(BRIEF_KEY, {})
    checks = current_app.extensions.get(EXTENSION_KEY, {})
    return all(_timed(briefs.get(name, check)).get("ok") for name, check in checks.items())


def queue_metrics() -> Iterable[Metric]:
    """Queue depths, failed and running jobs and live workers, read from Redis when /metrics is scraped."""
    depths = jobs.queue_depths()
    yield gauge("gantry_queue_depth", "Jobs waiting in each queue", ["queue"],
                [([name], depth) for name, depth in depths.items()])
    yield gauge("gantry_queue_failed_jobs", "Jobs in the failed registries", [], [([], jobs.failed_job_count())])
    yield gauge("gantry_queue_running_jobs", "Jobs being worked on", [], [([], jobs.started_job_count())])
    yield gauge("gantry_workers", "RQ workers seen in Redis", [], [([], len(jobs.workers_seen()))])
