"""Installations and repositories mirrored from GitHub: from webhooks as they happen, and by a full reconcile.

Webhook handlers run inside the intake's processing transaction: they change rows and never
commit. Every handler is idempotent — applying the same delivery twice leaves the same rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from webapp.core import audit
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.github import github
from webapp.repos.models import Installation, Repository
from webapp.webhooks.router import WebhookEvent, register_handler

log = logging.getLogger(__name__)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def upsert_installation(data: dict[str, Any]) -> Installation:
    """Create or update an installation from GitHub's installation object."""
    inst = db.session.get(Installation, int(data["id"]))
    if inst is None:
        inst = Installation(id=int(data["id"]))
        db.session.add(inst)
    account = data.get("account") or {}
    inst.account_login = account.get("login") or inst.account_login or "unknown"
    inst.account_id = account.get("id")
    inst.account_type = account.get("type") or data.get("target_type") or "Organization"
    inst.repository_selection = data.get("repository_selection") or inst.repository_selection or "selected"
    inst.permissions = dict(data.get("permissions") or {})
    inst.events = list(data.get("events") or [])
    inst.html_url = data.get("html_url")
    inst.suspended_at = _parse_time(data.get("suspended_at"))
    inst.removed_at = None
    inst.synced_at = utcnow()
    return inst


def upsert_repository(data: dict[str, Any], installation_id: int | None) -> Repository:
    """Create or update a repository from a full or a minimal (webhook list) repository object."""
    repo_id = int(data["id"])
    full_name = str(data.get("full_name") or f"{data['owner']['login']}/{data['name']}")
    owner = (data.get("owner") or {}).get("login") or full_name.split("/", 1)[0]
    _free_full_name(full_name, repo_id)
    repo = db.session.get(Repository, repo_id)
    if repo is None:
        repo = Repository(id=repo_id)
        db.session.add(repo)
    repo.installation_id = installation_id
    repo.owner = owner
    repo.name = str(data.get("name") or full_name.split("/", 1)[1])
    repo.full_name = full_name
    repo.private = bool(data.get("private", repo.private or False))
    if "archived" in data:
        repo.archived = bool(data["archived"])
    elif repo.archived is None:
        repo.archived = False
    repo.default_branch = data.get("default_branch") or repo.default_branch or "main"
    repo.html_url = data.get("html_url") or repo.html_url or None
    if "description" in data:
        repo.description = (data.get("description") or None) and str(data["description"])[:1000]
    repo.removed_at = None
    repo.synced_at = utcnow()
    db.session.flush()
    return repo


def _free_full_name(full_name: str, repo_id: int) -> None:
    """A name now belongs to `repo_id`: an older row holding it (deleted and re-created, renamed) lets go."""
    other = db.session.scalar(
        select(Repository).where(Repository.full_name == full_name, Repository.id != repo_id)
    )
    if other is not None:
        other.full_name = f"{full_name}#{other.id}"
        other.removed_at = other.removed_at or utcnow()
        db.session.flush()


def mark_repositories_removed(repo_ids: list[int]) -> int:
    count = 0
    for repo_id in repo_ids:
        repo = db.session.get(Repository, int(repo_id))
        if repo is not None and repo.removed_at is None:
            repo.removed_at = utcnow()
            count += 1
    return count


# --- webhook handlers -------------------------------------------------------------------------


def on_installation(event: WebhookEvent) -> str:
    payload = event.payload
    data = payload.get("installation") or {}
    action = event.action
    if action == "deleted":
        inst = db.session.get(Installation, int(data["id"]))
        if inst is None:
            return "unknown installation"
        inst.removed_at = inst.removed_at or utcnow()
        removed = mark_repositories_removed([r.id for r in inst.repositories])
        audit.record("github.installation.removed", "installation", inst.id, actor="github")
        return f"installation {inst.id} removed ({removed} repositories)"
    inst = upsert_installation(data)
    if action == "suspend":
        inst.suspended_at = inst.suspended_at or _parse_time(data.get("suspended_at")) or utcnow()
    elif action == "unsuspend":
        inst.suspended_at = None
    for repo in payload.get("repositories") or []:
        upsert_repository(repo, inst.id)
    audit.record(f"github.installation.{action}", "installation", inst.id, actor="github",
                 details={"account": inst.account_login})
    return f"installation {inst.id} {action}"


def on_installation_repositories(event: WebhookEvent) -> str:
    payload = event.payload
    inst = upsert_installation(payload["installation"])
    if payload.get("repository_selection"):
        inst.repository_selection = payload["repository_selection"]
    added = [upsert_repository(r, inst.id) for r in payload.get("repositories_added") or []]
    removed = mark_repositories_removed([int(r["id"]) for r in payload.get("repositories_removed") or []])
    return f"installation {inst.id}: {len(added)} added, {removed} removed"


def on_repository(event: WebhookEvent) -> str:
    payload = event.payload
    data = payload.get("repository") or {}
    if not data.get("id"):
        return "no repository"
    repo = db.session.get(Repository, int(data["id"]))
    installation_id = (payload.get("installation") or {}).get("id")
    if installation_id is not None and db.session.get(Installation, int(installation_id)) is None:
        installation_id = None  # an installation we have not mirrored yet: the reconcile brings it
    if repo is None and installation_id is None:
        return "repository not mirrored"
    if event.action == "deleted":
        if repo is None:
            return "repository not mirrored"
        mark_repositories_removed([repo.id])
        return f"repository {repo.full_name} deleted"
    if installation_id is None and repo is not None:
        installation_id = repo.installation_id
    repo = upsert_repository(data, installation_id)
    return f"repository {repo.full_name} {event.action}"


def register_webhook_handlers(app: Flask) -> None:
    register_handler(app, "installation", on_installation)
    register_handler(app, "installation_repositories", on_installation_repositories)
    register_handler(app, "repository", on_repository)


# --- periodic full reconcile ------------------------------------------------------------------


def reconcile_installations() -> dict[str, int]:
    """Make the mirror match GitHub: every installation of the App and every repository each can reach."""
    gh = github()
    found = gh.paginate_app("/app/installations")
    seen_installations: set[int] = set()
    seen_repos: set[int] = set()
    for data in found:
        inst = upsert_installation(data)
        seen_installations.add(inst.id)
        if inst.suspended_at is not None:
            seen_repos.update(r.id for r in inst.repositories if r.removed_at is None)
            continue  # a suspended installation cannot mint tokens; keep its repositories as they are
        for repo in gh.paginate_installation(inst.id, "/installation/repositories", item_key="repositories"):
            seen_repos.add(upsert_repository(repo, inst.id).id)
    gone = 0
    for inst in db.session.scalars(select(Installation).where(Installation.removed_at.is_(None))):
        if inst.id not in seen_installations:
            inst.removed_at = utcnow()
            gone += 1
    stale = db.session.scalars(
        select(Repository.id).where(Repository.removed_at.is_(None), Repository.installation_id.is_not(None))
    ).all()
    removed = mark_repositories_removed([r for r in stale if r not in seen_repos])
    audit.record("github.reconcile", "installation", None, actor="system",
                 details={"installations": len(seen_installations), "repositories": len(seen_repos),
                          "installations_removed": gone, "repositories_removed": removed})
    db.session.commit()
    return {"installations": len(seen_installations), "repositories": len(seen_repos),
            "installations_removed": gone, "repositories_removed": removed}
