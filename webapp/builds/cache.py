"""Dashboard answers cached in Redis under a generation number that every build write bumps.

A write commits, then bumps the generation, then answers; a read that starts after that answer
reads the new generation and so never sees an answer computed before the write. Old generations
expire on their own. Without Redis, dashboards are computed on every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, cast

from flask import current_app
from redis.exceptions import RedisError

from webapp.core.jobs import redis_connection

log = logging.getLogger(__name__)

GENERATION_KEY = "gantry:builds:generation"


def bump_generation() -> None:
    """Make every cached dashboard answer obsolete (call after the write has committed)."""
    try:
        redis_connection().incr(GENERATION_KEY)
    except RedisError:
        log.warning("could not bump the builds dashboard generation; cached answers expire on their own")


def cached(name: str, scope: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """The cached answer for (name, scope, params) at the current generation, computing it when missing."""
    ttl = current_app.config["BUILDS_DASHBOARD_CACHE_SECONDS"]
    if ttl <= 0:
        return compute()
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    try:
        redis = redis_connection()
        generation = int(cast(bytes | None, redis.get(GENERATION_KEY)) or 0)
        key = f"gantry:builds:dash:{generation}:{name}:{scope}:{digest}"
        raw = cast(bytes | None, redis.get(key))
    except RedisError:
        return compute()
    if raw is not None:
        return json.loads(raw)
    value = compute()
    with contextlib.suppress(RedisError):
        redis.set(key, json.dumps(value, default=str), ex=ttl)
    return value
