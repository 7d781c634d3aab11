"""Forward targets: create, change, rotate secrets, pause and re-enable, recover, and who sees which.

Admins see every target. Everyone else sees (and manages) only targets limited to repositories
they can all access; a target for every repository is an admin's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import selectinload

from webapp.auth.principal import Actor, Who
from webapp.core import audit, jobs
from webapp.core.errors import Conflict, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.forwarding import filters, signing
from webapp.forwarding.models import (
    FAILED,
    PENDING,
    ForwardDelivery,
    ForwardTarget,
    ForwardTargetRepository,
)
from webapp.forwarding.ssrf import Policy, UnsafeURL, check_url
from webapp.repos.access import visible_or_404, visible_repository_ids
from webapp.repos.models import Repository

ROTATION_OVERLAP = timedelta(hours=24)
DRAIN_SECONDS = 60  # one job sends a target's due deliveries for at most this long


def current_time() -> datetime:
    """Now, as forwarding's retry and disable rules see it."""
    return utcnow()


def url_policy() -> Policy:
    config = current_app.config
    return Policy.from_settings(
        config["FORWARDING_ALLOW_HTTP"], config["FORWARDING_ALLOWED_HOSTS"], config["FORWARDING_ALLOWED_CIDRS"]
    )


# --- visibility ----------------------------------------------------------------------------


def visible_targets(who: Who) -> Select[Any]:
    """Targets `who` may see: all for admins; for others, those whose repositories are all theirs."""
    stmt = select(ForwardTarget).options(selectinload(ForwardTarget.repositories))
    visible = visible_repository_ids(who)
    if visible is None:
        return stmt
    link = ForwardTargetRepository
    has_repository = exists().where(link.target_id == ForwardTarget.id)
    has_hidden = exists().where(link.target_id == ForwardTarget.id, link.repository_id.not_in(visible or {-1}))
    return stmt.where(has_repository, ~has_hidden)


MAX_ID = 2**31 - 1  # target ids are 32-bit; a larger number in a URL is simply not found
MAX_BIG_ID = 2**63 - 1


def get_target(who: Who, target_id: int) -> ForwardTarget:
    """The target, or 404 — the same answer whether it does not exist or is not yours to see."""
    target = None
    if 0 < target_id <= MAX_ID:
        target = db.session.scalar(visible_targets(who).where(ForwardTarget.id == target_id))
    return visible_or_404(target, f"Forward target {target_id}")


def page_targets(who: Who, *, cursor: str | None, limit: int) -> Page[ForwardTarget]:
    return keyset_page(visible_targets(who), [ForwardTarget.id], cursor, limit)


def list_targets(who: Who) -> list[ForwardTarget]:
    return list(db.session.scalars(visible_targets(who).order_by(ForwardTarget.name, ForwardTarget.id)))


def selectable_repositories(who: Who) -> list[Repository]:
    """Repositories `who` may limit a target to (for the page's form)."""
    stmt = select(Repository).where(Repository.removed_at.is_(None)).order_by(Repository.full_name)
    visible = visible_repository_ids(who)
    if visible is not None:
        stmt = stmt.where(Repository.id.in_(visible or {-1}))
    return list(db.session.scalars(stmt))


# --- validation ----------------------------------------------------------------------------


