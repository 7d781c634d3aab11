"""Repositories and installations as people and machines see them: lists, commits, access checks,
creating repositories, scoped installation tokens, GitHub health.

Everything here is filtered by `webapp.repos.access`: a non-admin only ever sees repositories
GitHub says they may access, and gets the same 404 for "does not exist" and "not yours".
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import ARRAY, BigInteger, any_, func, or_, select
from sqlalchemy import cast as cast_sql

from webapp.auth.principal import Who, user_of
from webapp.core import audit, jobs
from webapp.core.errors import Conflict, NotFound, ValidationFailed
from webapp.core.jobs import redis_connection
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.integrations.github import GitHubError, GitHubNotConfigured, github
from webapp.repos.access import can_see_repository, get_visible_repository_by_name, not_visible, restrict_to_visible
from webapp.repos.app_config import get_app_settings
from webapp.repos.credentials import credential_for
from webapp.repos.mirror import upsert_repository
from webapp.repos.models import (
    PERMISSION_RANK,
    GitHubAccount,
    Installation,
    Repository,
    RepositoryAccess,
    RepositoryHook,
)

HEALTH_CACHE_KEY = "gantry:github:health"
HEALTH_CACHE_SECONDS = 15


RECONCILE_JOB_ID = "repos-reconcile-manual"


def request_reconcile() -> str:
    """Compare installations and repositories with GitHub in the background, now; returns the job id."""
    jobs.defer("tasks.repos.reconcile_installations", job_id=RECONCILE_JOB_ID)
    db.session.commit()
    return RECONCILE_JOB_ID


def webhook_secret_for_hook(hook_id: int) -> str | None:
    """The secret of a repository hook Gantry created (for the intake's signature check); None if unknown."""
    hook = db.session.get(RepositoryHook, int(hook_id))
    if hook is None or hook.removed_at is not None:
        return None
    return hook.secret


def hook_covers(hook_id: int, repository_id: int | None, installation_id: int | None) -> bool:
    """Whether a delivery signed with hook `hook_id`'s secret may speak for what its payload names.

    A repository hook's secret vouches for its own repository only: the payload must name that
    repository, and any installation it names must be the one that repository belongs to.
    """
    hook = db.session.get(RepositoryHook, int(hook_id))
    if hook is None or hook.removed_at is not None or repository_id != hook.repository_id:
        return False
    if installation_id is None:
        return True
    repository = db.session.get(Repository, hook.repository_id)
    return repository is not None and repository.installation_id == installation_id


# --- repositories --------------------------------------------------------------------------


def visible_repositories_query(who: Who, search: str | None = None) -> Any:
    stmt = select(Repository).where(Repository.removed_at.is_(None))
    if search:
        pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(func.lower(Repository.full_name).like(pattern, escape="\\"),
                              func.lower(func.coalesce(Repository.description, "")).like(pattern, escape="\\")))
    user = user_of(who)
    if search and not who.is_admin and db.engine.dialect.name == "postgresql":
        # PostgreSQL cannot estimate a LIKE on a substring and would scan every repository; reading
        # the user's ids first (one array) lets it fetch just those by primary key.
        ids = select(func.array_agg(RepositoryAccess.repository_id)).where(RepositoryAccess.user_id == user.id)
        return stmt.where(Repository.id == any_(cast_sql(ids.scalar_subquery(), ARRAY(BigInteger))))
    return restrict_to_visible(stmt, Repository.id, who)


def list_repositories(who: Who, *, search: str | None = None, cursor: str | None = None,
                      limit: int = 50) -> Page[Repository]:
    """The repositories `who` may see, newest id first, optionally filtered by name or description."""
    return keyset_page(visible_repositories_query(who, search), [Repository.id], cursor, limit)


