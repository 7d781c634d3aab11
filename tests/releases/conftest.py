"""Fixtures for the releases tests: a repository GitHub knows, environments, people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from sandbox.github.releases import make_history

OWNER, NAME, REPO_ID, INSTALLATION_ID = "acme", "infrajet", 1001, 101


@pytest.fixture
def repo(app: Flask, db: Any, fake_github: Any) -> Any:
    """acme/infrajet in Gantry's database (installation 101) with a commit graph on the fake."""
    from webapp.repos.models import Installation, Repository

    db.session.add(Installation(id=INSTALLATION_ID, account_login=OWNER, account_type="Organization"))
    db.session.add(Repository(id=REPO_ID, installation_id=INSTALLATION_ID, owner=OWNER, name=NAME,
                              full_name=f"{OWNER}/{NAME}", default_branch="main"))
    db.session.commit()
    make_history(fake_github, OWNER, NAME, [])
    return db.session.get(Repository, REPO_ID)


@pytest.fixture
def other_repo(app: Flask, db: Any) -> Any:
    from webapp.repos.models import Installation, Repository

    if db.session.get(Installation, INSTALLATION_ID) is None:
        db.session.add(Installation(id=INSTALLATION_ID, account_login=OWNER, account_type="Organization"))
    db.session.add(Repository(id=1002, installation_id=INSTALLATION_ID, owner=OWNER, name="widgets",
                              full_name=f"{OWNER}/widgets", default_branch="main"))
    db.session.commit()
    return db.session.get(Repository, 1002)


@pytest.fixture
def grant(db: Any) -> Callable[..., None]:
    """Give a non-admin access to a repository, as the access sync would."""
    from webapp.repos.models import RepositoryAccess

    def give(user: Any, repository_id: int = REPO_ID, permission: str = "write") -> None:
        db.session.add(RepositoryAccess(user_id=user.id, repository_id=repository_id, permission=permission))
        db.session.commit()

    return give


@pytest.fixture
def commit(fake_github: Any, repo: Any) -> Callable[..., list[str]]:
    """Push commits (oldest first) to acme/infrajet main on the fake."""

    def push(*messages: str, merges: dict[int, list[str]] | None = None) -> list[str]:
        return make_history(fake_github, OWNER, NAME, list(messages), merges=merges)

    return push
