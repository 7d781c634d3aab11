"""Limits shared by every worker through Redis: the content-creation budget and the branch lock.

GitHub's secondary limits allow about 80 content-creating requests a minute and 500 an hour per
installation. Each write takes a slot from fixed windows kept in Redis, so all workers together
stay under them; a run that finds no slot waits (re-enqueued for when the window opens) instead
of being throttled half-way.

The branch lock is redis-py's `Lock`: a random token per holder, released only by its holder
(a run that outlived the lock's timeout cannot free the next run's lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from redis.exceptions import LockError

from webapp.core.jobs import redis_connection

# KEYS: minute window, hour window. ARGV: n, per-minute limit, per-hour limit, minute ttl, hour ttl.
# Returns 0 when the slots were taken, else the number of seconds until a window has room.
_TAKE = """
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local h = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = tonumber(ARGV[1])
if m + n > tonumber(ARGV[2]) then return tonumber(ARGV[4]) end
if h + n > tonumber(ARGV[3]) then return tonumber(ARGV[5]) end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], 61)
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], 3601)
return 0
"""

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The run cannot go on now; try again in `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExhausted(RetryLater):
    """No room in the installation's write budget until a window opens."""

    def __init__(self, installation_id: int, retry_after: int) -> None:
        super().__init__(f"installation {installation_id} used its GitHub write budget; retry in {retry_after}s",
                         retry_after)


class BranchBusy(Exception):
    """Another sync holds the lock of this repository and branch."""


def _keys(installation_id: int, now: float) -> tuple[str, str]:
    minute, hour = int(now // 60), int(now // 3600)
    return (f"gantry:sync:budget:{installation_id}:m:{minute}", f"gantry:sync:budget:{installation_id}:h:{hour}")


def take(installation_id: int, slots: int) -> None:
    """Take `slots` content-creating requests from the installation's budget, or raise BudgetExhausted."""
    now = time.time()
    per_minute = int(current_app.config["SYNC_WRITES_PER_MINUTE"])
    per_hour = int(current_app.config["SYNC_WRITES_PER_HOUR"])
    answer: Any = redis_connection().eval(
        _TAKE, 2, *_keys(installation_id, now), slots, per_minute, per_hour,
        60 - int(now % 60) or 1, 3600 - int(now % 3600) or 1,
    )
    wait = int(answer)
    if wait:
        raise BudgetExhausted(installation_id, wait)


def used(installation_id: int) -> dict[str, int]:
    """Writes counted in the current minute and hour windows (for status pages)."""
    minute_key, hour_key = _keys(installation_id, time.time())
    values: Any = redis_connection().mget([minute_key, hour_key])
    return {"minute": int(values[0] or 0), "hour": int(values[1] or 0)}


@contextmanager
def branch_lock(repository_id: int, branch: str, ttl: int) -> Iterator[None]:
    """Hold the one-sync-at-a-time lock of a repository and branch for at most `ttl` seconds, or raise BranchBusy."""
    lock = redis_connection().lock(f"gantry:sync:lock:{repository_id}:{branch}", timeout=ttl)
    if not lock.acquire(blocking=False):
        raise BranchBusy(f"another sync of {branch} is running")
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("sync of %s outlived its %ss branch lock (SYNC_LOCK_SECONDS)", branch, ttl)
