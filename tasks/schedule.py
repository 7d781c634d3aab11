"""Periodic jobs, declared as data. Each runs on one worker per interval, whichever claims it first.

Every capability's task module declares its own `PERIODIC` list; this module gathers them.
"""

from __future__ import annotations

from tasks.forwarding import PERIODIC as FORWARDING_PERIODIC
from tasks.releases import PERIODIC as RELEASES_PERIODIC
from tasks.repos import PERIODIC as REPOS_PERIODIC
from tasks.runners import PERIODIC as RUNNERS_PERIODIC
from tasks.sync import PERIODIC as SYNC_PERIODIC
from tasks.webhooks import PERIODIC as WEBHOOKS_PERIODIC
from webapp.core.jobs import Periodic

PERIODIC_JOBS: list[Periodic] = [
    *WEBHOOKS_PERIODIC,
    *REPOS_PERIODIC,
    *FORWARDING_PERIODIC,
    *RUNNERS_PERIODIC,
    *RELEASES_PERIODIC,
    *SYNC_PERIODIC,
]
