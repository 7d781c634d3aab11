"""Which GitHub credential can do something on a repository, as GitHub decides it.

GitHub has two kinds of sign-in client and they reach different repositories:

- a GitHub App's OAuth client issues user tokens that reach only repositories the App is installed
  on, within the App's permissions (and the user's own role);
- a classic OAuth App issues tokens that reach every repository the user can, within the scopes
  asked for at sign-in (GITHUB_OAUTH_SCOPES): private repositories need `repo`, repository
  webhooks `admin:repo_hook` (or `write:repo_hook`, or `repo`, which includes them).

`credential_for` picks the installation token when the App is installed on the repository with the
permission, else the user's token when it can do it, and otherwise raises a Conflict that says
exactly why and what to configure, so pages and every front door give the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp.auth.models import User
from webapp.auth.principal import Who, user_of
from webapp.core.errors import Conflict
from webapp.extensions import db
from webapp.integrations.github import github
from webapp.repos.models import GitHubAccount, Installation, Repository

# What an operation needs: the App permissions that allow it (any one) and the classic scopes that
# allow it (any one; None: any token, private repositories only with `repo`).
NEEDS: dict[str, tuple[list[tuple[str, str]], list[str] | None]] = {
    "metadata": ([("metadata", "read")], None),
    "contents:read": ([("contents", "read")], None),
    "hooks:write": ([("repository_hooks", "write"), ("administration", "write")],
                    ["admin:repo_hook", "write:repo_hook", "repo"]),
}
DESCRIBED = {"metadata": "read the repository", "contents:read": "read commits",
             "hooks:write": "create a repository webhook"}
CLASSIC_HINT = ("set GITHUB_OAUTH_CLIENT_KIND=oauth_app with a classic OAuth App's GITHUB_CLIENT_ID and "
                "GITHUB_CLIENT_SECRET (GITHUB_OAUTH_SCOPES including {scope}), then sign in with GitHub again")


@dataclass(frozen=True)
class RepoCredential:
    """An installation of the App, or one user's token, able to do the operation asked for."""

    kind: str  # "installation" or "user"
    installation_id: int | None = None
    token: str | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.kind == "installation":
            assert self.installation_id is not None
            return github().installation_request(self.installation_id, method, path, **kwargs)
        assert self.token is not None
        return github().user_request(self.token, method, path, **kwargs)


def token_scopes(account: GitHubAccount) -> set[str]:
    return {s for s in (account.token_scopes or "").replace(",", " ").split() if s}


def app_allows(permissions: dict[str, Any] | None, need: str) -> bool:
    """Do an installation's permissions allow `need` (metadata is always granted)?"""
    if need == "metadata":
        return True
    for name, level in NEEDS[need][0]:
        granted = (permissions or {}).get(name)
        if granted == "write" or (granted == "read" and level == "read"):
            return True
    return False


def active_installation(repo: Repository | None) -> Installation | None:
    if repo is None or not repo.installation_id:
        return None
    installation = db.session.get(Installation, repo.installation_id)
    if installation is None or installation.removed_at is not None or installation.suspended_at is not None:
        return None
    return installation


def user_credential(user: User, full_name: str, need: str, *, private: bool | None = None) -> RepoCredential:
    """The user's own token, when GitHub lets it do `need` on a repository the App is not installed on."""
    account = db.session.get(GitHubAccount, user.id)
    what = DESCRIBED[need]
    if account is None or not account.access_token:
        raise Conflict(f"To {what} on {full_name} Gantry needs the App installed there or your GitHub token: "
                       "connect your user to GitHub (sign in with GitHub) first.", code="not_connected")
    if account.token_kind != "oauth_app":
        raise Conflict(
            f"Cannot {what} on {full_name}: the GitHub App is not installed there, and your GitHub token comes "
            "from the App's sign-in, which GitHub limits to repositories the App is installed on. Install the "
            f"GitHub App on {full_name}, or " + CLASSIC_HINT.format(scope=_scope_named(need)) + ".",
            code="app_not_installed")
    scopes = token_scopes(account)
    allowed = NEEDS[need][1]
    if allowed is not None and not scopes & set(allowed):
        raise Conflict(
            f"Cannot {what} on {full_name}: your GitHub token's scopes ({', '.join(sorted(scopes)) or 'none'}) "
            f"do not include {' or '.join(allowed)}. Add {_scope_named(need)} to GITHUB_OAUTH_SCOPES and sign in "
            "with GitHub again.", code="missing_scope")
    if private and "repo" not in scopes:
        raise Conflict(f"Cannot {what} on {full_name}: it is private and your GitHub token lacks the repo scope. "
                       "Add repo to GITHUB_OAUTH_SCOPES and sign in with GitHub again.", code="missing_scope")
    return RepoCredential("user", token=account.access_token)


def credential_for(who: Who, repo: Repository, need: str) -> RepoCredential:
    """The installation when the App is installed on `repo` with the permission, else the user's token."""
    installation = active_installation(repo)
    if installation is not None and app_allows(installation.permissions, need):
        return RepoCredential("installation", installation_id=installation.id)
    user = user_of(who)
    if installation is not None:
        # the App is there without the permission; a classic token may still do it, an App user token never
        account = db.session.get(GitHubAccount, user.id)
        if account is None or account.token_kind != "oauth_app":
            raise Conflict(
                f"Cannot {DESCRIBED[need]} on {repo.full_name}: the GitHub App installed there lacks the "
                f"{' or '.join(f'{n}: {lvl}' for n, lvl in NEEDS[need][0])} permission. Grant it in the App's "
                "settings (the installation's owner accepts the new permission), or "
                + CLASSIC_HINT.format(scope=_scope_named(need)) + ".", code="app_permission_missing")
    return user_credential(user, repo.full_name, need, private=repo.private)


def _scope_named(need: str) -> str:
    allowed = NEEDS[need][1]
    return allowed[0] if allowed else "repo"