def _clean(who: Who, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate the fields given; raise ValidationFailed listing every problem at once."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in data or creating:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 100:
            errors["name"] = ["give a name of 1 to 100 characters"]
        cleaned["name"] = name
    if "url" in data or creating:
        url = str(data.get("url") or "").strip()
        if not url or len(url) > 2000:
            errors["url"] = ["give the receiver's URL (at most 2000 characters)"]
        else:
            try:
                check_url(url, url_policy())
            except UnsafeURL as exc:
                errors["url"] = [f"refused: {exc}"]
        cleaned["url"] = url
    if data.get("secret"):
        if not signing.is_valid_secret(str(data["secret"])):
            errors["secret"] = ["a secret needs at least 24 bytes (or leave it empty to have one generated)"]
        cleaned["secret"] = str(data["secret"])
    for key, clean in (
        ("events", filters.clean_events),
        ("branch_patterns", lambda v: filters.clean_patterns(v, "branch")),
        ("tag_patterns", lambda v: filters.clean_patterns(v, "tag")),
    ):
        if key in data:
            values, problems = clean([str(v) for v in data.get(key) or []])
            if problems:
                errors[key] = problems
            cleaned[key] = values
    if "github_signature" in data:
        cleaned["github_signature"] = bool(data["github_signature"])
    if "repository_ids" in data or creating:
        cleaned["repository_ids"], problems = _clean_repository_ids(who, data.get("repository_ids") or [])
        if problems:
            errors["repository_ids"] = problems
    if errors:
        raise ValidationFailed("The forward target is not valid.", errors=errors)
    return cleaned


def _clean_repository_ids(who: Who, raw: list[Any]) -> tuple[list[int], list[str]]:
    """The repositories a target is limited to, checked against what `who` may see."""
    ids = sorted({int(i) for i in raw})
    if any(not 0 < i <= MAX_BIG_ID for i in ids):
        return ids, ["repository ids are positive 64-bit numbers"]
    visible = visible_repository_ids(who)
    known = set(db.session.scalars(select(Repository.id).where(Repository.id.in_(ids)))) if ids else set()
    unknown = [i for i in ids if i not in known or (visible is not None and i not in visible)]
    if unknown:
        return ids, [f"repository {i} does not exist or you have no access to it" for i in unknown]
    if not ids and visible is not None:
        return ids, ["choose at least one repository (only admins forward every repository)"]
    return ids, []


def _set_repositories(target: ForwardTarget, ids: list[int]) -> None:
    current = {r.repository_id: r for r in target.repositories}
    for repo_id, link in current.items():
        if repo_id not in ids:
            target.repositories.remove(link)
    for repo_id in ids:
        if repo_id not in current:
            target.repositories.append(ForwardTargetRepository(repository_id=repo_id))


def _public_fields(target: ForwardTarget) -> dict[str, Any]:
    return {
        "name": target.name, "url": target.url, "events": target.events, "repository_ids": target.repository_ids,
        "branch_patterns": target.branch_patterns, "tag_patterns": target.tag_patterns,
        "github_signature": target.github_signature, "active": target.active,
    }


# --- changes -------------------------------------------------------------------------------


def create_target(who: Who, data: dict[str, Any], *, actor: Actor) -> tuple[ForwardTarget, str]:
    """Create a target; returns it with its signing secret (shown to the caller once)."""
    cleaned = _clean(who, data, creating=True)
    secret = cleaned.pop("secret", None) or signing.new_secret()
    ids = cleaned.pop("repository_ids")
    target = ForwardTarget(secret=secret, owner_id=getattr(actor, "id", None), **cleaned)
    _set_repositories(target, ids)
    db.session.add(target)
    db.session.flush()
    audit.record("forwarding.target.created", "forward_target", target.id, actor=actor,
                 details=_public_fields(target))
    db.session.commit()
    return target, secret


def update_target(who: Who, target_id: int, data: dict[str, Any], *, actor: Actor) -> ForwardTarget:
    """Change a target's name, URL, filters or active flag (re-enabling clears why it was disabled)."""
    target = get_target(who, target_id)
    cleaned = _clean(who, {k: v for k, v in data.items() if k not in ("active", "secret")}, creating=False)
    if "repository_ids" in cleaned:
        _set_repositories(target, cleaned.pop("repository_ids"))
    for key, value in cleaned.items():
        setattr(target, key, value)
    if "active" in data and bool(data["active"]) != target.active:
        if data["active"]:
            _enable(target)
        else:
            disable_target(target, f"paused by {getattr(actor, 'username', 'someone')}", current_time())
    audit.record("forwarding.target.updated", "forward_target", target.id, actor=actor,
                 details={"changed": sorted(k for k in data if k != "secret"), **_public_fields(target)})
    db.session.commit()
    return target


def _enable(target: ForwardTarget) -> None:
    target.active = True
    target.disabled_reason = None
    target.disabled_at = None
    target.failing_since = None


def disable_target(target: ForwardTarget, reason: str, now: datetime) -> None:
    """Stop sending to `target`; what was still waiting is marked failed, ready for recovery."""
    target.active = False
    target.disabled_reason = reason[:1000]
    target.disabled_at = now
    db.session.execute(
        update(ForwardDelivery)
        .where(ForwardDelivery.target_id == target.id, ForwardDelivery.status == PENDING)
        .values(status=FAILED, next_attempt_at=None, last_error=f"target disabled: {reason}"[:1000])
        .execution_options(synchronize_session=False)
    )
    audit.record("forwarding.target.disabled", "forward_target", target.id, actor=None, details={"reason": reason})


def delete_target(who: Who, target_id: int, *, actor: Actor) -> None:
    target = get_target(who, target_id)
    audit.record("forwarding.target.deleted", "forward_target", target.id, actor=actor,
                 details=_public_fields(target))
    db.session.delete(target)
    db.session.commit()


def rotate_secret(who: Who, target_id: int, *, actor: Actor,
                  new_secret: str | None = None) -> tuple[ForwardTarget, str]:
    """Sign with a new secret; the old one keeps signing too for 24 hours so receivers can switch."""
    target = get_target(who, target_id)
    if new_secret and not signing.is_valid_secret(new_secret):
        raise ValidationFailed("The forward target is not valid.",
                               errors={"secret": ["a secret needs at least 24 bytes"]})
    secret = new_secret or signing.new_secret()
    target.previous_secret = target.secret
    target.previous_secret_expires_at = current_time() + ROTATION_OVERLAP
    target.secret = secret
    audit.record("forwarding.target.secret_rotated", "forward_target", target.id, actor=actor,
                 details={"previous_valid_until": target.previous_secret_expires_at.isoformat()})
    db.session.commit()
    return target, secret


def signing_secrets(target: ForwardTarget, now: datetime) -> list[str]:
    """The secrets to sign with now: the current one, and the previous one during its overlap."""
    secrets_in_use = [target.secret]
    if target.previous_secret and target.previous_secret_expires_at and target.previous_secret_expires_at > now:
        secrets_in_use.append(target.previous_secret)
    return secrets_in_use


def recover_failed_since(who: Who, target_id: int, since: datetime, *, actor: Actor) -> list[int]:
    """Send again every failed delivery of the target created since `since` (the target must be active)."""
    target = get_target(who, target_id)
    if not target.active:
        raise Conflict("Enable the target before recovering its deliveries.", code="target_disabled")
    now = current_time()
    if since > now:
        raise ValidationFailed("The recovery start is in the future.", errors={"since": ["must be in the past"]})
    rows = db.session.execute(
        update(ForwardDelivery)
        .where(ForwardDelivery.target_id == target.id, ForwardDelivery.status == FAILED,
               ForwardDelivery.created_at >= since)
        .values(status=PENDING, retry_index=0, next_attempt_at=now, last_error=None)
        .returning(ForwardDelivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    audit.record("forwarding.target.recovered", "forward_target", target.id, actor=actor,
                 details={"since": since.isoformat(), "deliveries": len(rows)})
    if rows:
        defer_sends([target.id])
    db.session.commit()
    return sorted(row.id for row in rows)


def defer_sends(target_ids: Iterable[int]) -> int:
    """Drain each target's due deliveries once this transaction commits (one job per target at a
    time); returns how many targets.

    One job per target keeps a slow or hanging receiver on one worker, never on all of them, and
    spreads the queue's own overhead over every delivery the job sends. When Redis is away
    nothing is lost: the rows are due and the sweep queues their targets later.
    """
    targets = sorted(set(target_ids))
    for target_id in targets:
        jobs.defer("tasks.forwarding.send_target_deliveries", target_id, job_id=f"forwarding-target-{target_id}",
                   retry=None, timeout=DRAIN_SECONDS * 2 + 60)
    return len(targets)
