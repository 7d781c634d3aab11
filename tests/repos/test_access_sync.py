"""Per-user repository access read from GitHub with the user's own token, at sign-in and periodically."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.repos.conftest import DOTFILES, INFRAJET, WIDGETS
from webapp.repos.access_sync import permission_from_flags, sync_user_access
from webapp.repos.models import GitHubAccount, Repository, RepositoryAccess


def _access(db: Any, user: Any) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(RepositoryAccess).where(RepositoryAccess.user_id == user.id))
    return {r.repository_id: r.permission for r in rows}


def test_access_follows_github(app: Any, db: Any, mirrored: Any, github_user: Any) -> None:
    user = github_user("viewer", "octocat")
    assert sync_user_access(user.id) == {"repositories": 2, "installations": 1}
    assert _access(db, user) == {INFRAJET: "admin", WIDGETS: "read"}
    mirrored.state.permissions["octocat"].pop(INFRAJET)
    mirrored.state.grant("octocat", DOTFILES, "write")
    sync_user_access(user.id)
    assert _access(db, user) == {WIDGETS: "read", DOTFILES: "write"}
    assert db.session.get(GitHubAccount, user.id).access_synced_at is not None


def test_access_from_a_hook_set_up_is_kept(app: Any, db: Any, mirrored: Any, github_user: Any) -> None:
    user = github_user("viewer", "octocat")
    db.session.add(Repository(id=1004, owner="acme", name="webhook-manager", full_name="acme/webhook-manager"))
    db.session.add(RepositoryAccess(user_id=user.id, repository_id=1004, permission="admin"))
    db.session.commit()
    sync_user_access(user.id)
    assert _access(db, user)[1004] == "admin"


def test_rejected_token_drops_the_access_it_gave(app: Any, db: Any, mirrored: Any, github_user: Any) -> None:
    user = github_user("viewer", "octocat")
    sync_user_access(user.id)
    mirrored.state.user_tokens.clear()  # the user revoked Gantry on GitHub
    assert sync_user_access(user.id) == {"repositories": 0, "rejected": 1}
    assert _access(db, user) == {}
    assert db.session.get(GitHubAccount, user.id).access_token is None
    assert sync_user_access(user.id) is None  # nothing to do without a token


def test_periodic_refresh_queues_one_job_per_connected_user(app: Any, db: Any, mirrored: Any, github_user: Any,
                                                            make_user: Any, run_jobs: Any) -> None:
    from tasks.repos import sync_all_user_access
    from webapp.core.jobs import get_queue

    first, second = github_user("viewer", "octocat").id, github_user("viewer", "mallory").id
    make_user("viewer")  # not connected: no job
    assert sync_all_user_access() == 2
    assert sorted(get_queue("low").job_ids) == sorted([f"repos-access-{first}", f"repos-access-{second}"])
    run_jobs()
    rows = db.session.execute(sa.select(RepositoryAccess.user_id, RepositoryAccess.repository_id,
                                        RepositoryAccess.permission)).all()
    assert sorted(rows) == [(first, INFRAJET, "admin"), (first, WIDGETS, "read")]


def test_rate_limited_refresh_is_rescheduled(app: Any, db: Any, mirrored: Any, github_user: Any) -> None:
    from tasks.repos import sync_user_access as task
    from webapp.core.jobs import get_queue

    user = github_user("viewer", "octocat")
    mirrored.fail("GET", r"^/user/installations$", 429, headers={"Retry-After": "300"})
    assert str(task(user.id)).startswith("rate limited")
    assert get_queue("low").scheduled_job_registry.get_job_ids() == [f"repos-access-{user.id}-retry"]


def test_permission_flags() -> None:
    assert permission_from_flags({"admin": False, "maintain": False, "push": True, "pull": True}) == "write"
    assert permission_from_flags({"pull": True}) == "read"
    assert permission_from_flags({"admin": True}) == "admin"
    assert permission_from_flags(None) == "read"