def numbered_page_of_repositories(who: Who, *, page: int = 1, per_page: int = 30) -> tuple[list[Repository], int]:
    """One numbered page (GitHub's `page`/`per_page`, at most 100) of what `who` may see, by name; and the total."""
    per_page = max(1, min(int(per_page), 100))
    page = max(1, int(page))
    stmt = visible_repositories_query(who).order_by(func.lower(Repository.full_name), Repository.id)
    items = list(db.session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    return items, count_repositories(who)


def count_repositories(who: Who, search: str | None = None) -> int:
    stmt = visible_repositories_query(who, search).with_only_columns(func.count(Repository.id))
    return int(db.session.scalar(stmt) or 0)


def permission_of(who: Who, repository_id: int) -> str | None:
    user = user_of(who)
    access = db.session.get(RepositoryAccess, (user.id, repository_id))
    if access is not None:
        return access.permission
    return "admin" if who.is_admin else None


def get_repository(who: Who, owner: str, name: str) -> Repository:
    repo = get_visible_repository_by_name(who, f"{owner}/{name}")
    if repo.removed_at is not None:
        raise not_visible(f"Repository {owner}/{name}")
    return repo


def _repo_request(who: Who, repo: Repository, method: str, path: str, *, need: str = "metadata",
                  **kwargs: Any) -> Any:
    """Call GitHub about a repository with whichever credential GitHub lets do `need` there."""
    return credential_for(who, repo, need).request(method, path, **kwargs)


def recent_commits(who: Who, owner: str, name: str, *, branch: str | None = None,
                   limit: int = 20) -> list[dict[str, Any]]:
    """The latest commits of a visible repository, straight from GitHub."""
    repo = get_repository(who, owner, name)
    params: dict[str, Any] = {"per_page": max(1, min(limit, 100))}
    if branch:
        params["sha"] = branch
    try:
        commits = _repo_request(who, repo, "GET", f"/repos/{repo.full_name}/commits", need="contents:read",
                                params=params)
    except GitHubError as exc:
        if exc.status == 409:  # an empty repository has no commits
            return []
        raise
    return [
        {
            "sha": c["sha"],
            "message": (c.get("commit", {}).get("message") or "").split("\n", 1)[0],
            "author": ((c.get("commit") or {}).get("author") or {}).get("name"),
            "author_login": (c.get("author") or {}).get("login"),
            "date": ((c.get("commit") or {}).get("author") or {}).get("date"),
            "html_url": c.get("html_url"),
        }
        for c in commits or []
    ]


def validate_access(who: Who, repositories: list[str], permission: str = "read") -> list[dict[str, Any]]:
    """For each repository name: may `who` use it with `permission`, and can the App reach it on GitHub?"""
    if permission not in PERMISSION_RANK:
        raise ValidationFailed("Unknown permission.", errors={"permission": [f"one of {', '.join(PERMISSION_RANK)}"]})
    results = []
    for full_name in repositories:
        result: dict[str, Any] = {"repository": full_name, "accessible": False, "permission": None,
                                  "app_installed": False, "reason": None}
        try:
            repo = get_repository(who, *_split_full_name(full_name))
        except NotFound:
            result["reason"] = "not found or no access"
            results.append(result)
            continue
        have = permission_of(who, repo.id)
        result["permission"] = have
        installation = db.session.get(Installation, repo.installation_id) if repo.installation_id else None
        result["app_installed"] = bool(installation and installation.active)
        if have is None or PERMISSION_RANK[have] < PERMISSION_RANK[permission]:
            result["reason"] = f"needs {permission}, you have {have or 'none'}"
        else:
            try:
                _repo_request(who, repo, "GET", f"/repos/{repo.full_name}")
                result["accessible"] = True
            except (GitHubError, Conflict) as exc:
                result["reason"] = getattr(exc, "message", str(exc))
        results.append(result)
    return results


def _split_full_name(full_name: str) -> tuple[str, str]:
    owner, _, name = (full_name or "").strip().partition("/")
    if not owner or not name or "/" in name:
        raise not_visible(f"Repository {full_name}")
    return owner, name


def create_repository(who: Who, *, owner: str, name: str, private: bool = True, description: str | None = None,
                      auto_init: bool = True) -> Repository:
    """Create a repository through the App in an organisation it is installed on (or, for a user account,
    with that user's own token) and mirror it."""
    user = user_of(who)
    installation = db.session.scalar(select(Installation).where(
        func.lower(Installation.account_login) == owner.lower(), Installation.removed_at.is_(None)))
    if installation is None or installation.suspended_at is not None:
        raise NotFound(f"The GitHub App is not installed on {owner}.", code="not_installed")
    body = {"name": name, "private": private, "description": description, "auto_init": auto_init}
    try:
        if installation.account_type == "Organization":
            data = github().installation_request(installation.id, "POST", f"/orgs/{installation.account_login}/repos",
                                                 json=body)
        else:
            account = db.session.get(GitHubAccount, user.id)
            if account is None or not account.access_token or account.login.lower() != owner.lower():
                raise Conflict(f"Only {owner}, signed in with GitHub, can create repositories in that account.",
                               code="not_owner")
            data = github().user_request(account.access_token, "POST", "/user/repos", json=body)
    except GitHubError as exc:
        if exc.status == 422:
            errors = (exc.body or {}).get("errors") if isinstance(exc.body, dict) else None
            raise ValidationFailed(exc.message, errors={"name": [e.get("message") or e.get("code", "invalid")
                                                                   for e in errors or []] or [exc.message]}) from exc
        raise
    in_installation = installation.account_type == "Organization" or installation.repository_selection == "all"
    repo = upsert_repository(data, installation.id if in_installation else None)
    db.session.merge(RepositoryAccess(user_id=user.id, repository_id=repo.id, permission="admin"))
    audit.record("repository.create", "repository", repo.id, actor=user,
                 details={"full_name": repo.full_name, "private": repo.private})
    db.session.commit()
    return repo


# --- installations -------------------------------------------------------------------------


def install_link(*, state: str | None = None, suggested_target_id: int | None = None) -> dict[str, Any]:
    """Where to install the GitHub App: GitHub's page, carrying `state` back to the set-up URL and
    suggesting an account (`suggested_target_id`), as GitHub's install page takes them."""

    settings = get_app_settings()
    if settings is None or settings.install_url is None:
        raise Conflict("No GitHub App is configured yet.", code="github_not_configured")
    query = {k: v for k, v in (("state", state), ("suggested_target_id", suggested_target_id)) if v is not None}
    url = settings.install_url + (f"?{urlencode(query)}" if query else "")
    return {"url": url, "app_slug": settings.slug, "app_url": settings.html_url, "state": state}


def list_installations(who: Who) -> list[Installation]:
    """Active installations: all for admins, those holding a repository they can see for everyone else."""
    stmt = select(Installation).where(Installation.removed_at.is_(None)).order_by(Installation.account_login)
    if not who.is_admin:
        visible = restrict_to_visible(select(Repository.installation_id).where(Repository.removed_at.is_(None)),
                                      Repository.id, who)
        stmt = stmt.where(Installation.id.in_(visible))
    return list(db.session.scalars(stmt))


def scoped_installation_token(who: Who, *, installation_id: int, repositories: list[str] | None = None,
                              permissions: dict[str, str] | None = None) -> dict[str, Any]:
    """Mint an installation token limited to some repositories and permissions (admins only; audited)."""
    installation = db.session.get(Installation, installation_id)
    if installation is None or installation.removed_at is not None:
        raise NotFound(f"Installation {installation_id} does not exist.")
    names: list[str] = []
    for full_name in repositories or []:
        repo = db.session.scalar(select(Repository).where(func.lower(Repository.full_name) == full_name.lower()))
        if repo is None or repo.installation_id != installation.id or repo.removed_at is not None \
                or not can_see_repository(who, repo.id):
            raise NotFound(f"Repository {full_name} is not part of installation {installation_id}.")
        names.append(repo.name)
    for scope, level in (permissions or {}).items():
        granted = (installation.permissions or {}).get(scope)
        if granted is None or (granted == "read" and level != "read"):
            raise ValidationFailed("The installation does not grant that permission.",
                                   errors={"permissions": [f"{scope}: {level} is not granted"]})
    try:
        minted = github().installation_token(installation.id, repositories=names or None,
                                             permissions=permissions or None)
    except GitHubError as exc:
        if exc.status == 422:
            raise ValidationFailed(exc.message) from exc
        raise
    user = user_of(who)
    audit.record("github.installation_token", "installation", installation.id, actor=user,
                 details={"repositories": names, "permissions": minted.get("permissions") or permissions or {},
                          "expires_at": minted.get("expires_at")})
    db.session.commit()
    return {
        "token": minted["token"],
        "expires_at": minted.get("expires_at"),
        "permissions": minted.get("permissions") or {},
        "repositories": [r.get("full_name") for r in minted.get("repositories") or []],
        "installation_id": installation.id,
    }


# --- health --------------------------------------------------------------------------------


def github_health(*, use_cache: bool = True) -> dict[str, Any]:
    """Is the App configured, can an app JWT be made, and does GitHub's API answer with it?"""
    if use_cache:
        try:
            cached = cast(bytes | None, redis_connection().get(HEALTH_CACHE_KEY))
            if cached:
                return cast(dict[str, Any], json.loads(cached))
        except Exception:  # noqa: S110 - no cache, then: ask GitHub
            pass

    settings = get_app_settings()
    result: dict[str, Any] = {"ok": False, "configured": bool(settings and settings.can_authenticate_app),
                              "jwt": False, "api": False, "app_slug": settings.slug if settings else None,
                              "source": settings.source if settings else None, "error": None}
    started = time.perf_counter()
    try:
        github().app_jwt()
        result["jwt"] = True
        app_info = github().app_request("GET", "/app")
        result["api"] = True
        result["app_slug"] = app_info.get("slug") or result["app_slug"]
        result["ok"] = True
    except GitHubNotConfigured as exc:
        result["error"] = exc.message
    except GitHubError as exc:
        result["error"] = f"GitHub answered {exc.status or 'nothing'}: {exc.message}"
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["quota"] = [{"identity": q.identity, "remaining": q.remaining, "limit": q.limit}
                       for q in github().quotas()]
    with contextlib.suppress(Exception):  # the answer stands without the cache
        redis_connection().set(HEALTH_CACHE_KEY, json.dumps(result), ex=HEALTH_CACHE_SECONDS)
    return result
