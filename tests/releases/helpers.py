"""Shortcuts for the deployment tests: environments and published releases without the GitHub round trip."""

from __future__ import annotations

from typing import Any

from tests.releases.conftest import REPO_ID


def environment(name: str, position: int, **settings: Any) -> Any:
    from webapp.extensions import db
    from webapp.releases.models import Environment

    env = Environment(repository_id=REPO_ID, name=name, position=position, **settings)
    db.session.add(env)
    db.session.commit()
    return env


def published_release(version: str, sha: str, author: Any, *, commit_dates: list[str] | None = None) -> Any:
    from webapp.extensions import db
    from webapp.releases.models import Release

    release = Release(repository_id=REPO_ID, version=version, tag_name=f"v{version}", title=f"v{version}",
                      target="main", target_sha=sha, status="published", created_by_id=author.id,
                      notes_data={"commits": [{"sha": sha, "date": d} for d in commit_dates or []]})
    db.session.add(release)
    db.session.commit()
    return release
