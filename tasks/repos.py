"""GitHub mirror jobs: full reconcile of installations and repositories, per-user access refresh.

A rate limit never keeps a worker waiting: the job schedules itself again for when GitHub
allows it and returns.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from webapp.core.jobs import Periodic, enqueue
from webapp.integrations.github import GitHubRateLimited, needs_github_app, needs_github_sign_in

RECONCILE_EVERY = 3600
ACCESS_SYNC_EVERY = 900


@needs_github_app
def reconcile_installations() -> dict[str, int] | str:
    """Make installations and repositories match GET /app/installations and /installation/repositories."""
    from webapp.repos import mirror

    try:
        return mirror.reconcile_installations()
    except GitHubRateLimited as exc:
        _later(reconcile_installations, "repos-reconcile-retry", exc)
        return f"rate limited; again in {exc.retry_after:.0f}s"


@needs_github_sign_in
def sync_user_access(user_id: int) -> dict[str, int] | str | None:
    """Refresh one user's repository access with their own GitHub token."""
    from webapp.repos import access_sync

    try:
        return access_sync.sync_user_access(user_id)
    except GitHubRateLimited as exc:
        _later(sync_user_access, f"repos-access-{user_id}-retry", exc, user_id)
        return f"rate limited; again in {exc.retry_after:.0f}s"


@needs_github_sign_in
def sync_all_user_access() -> int:
    """Queue an access refresh for every user with a GitHub token."""
    from webapp.repos import access_sync

    users = access_sync.users_with_tokens()
    for user_id in users:
        enqueue(sync_user_access, user_id, job_id=f"repos-access-{user_id}", queue="low")
    return len(users)


def _later(func: Any, job_id: str, exc: GitHubRateLimited, *args: Any) -> None:
    wait = max(int(exc.retry_after or 60), 1)
    enqueue(func, *args, job_id=job_id, queue="low", delay=timedelta(seconds=wait))


PERIODIC: list[Periodic] = [
    Periodic("repos-reconcile", reconcile_installations, every=RECONCILE_EVERY),
    Periodic("repos-access", sync_all_user_access, every=ACCESS_SYNC_EVERY),
]
