"""Who may see which repository, as GitHub says: read with each user's own token.

A classic OAuth App's token reaches every repository of its user: `GET /user/repos` lists them
(with permission flags) and replaces all of that user's access. A GitHub App's user token:
`GET /user/installations` and `/user/installations/{id}/repositories` list, for the App's
installations, the repositories the user can reach and their permission flags. The result
replaces the user's access rows for repositories that belong to an installation; access a user
was given by setting up a repository hook themselves is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select

from webapp.core import audit
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos.mirror import upsert_installation, upsert_repository
from webapp.repos.models import GitHubAccount, Repository, RepositoryAccess

log = logging.getLogger(__name__)

FLAG_ORDER = (("admin", "admin"), ("maintain", "maintain"), ("push", "write"), ("triage", "triage"),
              ("pull", "read"))


def permission_from_flags(flags: dict[str, Any] | None) -> str:
    """GitHub's permission flags ({"admin": false, "push": true, ...}) as one level."""
    for flag, level in FLAG_ORDER:
        if (flags or {}).get(flag):
            return level
    return "read"


def _drop_installation_access(user_id: int) -> None:
    installed = select(Repository.id).where(Repository.installation_id.is_not(None))
    db.session.execute(
        delete(RepositoryAccess).where(RepositoryAccess.user_id == user_id,
                                       RepositoryAccess.repository_id.in_(installed))
    )


def sync_user_access(user_id: int) -> dict[str, int] | None:
    """Refresh one user's repository access from GitHub; None when they have no GitHub token.

    A token GitHub no longer accepts (401) is dropped together with the access it gave.
    """
    account = db.session.get(GitHubAccount, user_id)
    if account is None or not account.access_token:
        return None
    gh = github()
    token = account.access_token
    classic = account.token_kind == "oauth_app"
    installations: list[Any] = []
    try:
        granted: dict[int, str] = {}
        if classic:  # GitHub lists installations only to App user tokens; a classic token sees every repository
            for repo_data in gh.paginate_user(token, "/user/repos"):
                known = db.session.get(Repository, int(repo_data["id"]))
                repo = upsert_repository(repo_data, known.installation_id if known is not None else None)
                granted[repo.id] = permission_from_flags(repo_data.get("permissions"))
        else:
            installations = gh.paginate_user(token, "/user/installations", item_key="installations")
            for data in installations:
                inst = upsert_installation(data)
                repos = gh.paginate_user(token, f"/user/installations/{inst.id}/repositories",
                                         item_key="repositories")
                for repo_data in repos:
                    repo = upsert_repository(repo_data, inst.id)
                    granted[repo.id] = permission_from_flags(repo_data.get("permissions"))
    except GitHubError as exc:
        if exc.status != 401:
            raise
        db.session.rollback()
        account = db.session.get(GitHubAccount, user_id)
        assert account is not None
        account.access_token = None
        _drop_installation_access(user_id)
        audit.record("github.token.rejected", "user", user_id, actor="github",
                     details={"login": account.login})
        db.session.commit()
        return {"repositories": 0, "rejected": 1}
    if classic:  # the list is every repository the user can reach: it replaces all their access
        db.session.execute(delete(RepositoryAccess).where(RepositoryAccess.user_id == user_id))
    else:
        _drop_installation_access(user_id)
    now = utcnow()
    for repo_id, permission in granted.items():
        db.session.merge(RepositoryAccess(user_id=user_id, repository_id=repo_id, permission=permission,
                                          synced_at=now))
    account.access_synced_at = now
    db.session.commit()
    return {"repositories": len(granted), "installations": len(installations)}


def users_with_tokens() -> list[int]:
    return list(db.session.scalars(select(GitHubAccount.user_id).where(GitHubAccount.access_token.is_not(None))))
