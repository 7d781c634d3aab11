"""Deployments of a release to an environment: promotion order, approvals, freezes, rollback.

A deployment waits in `pending_approval` until N valid approvals (from allowed approvers, never
the release's author; each expires after RELEASES_APPROVAL_HOURS) are in, then in `approved`
until its scheduled time has come and no freeze window is open (unless an admin overrode the
freeze with a reason). Then it is `queued`: mirrored to a GitHub Deployment, whose deployer
reports `in_progress` and the outcome through `deployment_status` webhooks (or the API). The same
checks run for manual, scheduled and automatic promotions, and the sweep re-runs them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.auth.models import User
from webapp.auth.principal import Actor, Who
from webapp.core import audit
from webapp.core.errors import Conflict, Forbidden, ValidationFailed
from webapp.extensions import db
from webapp.integrations.github import NOT_CONFIGURED, app_configured
from webapp.releases import environments, service
from webapp.releases.freeze import active_freeze
from webapp.releases.github_mirror import GITHUB_STATE, defer_mirror, out_of_sync_deployments
from webapp.releases.models import (
    APPROVED,
    FAILED,
    FINAL_STATUSES,
    IN_PROGRESS,
    PENDING_APPROVAL,
    QUEUED,
    ROLLED_BACK,
    SUCCEEDED,
    WAITING_STATUSES,
    Deployment,
    DeploymentApproval,
    Environment,
    Release,
)
from webapp.repos.access import get_visible_or_404, restrict_to_visible

log = logging.getLogger(__name__)

# GitHub deployment status state -> Gantry status.
FROM_GITHUB = {"queued": QUEUED, "pending": QUEUED, "in_progress": IN_PROGRESS, "success": SUCCEEDED,
               "failure": FAILED, "error": FAILED}
REPORTABLE = (IN_PROGRESS, SUCCEEDED, FAILED)


def get_deployment(who: Who, deployment_id: int) -> Deployment:
    return get_visible_or_404(who, Deployment, deployment_id, "Deployment")


def list_deployments(who: Who, *, release_id: int | None = None, environment_id: int | None = None,
                     limit: int = 100) -> list[Deployment]:
    stmt = restrict_to_visible(select(Deployment), Deployment.repository_id, who)
    if release_id is not None:
        service.get_release(who, release_id)
        stmt = stmt.where(Deployment.release_id == release_id)
    if environment_id is not None:
        environments.get_environment(who, environment_id)
        stmt = stmt.where(Deployment.environment_id == environment_id)
    return list(db.session.scalars(stmt.order_by(Deployment.id.desc()).limit(limit)))


def valid_approvals(deployment: Deployment, at: datetime | None = None) -> list[DeploymentApproval]:
    moment = at or service.now()
    return [a for a in deployment.approvals if a.is_valid(moment)]


def may_approve(user: User, env: Environment) -> bool:
    """Allowed approvers: anyone with the environment's approver role, and the named users."""
    if env.approver_role is None and not env.approver_user_ids:
        return bool(user.has_role("maintainer"))
    if env.approver_role is not None and user.has_role(env.approver_role):
        return True
    return user.id in (env.approver_user_ids or [])


def freeze_state(env: Environment, at: datetime | None = None) -> dict[str, Any] | None:
    found = active_freeze(env.freeze_windows, at or service.now())
    if found is None:
        return None
    window, until = found
    return {"until": until, "window": window.to_dict()}


# --- requesting ----------------------------------------------------------------------------


def _succeeded_in(release_id: int, environment_id: int) -> bool:
    return db.session.scalar(select(Deployment.id).where(
        Deployment.release_id == release_id, Deployment.environment_id == environment_id,
        Deployment.status == SUCCEEDED).limit(1)) is not None


def _check_order(release: Release, env: Environment) -> None:
    previous = environments.previous_environment(env)
    if previous is not None and not _succeeded_in(release.id, previous.id):
        raise Conflict(f"{release.version} must succeed in {previous.name} before it can go to {env.name}.",
                       code="promotion_order")


def _new_deployment(release: Release, env: Environment, *, trigger: str, requested_by: Any,
                    scheduled_for: datetime | None = None, kind: str = "deploy",
                    replaces_id: int | None = None) -> Deployment:
    deployment = Deployment(
        repository_id=release.repository_id, release_id=release.id, environment_id=env.id, kind=kind,
        trigger=trigger, status=PENDING_APPROVAL if env.required_approvals and kind == "deploy" else APPROVED,
        scheduled_for=scheduled_for, requested_by_id=getattr(requested_by, "id", None), replaces_id=replaces_id,
    )
    db.session.add(deployment)
    db.session.flush()
    return deployment


