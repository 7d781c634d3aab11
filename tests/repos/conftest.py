"""Fixtures for repository tests: the fake's world mirrored, users with GitHub identities and access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from webapp.extensions import db as _db
from webapp.repos.models import GitHubAccount, RepositoryAccess

INFRAJET, WIDGETS, DOTFILES = 1001, 1002, 1003


@pytest.fixture
def mirrored(app: Any, fake_github: Any) -> Any:
    """Installations 101/102 and their three repositories mirrored from the fake."""
    from webapp.repos.mirror import reconcile_installations

    reconcile_installations()
    fake_github.requests.clear()
    return fake_github


@pytest.fixture
def grant(app: Any) -> Callable[..., None]:
    def grant(user: Any, repository_id: int, permission: str = "read") -> None:
        _db.session.merge(RepositoryAccess(user_id=user.id, repository_id=repository_id, permission=permission))
        _db.session.commit()

    return grant


@pytest.fixture
def github_user(app: Any, make_user: Any, fake_github: Any) -> Callable[..., Any]:
    """A Gantry user linked to a GitHub login of the fake, with a valid OAuth token.

    By default the token is a GitHub App's user token (no scopes; only where the App is installed);
    `classic=True` makes it a classic OAuth App's token with `scopes` (default: Gantry's default scopes).
    """

    def make(role: str = "maintainer", login: str = "octocat", *, classic: bool = False,
             scopes: list[str] | None = None) -> Any:
        user = make_user(role)
        if classic:
            token = fake_github.classic_token(login, scopes)
            granted = ",".join(fake_github.state.user_grants[token]["scopes"])
        else:
            token, granted = fake_github.user_token(login), ""
        _db.session.add(GitHubAccount(user_id=user.id, github_id=fake_github.state.users[login]["id"], login=login,
                                      access_token=token, token_scopes=granted,
                                      token_kind="oauth_app" if classic else "app"))
        _db.session.commit()
        return user

    return make
