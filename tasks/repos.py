"""GitHub mirror jobs: full reconcile of installations and repositories, per-user access refresh.

A rate limit never keeps a worker waiting: the job schedules itself again for when GitHub
allows it and returns.
"""

from __future__ import annotations

from tasks import again_when_rate_limited
from webapp.core.jobs import enqueue
from webapp.integrations.github import needs_github_app, needs_github_sign_in
from webapp.repos import access_sync, mirror


@needs_github_app
@again_when_rate_limited(lambda: "repos-reconcile-retry", queue="low")
def reconcile_installations() -> dict[str, int] | str:
    """Make installations and repositories match GET /app/installations and /installation/repositories."""
    return mirror.reconcile_installations()


@needs_github_sign_in
@again_when_rate_limited(lambda user_id: f"repos-access-{user_id}-retry", queue="low")
def sync_user_access(user_id: int) -> dict[str, int] | str | None:
    """Refresh one user's repository access with their own GitHub token."""
    return access_sync.sync_user_access(user_id)


@needs_github_sign_in
def sync_all_user_access() -> int:
    """Queue an access refresh for every user with a GitHub token."""
    users = access_sync.users_with_tokens()
    for user_id in users:
        enqueue(sync_user_access, user_id, job_id=f"repos-access-{user_id}", queue="low")
    return len(users)