def request_deployment(who: Who, release_id: int, environment_id: int, *, scheduled_for: datetime | None = None,
                       override_freeze: bool = False, override_reason: str | None = None,
                       actor: Actor) -> Deployment:
    """Promote a release to an environment (after success in the one before it)."""
    release = service.get_release(who, release_id)
    env = environments.get_environment(who, environment_id, release.repository_id)
    if release.status != "published":
        raise Conflict(f"Publish {release.version} to GitHub before deploying it.", code="not_published")
    _check_order(release, env)
    if service.active_deployment(release.id, env.id) is not None:
        raise Conflict(f"{release.version} is already on its way to {env.name}.", code="already_deploying")
    if scheduled_for is not None and scheduled_for.tzinfo is None:
        raise ValidationFailed("Give the schedule with a time zone.", errors={"scheduled_for": ["needs a zone"]})
    try:
        deployment = _new_deployment(release, env, trigger="scheduled" if scheduled_for else "manual",
                                     requested_by=actor, scheduled_for=scheduled_for)
    except IntegrityError as exc:  # a concurrent request for the same release and environment won
        db.session.rollback()
        raise Conflict(f"{release.version} is already on its way to {env.name}.", code="already_deploying") from exc
    audit.record("deployment.request", "deployment", deployment.id, actor=actor,
                 details={"release": release.version, "environment": env.name,
                          "scheduled_for": scheduled_for.isoformat() if scheduled_for else None})
    if override_freeze:
        _override_freeze(who, deployment, override_reason, actor=actor)
    to_mirror = advance(deployment)
    defer_mirror(to_mirror)
    db.session.commit()
    return deployment


def _override_freeze(who: Who, deployment: Deployment, reason: str | None, *, actor: Actor) -> None:
    if not who.is_admin:
        raise Forbidden("Only an admin can deploy through a freeze window.", code="admin_required")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the freeze is overridden.", errors={"override_reason": ["required"]})
    deployment.freeze_override_reason = reason[:2000]
    deployment.freeze_override_by_id = getattr(actor, "id", None)
    audit.record("deployment.freeze_override", "deployment", deployment.id, actor=actor,
                 details={"reason": deployment.freeze_override_reason,
                          "environment_id": deployment.environment_id})


def override_freeze(who: Who, deployment_id: int, reason: str | None, *, actor: Actor) -> Deployment:
    """An admin lets a waiting deployment through the freeze window, with a reason (audited)."""
    deployment = get_deployment(who, deployment_id)
    if deployment.status not in WAITING_STATUSES:
        raise Conflict(f"Deployment {deployment.id} is {deployment.status}; nothing to override.")
    _override_freeze(who, deployment, reason, actor=actor)
    to_mirror = advance(deployment)
    defer_mirror(to_mirror)
    db.session.commit()
    return deployment


def start_first_environment(release: Release) -> None:
    """After publishing: an automatic first environment gets the release straight away."""
    envs = environments.environments_of(release.repository_id)
    if envs and envs[0].auto_promote and service.active_deployment(release.id, envs[0].id) is None:
        deployment = _new_deployment(release, envs[0], trigger="automatic", requested_by=None)
        audit.record("deployment.request", "deployment", deployment.id, actor="system",
                     details={"release": release.version, "environment": envs[0].name, "trigger": "automatic"})
        to_mirror = advance(deployment)
        defer_mirror(to_mirror)
        db.session.commit()


# --- approvals -----------------------------------------------------------------------------


