"""Fixtures for project sync: the fake's git repository acme/infrajet, its rows, a project, a runner."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.github.git import git_store
from sandbox.github.git_objects import GitStore

OWNER, NAME, REPO_ID, INSTALLATION_ID = "acme", "infrajet", 1001, 101
OTHER_REPO_ID = 1002  # acme/widgets, same installation


@pytest.fixture(autouse=True)
def _fast_retries(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "app" in request.fixturenames:  # pure tests stay free of the database (and its clean-up)
        monkeypatch.setitem(request.getfixturevalue("app").config, "SYNC_RETRY_JITTER_MS", 5)


@pytest.fixture
def git(fake_github: Any) -> GitStore:
    """acme/infrajet on the fake, with an unrelated README and one file under infra/."""
    store = git_store(fake_github)
    store.init_repo(OWNER, NAME, {"README.md": "# infrajet\n", "infra/legacy.tf": "# old\n"})
    store.init_repo(OWNER, "widgets", {"README.md": "# widgets\n"})
    return store


@pytest.fixture
def repos(app: Any, db: Any) -> dict[str, Any]:
    from webapp.repos.models import Installation, Repository

    db.session.add(Installation(id=INSTALLATION_ID, account_login=OWNER))
    db.session.add(Repository(id=REPO_ID, installation_id=INSTALLATION_ID, owner=OWNER, name=NAME,
                              full_name=f"{OWNER}/{NAME}", default_branch="main"))
    db.session.add(Repository(id=OTHER_REPO_ID, installation_id=INSTALLATION_ID, owner=OWNER, name="widgets",
                              full_name=f"{OWNER}/widgets", default_branch="main"))
    db.session.commit()
    return {"repo": REPO_ID, "other": OTHER_REPO_ID}


@pytest.fixture
def grant(db: Any, repos: dict[str, Any]) -> Callable[..., None]:
    """Give a user GitHub access to a repository (what the access sync would record)."""
    from webapp.repos.models import RepositoryAccess

    def give(user: Any, repository_id: int = REPO_ID, permission: str = "write") -> None:
        db.session.add(RepositoryAccess(user_id=user.id, repository_id=repository_id, permission=permission))
        db.session.commit()

    return give


class Reloading:
    """A user that reloads itself from the session on every use: running jobs ends the test's session."""

    def __init__(self, user: Any) -> None:
        self._id = user.id

    def __getattr__(self, name: str) -> Any:
        from webapp.auth.models import User
        from webapp.extensions import db

        return getattr(db.session.get(User, self._id), name)


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    return Reloading(make_user("admin"))


@pytest.fixture
def project(app: Any, git: GitStore, repos: dict[str, Any], admin: Any) -> Any:
    """A project bound to acme/infrajet main, folder infra/, with two text files."""
    from webapp.sync import service

    created = service.create_project(admin, {"name": "infra", "repository_id": REPO_ID, "branch": "main",
                                             "base_path": "infra"})
    service.put_files(admin, created.id, {"main.tf": (b'module "a" {}\n', None),
                                          "vars.tf": (b'variable "x" {}\n', None)})
    # ids only: running jobs ends the session, which detaches ORM objects held by the test
    return SimpleNamespace(id=created.id, repository_id=created.repository_id)


@pytest.fixture
def sync(app: Any, db: Any, run_jobs: Callable[..., int], admin: Any) -> Callable[..., Any]:
    """Start a sync as the admin, run the queued job, and return the refreshed run."""
    from webapp.sync import runs
    from webapp.sync.models import SyncRun

    def run(project_id: int, **kwargs: Any) -> SyncRun:
        started = runs.start_sync(admin, project_id, **kwargs)
        run_id = started.id
        run_jobs()
        db.session.expire_all()
        return db.session.get(SyncRun, run_id)

    return run


def remote_files(git: GitStore, branch: str = "main") -> dict[str, tuple[bytes, str]]:
    return git.files(OWNER, NAME, branch)
