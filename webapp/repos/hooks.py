"""Repository webhooks for repositories the App is not installed on.

"Set up webhook" uses the signed-in user's own GitHub token (they must administer the repository,
and the token must be a classic OAuth App's with `admin:repo_hook`: a GitHub App's user token never
reaches a repository the App is not installed on) to create a hook that posts to Gantry's intake
with a secret of its own (stored encrypted; the intake verifies those deliveries with
`webhook_secret_for_hook`), then pings it.
Whether the ping arrived is read from the intake's delivery store.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from webapp.auth.models import User
from webapp.auth.principal import Who, user_of
from webapp.core import audit
from webapp.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos.access import (
    can_see_repository,
    get_visible_or_404,
    not_visible,
    restrict_to_visible,
)
from webapp.repos.credentials import active_installation, token_scopes, user_credential
from webapp.repos.mirror import upsert_repository
from webapp.repos.models import GitHubAccount, Repository, RepositoryAccess, RepositoryHook

DEFAULT_EVENTS = ["push", "pull_request", "release", "create", "delete", "workflow_job", "workflow_run",
                  "deployment", "deployment_status"]


def intake_url() -> str:
    return f"{current_app.config['BASE_URL']}/webhooks/github"


def _user_token(user: User) -> str:
    account = db.session.get(GitHubAccount, user.id)
    if account is None or not account.access_token:
        raise Conflict("Connect your user to GitHub first: hooks are created with your own GitHub token.",
                       code="not_connected")
    return account.access_token


def _refuse_if_app_installed(who: Who, repo: Repository | None) -> None:
    """Where the App is installed its events already arrive: no hook (404 for a repository `who` cannot see)."""
    if active_installation(repo) is not None:
        assert repo is not None
        if not can_see_repository(who, repo.id):
            raise not_visible(f"Repository {repo.full_name}")
        raise Conflict(f"The GitHub App is installed on {repo.full_name}: its events already reach Gantry.",
                       code="app_installed")


def set_up_hook(who: Who, full_name: str, events: list[str] | None = None) -> RepositoryHook:
    """Create a repository hook pointing at Gantry (the user must administer the repository), then ping it.

    Only for repositories the App is not installed on (there its events already arrive), and so only
    with a user token GitHub lets create hooks there: a classic OAuth App's token with
    `admin:repo_hook`. Anything else is refused with the reason and what to configure.
    """
    user = user_of(who)
    owner, _, name = full_name.strip().partition("/")
    if not owner or not name:
        raise ValidationFailed("Name the repository as owner/name.", errors={"repository": ["owner/name"]})
    full_name = f"{owner}/{name}"
    _refuse_if_app_installed(who, db.session.scalar(select(Repository).where(
        sa.func.lower(Repository.full_name) == full_name.lower())))
    credential = user_credential(user, full_name, "hooks:write")
    token = credential.token
    assert token is not None
    gh = github()
    try:
        data = gh.user_request(token, "GET", f"/repos/{owner}/{name}")
    except GitHubError as exc:
        if exc.status == 404:
            raise NotFound(f"Repository {full_name} does not exist or you have no access to it"
                           + ("" if "repo" in _scopes(user) else
                              " (a private one needs the repo scope in GITHUB_OAUTH_SCOPES)") + ".") from exc
        raise
    if not (data.get("permissions") or {}).get("admin", False) and data.get("permissions") is not None:
        raise Forbidden(f"You need admin rights on {full_name} to add a webhook.", code="not_repo_admin")
    _refuse_if_app_installed(who, db.session.get(Repository, int(data["id"])))
    active = db.session.scalar(select(RepositoryHook).where(RepositoryHook.repository_id == int(data["id"]),
                                                            RepositoryHook.removed_at.is_(None)))
    if active is not None:
        raise Conflict(f"Gantry already has a webhook on {data['full_name']}.", code="hook_exists")
    secret = secrets.token_urlsafe(32)
    hook_events = sorted(set(events or DEFAULT_EVENTS))
    try:
        created = gh.user_request(token, "POST", f"/repos/{data['full_name']}/hooks", json={
            "name": "web", "active": True, "events": hook_events,
            "config": {"url": intake_url(), "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        })
    except GitHubError as exc:
        if exc.status in (403, 404):
            raise Forbidden(f"GitHub refused to add a webhook to {full_name}: {exc.message}",
                            code="not_repo_admin") from exc
        if exc.status == 422:
            raise ValidationFailed(exc.message) from exc
        raise
    repo = upsert_repository(data, None)
    db.session.merge(RepositoryAccess(user_id=user.id, repository_id=repo.id, permission="admin"))
    hook = RepositoryHook(id=int(created["id"]), repository_id=repo.id, url=intake_url(), events=hook_events,
                          secret=secret, created_by_id=user.id)
    db.session.add(hook)
    audit.record("repository_hook.create", "repository", repo.id, actor=user,
                 details={"hook_id": hook.id, "full_name": repo.full_name, "events": hook_events})
    db.session.commit()
    _ping(token, hook)
    return hook


def _scopes(user: User) -> set[str]:
    account = db.session.get(GitHubAccount, user.id)
    return token_scopes(account) if account is not None else set()


def _ping(token: str, hook: RepositoryHook) -> None:
    github().user_request(token, "POST", f"/repos/{hook.repository.full_name}/hooks/{hook.id}/pings")
    hook.pinged_at = utcnow()
    db.session.commit()


def get_hook(who: Who, hook_id: int) -> RepositoryHook:
    return get_visible_or_404(who, RepositoryHook, hook_id, "Webhook")


def ping_hook(who: Who, hook_id: int) -> RepositoryHook:
    hook = get_hook(who, hook_id)
    if hook.removed_at is not None:
        raise Conflict("This webhook was removed.", code="hook_removed")
    _ping(_user_token(user_of(who)), hook)
    return hook


def remove_hook(who: Who, hook_id: int) -> RepositoryHook:
    """Delete the hook on GitHub (already gone there is fine) and stop accepting its deliveries."""
    hook = get_hook(who, hook_id)
    if hook.removed_at is not None:
        return hook
    user = user_of(who)
    try:
        github().user_request(_user_token(user), "DELETE", f"/repos/{hook.repository.full_name}/hooks/{hook.id}")
    except GitHubError as exc:
        if exc.status != 404:
            raise
    hook.removed_at = utcnow()
    audit.record("repository_hook.remove", "repository", hook.repository_id, actor=user,
                 details={"hook_id": hook.id, "full_name": hook.repository.full_name})
    db.session.commit()
    return hook


def list_hooks(who: Who, *, include_removed: bool = False) -> list[RepositoryHook]:
    stmt = select(RepositoryHook).order_by(RepositoryHook.created_at.desc())
    if not include_removed:
        stmt = stmt.where(RepositoryHook.removed_at.is_(None))
    return list(db.session.scalars(restrict_to_visible(stmt, RepositoryHook.repository_id, who)))


def ping_arrived(hook: RepositoryHook) -> bool:
    """Did a ping from this hook reach the intake (a stored delivery with its hook id)?"""
    if not sa.inspect(db.engine).has_table("webhook_deliveries"):
        return False
    found = db.session.execute(
        sa.text("SELECT 1 FROM webhook_deliveries WHERE hook_id = :hook AND event = 'ping' LIMIT 1"),
        {"hook": hook.id},
    ).first()
    return found is not None


def hook_view(hook: RepositoryHook) -> dict[str, Any]:
    return {"id": hook.id, "repository": hook.repository.full_name, "repository_id": hook.repository_id,
            "url": hook.url, "events": hook.events, "created_at": hook.created_at, "pinged_at": hook.pinged_at,
            "ping_arrived": ping_arrived(hook), "removed_at": hook.removed_at}