def approve(who: Who, deployment_id: int, *, comment: str = "") -> Deployment:
    """Record the caller's own approval; the release's author and non-approvers are refused."""
    deployment = get_deployment(who, deployment_id)
    user = who.user
    env = deployment.environment
    release = deployment.release
    if deployment.status not in WAITING_STATUSES:
        raise Conflict(f"Deployment {deployment.id} is {deployment.status}; it takes no approvals now.")
    if release.created_by_id is not None and release.created_by_id == user.id:
        raise Forbidden("You cut this release, so someone else must approve it.", code="self_approval")
    if not may_approve(user, env):
        raise Forbidden(f"You are not an approver for {env.name}.", code="not_an_approver")
    moment = service.now()
    if any(a.user_id == user.id for a in valid_approvals(deployment, moment)):
        raise Conflict("You have already approved this deployment.", code="already_approved")
    hours = int(current_app.config["RELEASES_APPROVAL_HOURS"])
    approval = DeploymentApproval(deployment=deployment, user_id=user.id, username=user.username,
                                  comment=(comment or "").strip()[:2000], via=getattr(who, "via", "session"),
                                  created_at=moment, expires_at=moment + timedelta(hours=hours))
    db.session.add(approval)
    audit.record("deployment.approve", "deployment", deployment.id, actor=user,
                 details={"comment": approval.comment, "via": approval.via,
                          "expires_at": approval.expires_at.isoformat()})
    to_mirror = advance(deployment, moment)
    defer_mirror(to_mirror)
    db.session.commit()
    return deployment


# --- moving on -----------------------------------------------------------------------------


def advance(deployment: Deployment, at: datetime | None = None) -> list[int]:
    """Move a waiting deployment as far as the rules allow now; returns the ids to mirror to GitHub."""
    if deployment.status not in WAITING_STATUSES:
        return []
    moment = at or service.now()
    env = deployment.environment
    needed = env.required_approvals if deployment.kind == "deploy" else 0
    have = len(valid_approvals(deployment, moment))
    if have < needed:
        deployment.status = PENDING_APPROVAL
        deployment.waiting_reason = f"{have} of {needed} approvals"
        return []
    deployment.status = APPROVED
    if deployment.scheduled_for is not None and deployment.scheduled_for > moment:
        deployment.waiting_reason = f"scheduled for {deployment.scheduled_for.isoformat()}"
        return []
    if deployment.freeze_override_reason is None and deployment.kind == "deploy":
        frozen = freeze_state(env, moment)
        if frozen is not None:
            deployment.waiting_reason = f"freeze window until {frozen['until'].isoformat()}"
            return []
    deployment.status = QUEUED
    deployment.waiting_reason = None
    deployment.queued_at = moment
    audit.record("deployment.queued", "deployment", deployment.id, actor="system",
                 details={"environment": env.name, "release_id": deployment.release_id})
    return [deployment.id]


def _finish(deployment: Deployment, status: str, moment: datetime) -> list[int]:
    """Apply a reported status; a success lets an automatic next environment follow."""
    to_mirror: list[int] = []
    if deployment.is_final or status == deployment.status:
        return to_mirror
    if status in (QUEUED,) and deployment.status in (IN_PROGRESS,):
        return to_mirror  # never backwards
    deployment.status = status
    if status == IN_PROGRESS and deployment.started_at is None:
        deployment.started_at = moment
    if status in FINAL_STATUSES:
        deployment.finished_at = moment
        deployment.started_at = deployment.started_at or moment
    if status == SUCCEEDED:
        env = deployment.environment
        following = environments.next_environment(env)
        if following is not None and following.auto_promote and \
                service.active_deployment(deployment.release_id, following.id) is None:
            follow = _new_deployment(deployment.release, following, trigger="automatic", requested_by=None)
            audit.record("deployment.request", "deployment", follow.id, actor="system",
                         details={"release_id": deployment.release_id, "environment": following.name,
                                  "trigger": "automatic"})
            to_mirror += advance(follow, moment)
    return to_mirror


def report_status(who: Who, deployment_id: int, state: str, *, description: str | None = None,
                  actor: Actor) -> Deployment:
    """A deployer (CI job, script) reports progress or the outcome; GitHub is told too."""
    if state not in REPORTABLE:
        raise ValidationFailed("Report in_progress, succeeded or failed.", errors={"state": list(REPORTABLE)})
    deployment = get_deployment(who, deployment_id)
    if deployment.status not in (QUEUED, IN_PROGRESS):
        raise Conflict(f"Deployment {deployment.id} is {deployment.status}; only queued or running ones report.")
    if description:
        deployment.description = description.strip()[:140]
    to_mirror = [deployment.id, *_finish(deployment, state, service.now())]
    audit.record(f"deployment.{state}", "deployment", deployment.id, actor=actor,
                 details={"description": deployment.description})
    defer_mirror(to_mirror)
    db.session.commit()
    return deployment


