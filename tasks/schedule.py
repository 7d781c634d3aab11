"""Periodic jobs, declared as data. Each runs on one worker per interval, whichever claims it first."""

from __future__ import annotations

from webapp.core.jobs import Periodic

PERIODIC_JOBS: list[Periodic] = []
