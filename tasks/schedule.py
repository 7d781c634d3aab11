"""Periodic jobs, declared as data. Each runs on one worker per interval, whichever claims it first.

Every capability's task module declares its own `PERIODIC` list; this module gathers them.
"""

from __future__ import annotations

from tasks.releases import PERIODIC as RELEASES_PERIODIC
from webapp.core.jobs import Periodic

PERIODIC_JOBS: list[Periodic] = [*RELEASES_PERIODIC]

from tasks.webhooks import PERIODIC as WEBHOOKS_PERIODIC  # noqa: E402

PERIODIC_JOBS.extend(WEBHOOKS_PERIODIC)

from tasks.repos import PERIODIC as REPOS_PERIODIC  # noqa: E402

PERIODIC_JOBS.extend(REPOS_PERIODIC)

from tasks.sync import PERIODIC as SYNC_PERIODIC  # noqa: E402

PERIODIC_JOBS.extend(SYNC_PERIODIC)

from tasks.forwarding import PERIODIC as FORWARDING_PERIODIC  # noqa: E402

PERIODIC_JOBS.extend(FORWARDING_PERIODIC)

from tasks.runners import PERIODIC as RUNNERS_PERIODIC  # noqa: E402

PERIODIC_JOBS.extend(RUNNERS_PERIODIC)