def rollback(who: Who, environment_id: int, *, reason: str = "", actor: Actor) -> Deployment:
    """Redeploy the last release that succeeded in the environment before the current one."""
    env = environments.get_environment(who, environment_id)
    current = db.session.scalar(select(Deployment).where(
        Deployment.environment_id == env.id, Deployment.status.in_((IN_PROGRESS, SUCCEEDED, FAILED, QUEUED)))
        .order_by(Deployment.id.desc()).limit(1))
    if current is None:
        raise Conflict(f"Nothing has been deployed to {env.name}; there is nothing to roll back.",
                       code="nothing_to_roll_back")
    target = db.session.scalar(select(Deployment).where(
        Deployment.environment_id == env.id, Deployment.status == SUCCEEDED, Deployment.id < current.id,
        Deployment.release_id != current.release_id).order_by(Deployment.id.desc()).limit(1))
    if target is None:
        raise Conflict(f"No earlier release succeeded in {env.name}; there is nothing to roll back to.",
                       code="nothing_to_roll_back")
    if service.active_deployment(target.release_id, env.id) is not None:
        raise Conflict(f"{target.release.version} is already on its way to {env.name}; cancel that deployment "
                       "or let it finish instead of rolling back to it.", code="already_deploying")
    moment = service.now()
    current.status = ROLLED_BACK
    current.finished_at = current.finished_at or moment
    deployment = _new_deployment(target.release, env, trigger="rollback", requested_by=actor, kind="rollback",
                                 replaces_id=current.id)
    deployment.description = f"Rollback of {current.release.version}"
    audit.record("deployment.rollback", "deployment", deployment.id, actor=actor,
                 details={"environment": env.name, "from_release": current.release.version,
                          "to_release": target.release.version, "rolled_back_deployment": current.id,
                          "reason": (reason or "").strip()[:2000]})
    to_mirror = [current.id, *advance(deployment, moment)]
    defer_mirror(to_mirror)
    db.session.commit()
    return deployment


def sweep(at: datetime | None = None) -> dict[str, int]:
    """Re-check waiting deployments (freeze ended, time came, approvals expired) and lost work."""
    moment = at or service.now()
    waiting = list(db.session.scalars(select(Deployment).where(Deployment.status.in_(WAITING_STATUSES))))
    queued: list[int] = []
    for deployment in waiting:
        queued += advance(deployment, moment)
    stale: list[int] = []
    if app_configured():
        defer_mirror(queued)
        db.session.flush()
        stale = out_of_sync_deployments()
        defer_mirror(stale)
    else:  # GitHub hears about them once an App is set up: they stay out of sync until then
        log.info("releases sweep: deployments not mirrored to GitHub: %s", NOT_CONFIGURED)
    for release_id in service.unfinished_publishes():
        service.defer_publish(release_id)
    db.session.commit()
    return {"waiting": len(waiting), "queued": len(queued), "remirrored": len(stale)}


def on_deployment_status(event: Any) -> str | None:
    """`deployment_status` webhook: the deployer's word updates Gantry's record (never commits)."""
    payload = event.payload
    status = payload.get("deployment_status") or {}
    gh_deployment = payload.get("deployment") or {}
    deployment = None
    if gh_deployment.get("id") is not None:
        deployment = db.session.scalar(select(Deployment).where(
            Deployment.github_deployment_id == int(gh_deployment["id"])))
    if deployment is None:
        gantry_id = (gh_deployment.get("payload") or {}).get("gantry_deployment_id") \
            if isinstance(gh_deployment.get("payload"), dict) else None
        if isinstance(gantry_id, int):
            deployment = db.session.get(Deployment, gantry_id)
            if deployment is not None and event.repository_id not in (None, deployment.repository_id):
                deployment = None
            if deployment is not None and deployment.github_deployment_id is None:
                deployment.github_deployment_id = int(gh_deployment["id"])
    if deployment is None:
        return "not a Gantry deployment"
    state = str(status.get("state") or "")
    target = FROM_GITHUB.get(state)
    if target is None:
        return f"state {state} ignored"
    if deployment.status in WAITING_STATUSES or deployment.is_final:
        return f"deployment {deployment.id} is {deployment.status}; {state} ignored"
    deployment.github_state = state if state in GITHUB_STATE.values() else deployment.github_state
    if status.get("description"):
        deployment.description = str(status["description"])[:140]
    to_mirror = _finish(deployment, target, service.now())
    audit.record(f"deployment.{target}", "deployment", deployment.id, actor="github",
                 details={"github_state": state, "delivery": event.delivery_id})
    defer_mirror(to_mirror)
    return f"deployment {deployment.id} {deployment.status}"
