"""Fixtures for the builds tests: the default catalogue, keys, repositories and a build factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def catalogue(app: Any) -> None:
    """The default catalogue (tables are emptied after every test, so each test loads it)."""
    from webapp.builds.catalogue import load_default_catalogue

    load_default_catalogue()


@pytest.fixture
def writer(catalogue: None, make_user: Callable[..., Any], make_key: Callable[..., Any]) -> dict[str, str]:
    """Headers of a maintainer's key with builds:write, as a CI pipeline would hold."""
    return make_key(make_user("maintainer"), "read", "builds:write")


@pytest.fixture
def reader(catalogue: None, make_user: Callable[..., Any], make_key: Callable[..., Any]) -> dict[str, str]:
    return make_key(make_user("admin"), "read")


@pytest.fixture
def make_repo(app: Any, db: Any) -> Callable[..., Any]:
    """A mirrored repository, optionally readable by some users."""
    from webapp.repos.models import Repository, RepositoryAccess

    def make(full_name: str = "octo-org/images", repo_id: int | None = None, users: tuple[Any, ...] = ()) -> Any:
        owner, name = full_name.split("/")
        repo = Repository(id=repo_id or abs(hash(full_name)) % 10_000_000, owner=owner, name=name,
                          full_name=full_name, html_url=f"https://github.com/{full_name}")
        db.session.add(repo)
        db.session.flush()
        for user in users:
            db.session.add(RepositoryAccess(user_id=user.id, repository_id=repo.id, permission="write"))
        db.session.commit()
        return repo

    return make


def build_body(build_id: str = "concourse-images-1042", **overrides: Any) -> dict[str, Any]:
    body = {
        "platform": "aws-commercial",
        "os_version": "rhel-8.8",
        "image_type": "sap-hana",
        "build_id": build_id,
        "pipeline_url": "https://concourse.example.com/teams/images/pipelines/rhel/jobs/build/builds/1042",
        "commit_hash": "3484a3fb816e0859fd6e1cea078d76385ff50625",
    }
    body.update(overrides)
    return body


@pytest.fixture
def create_build(client: Any, writer: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """POST a build and return its JSON (asserting it was created)."""

    def create(build_id: str = "concourse-images-1042", headers: dict[str, str] | None = None,
               **overrides: Any) -> dict[str, Any]:
        response = client.post("/api/v1/builds", json=build_body(build_id, **overrides), headers=headers or writer)
        assert response.status_code == 201, response.json
        return response.json

    return create
