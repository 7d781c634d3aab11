"""Installations and repositories mirrored from GitHub's real webhook payloads, and the periodic reconcile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.shared_data import WEBHOOKS_DIR, webhook_payload
from webapp.repos.models import Installation, Repository
from webapp.webhooks.router import WebhookEvent, handlers_for

MIRRORED_EVENTS = ("installation", "installation_repositories", "repository")


def _event(event: str, payload: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent(delivery_pk=1, delivery_id="d-1", event=event, action=payload.get("action"), payload=payload,
                        installation_id=(payload.get("installation") or {}).get("id"),
                        repository_id=(payload.get("repository") or {}).get("id"), received_at=datetime.now(UTC))


def deliver(db: Any, event: str, payload: dict[str, Any]) -> list[str | None]:
    """Run every registered handler for the event in one transaction, as the intake's processing does."""
    results = [handler(_event(event, payload)) for name, handler in handlers_for(event, payload.get("action"))
               if name.startswith("webapp.repos.")]  # other capabilities' handlers have their own tests
    db.session.commit()
    db.session.expire_all()
    return results


def _rows(db: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    insts = db.session.execute(sa.select(Installation.id, Installation.account_login, Installation.suspended_at,
                                         Installation.removed_at, Installation.permissions)).all()
    repos = db.session.execute(sa.select(Repository.id, Repository.full_name, Repository.installation_id,
                                         Repository.private, Repository.archived, Repository.removed_at)).all()
    return sorted(insts), sorted(repos)


PAYLOADS = sorted(p for e in MIRRORED_EVENTS for p in (WEBHOOKS_DIR / e).glob("*.json"))


def test_every_real_payload_is_handled_idempotently(app: Any, db: Any) -> None:
    """Each payload of the mirrored events, applied after an installation exists, twice: same rows."""
    problems = {}
    for path in PAYLOADS:
        deliver(db, "installation", webhook_payload("installation", "created"))  # something to act on
        payload = webhook_payload(path.parent.name, path.stem)
        results = deliver(db, path.parent.name, payload)
        before = _rows(db)
        deliver(db, path.parent.name, payload)
        if not results or not all(isinstance(r, str) for r in results):
            problems[path.name] = f"handlers returned {results!r}"
        elif _rows(db) != before:
            problems[path.name] = "second delivery changed the mirror"
    assert len(PAYLOADS) >= 20 and problems == {}


def test_installation_created_mirrors_installation_and_repositories(app: Any, db: Any) -> None:
    deliver(db, "installation", webhook_payload("installation", "created"))
    inst = db.session.get(Installation, 957387)
    assert inst.account_login == "Codertocat" and inst.account_type == "User" and inst.active
    repo = db.session.get(Repository, 186853002)
    assert repo.full_name == "Codertocat/Hello-World" and repo.installation_id == 957387 and repo.owner == "Codertocat"


def test_suspend_and_unsuspend(app: Any, db: Any) -> None:
    deliver(db, "installation", webhook_payload("installation", "suspend"))
    assert db.session.get(Installation, 16598467).suspended_at is not None
    deliver(db, "installation", webhook_payload("installation", "unsuspend"))
    assert db.session.get(Installation, 16598467).suspended_at is None


def test_installation_deleted_removes_its_repositories(app: Any, db: Any) -> None:
    created = webhook_payload("installation", "created")
    created["installation"]["id"] = 2
    created["repositories"] = [{"id": 1296269, "name": "Hello-World", "full_name": "octocat/Hello-World",
                                "private": False}]
    deliver(db, "installation", created)
    deliver(db, "installation", webhook_payload("installation", "deleted"))
    assert db.session.get(Installation, 2).removed_at is not None
    assert db.session.get(Repository, 1296269).removed_at is not None


def test_repositories_added_and_removed(app: Any, db: Any) -> None:
    deliver(db, "installation", webhook_payload("installation", "created"))
    deliver(db, "installation_repositories", webhook_payload("installation_repositories", "added"))
    added = db.session.get(Repository, 186853007)
    assert added.installation_id == 957387 and added.removed_at is None
    removed = webhook_payload("installation_repositories", "removed")
    removed["installation"]["id"] = 957387
    removed["repositories_removed"] = [{"id": 186853007}]
    deliver(db, "installation_repositories", removed)
    assert db.session.get(Repository, 186853007).removed_at is not None


def test_repository_renamed_transferred_privatized_deleted(app: Any, db: Any) -> None:
    installed = webhook_payload("installation", "created")
    installed["installation"]["id"] = 1
    installed["repositories"] = [{"id": 186853261, "name": "Old-Name", "full_name": "Octocoders/Old-Name",
                                  "private": False}]
    deliver(db, "installation", installed)
    deliver(db, "repository", webhook_payload("repository", "renamed"))
    repo = db.session.get(Repository, 186853261)
    assert repo.full_name == "Octocoders/Hello-World" and repo.installation_id == 1
    transferred = webhook_payload("repository", "transferred")
    transferred["repository"]["full_name"] = "NewOwner/Hello-World"
    transferred["repository"]["owner"]["login"] = "NewOwner"
    deliver(db, "repository", transferred)
    repo = db.session.get(Repository, 186853261)
    assert repo.full_name == "NewOwner/Hello-World" and repo.owner == "NewOwner"
    privatized = webhook_payload("repository", "privatized")
    privatized["repository"].update({"id": 186853261, "full_name": "NewOwner/Hello-World", "name": "Hello-World",
                                     "owner": {**privatized["repository"]["owner"], "login": "NewOwner"}})
    deliver(db, "repository", privatized)
    assert db.session.get(Repository, 186853261).private is True
    deleted = {**privatized, "action": "deleted"}
    deliver(db, "repository", deleted)
    assert db.session.get(Repository, 186853261).removed_at is not None


def test_unknown_repository_without_installation_is_not_mirrored(app: Any, db: Any) -> None:
    assert deliver(db, "repository", webhook_payload("repository", "publicized")) == ["repository not mirrored"]
    assert db.session.get(Repository, 186853002) is None


def test_recreated_repository_takes_over_the_name(app: Any, db: Any) -> None:
    from webapp.repos.mirror import upsert_repository

    upsert_repository({"id": 1, "name": "x", "full_name": "o/x"}, None)
    upsert_repository({"id": 2, "name": "x", "full_name": "o/x"}, None)
    db.session.commit()
    assert db.session.get(Repository, 2).full_name == "o/x"
    old = db.session.get(Repository, 1)
    assert old.full_name == "o/x#1" and old.removed_at is not None


def test_reconcile_matches_github(app: Any, db: Any, fake_github: Any) -> None:
    from webapp.repos.mirror import reconcile_installations

    stale = Installation(id=999, account_login="gone")
    db.session.add(stale)
    db.session.add(Repository(id=5, owner="gone", name="r", full_name="gone/r", installation_id=999))
    db.session.commit()
    result = reconcile_installations()
    assert result == {"installations": 2, "repositories": 3, "installations_removed": 1, "repositories_removed": 1}
    db.session.expire_all()
    assert {r.full_name for r in db.session.scalars(sa.select(Repository).where(Repository.removed_at.is_(None)))} \
        == {"acme/infrajet", "acme/widgets", "octo-user/dotfiles"}
    assert db.session.get(Installation, 999).removed_at is not None
    # GitHub removes a repository from the installation: the next reconcile notices
    fake_github.state.installation_repos[101].remove(1002)
    reconcile_installations()
    db.session.expire_all()
    assert db.session.get(Repository, 1002).removed_at is not None
    assert fake_github.calls("GET", r"^/app/installations$")[0].auth == "app"
    assert fake_github.calls("GET", r"^/installation/repositories$")[0].auth == "installation:101"


def test_reconcile_task_reschedules_itself_when_rate_limited(app: Any, db: Any, fake_github: Any) -> None:
    from tasks.repos import reconcile_installations
    from webapp.core.jobs import get_queue

    fake_github.fail("GET", r"^/app/installations$", 403, headers={"Retry-After": "600"})
    assert str(reconcile_installations()).startswith("rate limited")
    scheduled = get_queue("low").scheduled_job_registry.get_job_ids()
    assert scheduled == ["repos-reconcile-retry"]


def test_reconcile_task_reports_what_it_did(app: Any, db: Any, fake_github: Any) -> None:
    from tasks.repos import reconcile_installations

    assert reconcile_installations() == {"installations": 2, "repositories": 3, "installations_removed": 0,
                                         "repositories_removed": 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Repository)) == 3
