"""RQ entry points, one module per capability: take ids, call one service, raise on failure.

Only the worker imports this package; the rest of Gantry names tasks by their dotted path
(`jobs.defer("tasks.runners.launch_runner", ...)`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from webapp.core import jobs
from webapp.integrations.github import GitHubRateLimited

F = TypeVar("F", bound=Callable[..., Any])


def again_when_rate_limited(job_id: Callable[..., str], *, queue: str = "default") -> Callable[[F], F]:
    """Run the task again once GitHub's rate limit lifts, instead of keeping a worker waiting for it.

    `job_id(*args)` names the later run (its own id: the current job is still running).
    """

    def wrap(task: F) -> F:
        name = f"{task.__module__}.{task.__name__}"

        @functools.wraps(task)
        def run(*args: Any) -> Any:
            try:
                return task(*args)
            except GitHubRateLimited as exc:
                wait = max(int(exc.retry_after or 60), 1)
                jobs.enqueue(name, *args, job_id=job_id(*args), queue=queue, delay=timedelta(seconds=wait))
                return f"rate limited; again in {wait}s"

        return cast(F, run)

    return wrap
