"""People's GitHub identities: sign in with GitHub, link, connection status, disconnect."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.core import audit
from webapp.core.errors import Conflict, Forbidden, NotFound
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos.access_sync import sync_user_access
from webapp.repos.app_config import get_app_settings
from webapp.repos.models import GitHubAccount, RepositoryAccess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignIn:
    user: User
    created: bool


def _free_username(login: str) -> str:
    base = login[:90]
    candidate = base
    for n in range(2, 1000):
        if db.session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())) is None:
            return candidate
        candidate = f"{base}-gh{n}"
    raise Conflict(f"No free username for GitHub user {login}.")  # pragma: no cover - 1000 clashes


def _check_allowed_orgs(token: str, login: str) -> None:
    allowed = set(current_app.config.get("GITHUB_ALLOWED_ORGS") or [])
    if not allowed:
        return
    orgs = {str(o.get("login", "")).lower() for o in github().paginate_user(token, "/user/orgs")}
    if not orgs & allowed:
        raise Forbidden(f"GitHub user {login} is not a member of an organisation allowed to sign in.",
                        code="org_not_allowed")


def sign_in_with_github(token: dict[str, Any], *, link_to: User | None = None) -> SignIn:
    """Create or link the Gantry user behind a GitHub OAuth token; store the token encrypted.

    New users get the viewer role unless GITHUB_ADMIN_LOGINS names them. `link_to` attaches the
    GitHub identity to an already signed-in user instead.
    """
    access_token = str(token.get("access_token") or "")
    if not access_token:
        raise Forbidden("GitHub did not return an access token.", code="no_token")
    profile = github().user_request(access_token, "GET", "/user")
    login, github_id = str(profile["login"]), int(profile["id"])
    _check_allowed_orgs(access_token, login)
    account = db.session.scalar(select(GitHubAccount).where(GitHubAccount.github_id == github_id))
    created = False
    if link_to is not None:
        if account is not None and account.user_id != link_to.id:
            raise Conflict(f"GitHub user {login} is already linked to another Gantry user.")
        existing = db.session.get(GitHubAccount, link_to.id)
        if existing is not None and existing.github_id != github_id:
            raise Conflict("Your Gantry user is linked to another GitHub account; disconnect it first.")
        user = link_to
    elif account is not None:
        user = db.session.get(User, account.user_id)  # type: ignore[assignment]
    else:
        admins = set(current_app.config.get("GITHUB_ADMIN_LOGINS") or [])
        email = str(profile.get("email") or "").strip().lower() or None
        if email and db.session.scalar(select(User.id).where(User.email == email)) is not None:
            email = None  # someone already uses it: GitHub sign-in does not take over their account
        user = User(username=_free_username(login), email=email, display_name=str(profile.get("name") or login),
                    role="admin" if login.lower() in admins else "viewer", password_hash=None)
        db.session.add(user)
        db.session.flush()
        created = True
        audit.record("user.create", "user", user.id, actor="github", details={"username": user.username,
                                                                              "role": user.role, "github": login})
    if not user.active:
        raise Forbidden("This account is disabled.", code="inactive")
    if account is None:
        account = GitHubAccount(user_id=user.id, github_id=github_id, login=login)
        db.session.add(account)
    account.login = login
    account.name = profile.get("name")
    account.avatar_url = profile.get("avatar_url")
    account.html_url = profile.get("html_url")
    account.profile = {k: profile.get(k) for k in ("login", "id", "name", "email", "company", "location",
                                                   "html_url", "avatar_url", "type")}
    account.access_token = access_token
    account.token_scopes = str(token.get("scope") or "")
    account.token_kind = _client_kind()
    user.last_login_at = utcnow()
    audit.record("github.link" if link_to is not None else "user.login", "user", user.id, actor=user,
                 details={"via": "github", "login": login})
    db.session.commit()
    try:
        sync_user_access(user.id)
    except GitHubError:  # access is refreshed periodically too; signing in must not fail on it
        db.session.rollback()
        log.warning("repository access of %s not refreshed at sign-in", login, exc_info=True)
    return SignIn(user, created)


def _client_kind() -> str:
    settings = get_app_settings()
    return settings.client_kind if settings is not None else "app"


def account_for(user: User) -> GitHubAccount | None:
    return db.session.get(GitHubAccount, user.id)


def github_profile(user: User) -> dict[str, Any]:
    """The signed-in user's GitHub profile, fresh from GitHub (404 when not connected)."""
    account = account_for(user)
    if account is None or not account.access_token:
        raise NotFound("Your user is not connected to GitHub.", code="not_connected")
    try:
        return github().user_request(account.access_token, "GET", "/user")
    except GitHubError as exc:
        if exc.status == 401:
            raise Conflict("GitHub no longer accepts your token: connect to GitHub again.",
                           code="github_token_rejected") from exc
        raise


def connection_status(user: User) -> dict[str, Any]:
    settings = get_app_settings()
    account = account_for(user)
    repos = db.session.scalar(select(func.count()).select_from(RepositoryAccess)
                              .where(RepositoryAccess.user_id == user.id)) or 0
    return {
        "app_configured": bool(settings and settings.can_authenticate_app),
        "sign_in_enabled": bool(settings and settings.can_sign_in),
        "app_slug": settings.slug if settings else None,
        "install_url": settings.install_url if settings else None,
        "connected": bool(account and account.access_token),
        "login": account.login if account else None,
        "name": account.name if account else None,
        "avatar_url": account.avatar_url if account else None,
        "html_url": account.html_url if account else None,
        "scopes": [s for s in (account.token_scopes if account else "").replace(" ", ",").split(",") if s],
        "client_kind": settings.client_kind if settings and settings.can_sign_in else None,
        "token_kind": account.token_kind if account else None,
        "connected_at": account.created_at if account else None,
        "access_synced_at": account.access_synced_at if account else None,
        "repositories": repos,
    }


def disconnect(user: User, *, revoke: bool = False) -> dict[str, Any]:
    """Forget the user's GitHub token and the access it gave; optionally revoke the grant on GitHub."""
    account = account_for(user)
    if account is None:
        raise NotFound("Your user is not connected to GitHub.", code="not_connected")
    revoked = False
    if revoke and account.access_token:
        try:
            github().revoke_user_grant(account.access_token)
            revoked = True
        except GitHubError as exc:
            if exc.status != 404:  # 404: GitHub already forgot the grant
                raise
    login = account.login
    db.session.delete(account)
    db.session.execute(RepositoryAccess.__table__.delete().where(RepositoryAccess.user_id == user.id))
    audit.record("github.disconnect", "user", user.id, actor=user, details={"login": login, "revoked": revoked})
    db.session.commit()
    return {"disconnected": True, "revoked": revoked, "login": login}
