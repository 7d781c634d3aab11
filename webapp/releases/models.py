"""Environments, releases, deployments (release x environment) and their approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

RELEASE_STATUSES = ("draft", "publishing", "published", "failed")

# The life of a deployment; the last three are final.
PENDING_APPROVAL = "pending_approval"
APPROVED = "approved"
QUEUED = "queued"
IN_PROGRESS = "in_progress"
SUCCEEDED = "succeeded"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
DEPLOYMENT_STATUSES = (PENDING_APPROVAL, APPROVED, QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, ROLLED_BACK)
WAITING_STATUSES = (PENDING_APPROVAL, APPROVED)
ACTIVE_STATUSES = (PENDING_APPROVAL, APPROVED, QUEUED, IN_PROGRESS)
FINAL_STATUSES = (SUCCEEDED, FAILED, ROLLED_BACK)
ACTIVE_SQL = "status IN ('pending_approval', 'approved', 'queued', 'in_progress')"


class Environment(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A stage a release goes through (dev -> staging -> production), ordered by position."""

    __tablename__ = "release_environments"
    __table_args__ = (UniqueConstraint("repository_id", "name", name="uq_release_environments_repository_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    required_approvals: Mapped[int] = mapped_column(default=0)
    # Who may approve: anyone with at least this role, plus the named users (ids).
    approver_role: Mapped[str | None] = mapped_column(String(20))
    approver_user_ids: Mapped[list[Any]] = mapped_column(default=list)
    # [{"cron": "0 18 * * 5", "duration_minutes": 3840, "timezone": "Europe/London"}]
    freeze_windows: Mapped[list[Any]] = mapped_column(default=list)
    auto_promote: Mapped[bool] = mapped_column(default=False)
    url: Mapped[str | None] = mapped_column(String(500))


class Release(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A semantic version of a repository cut at one commit, with its notes."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("repository_id", "version", name="uq_releases_repository_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    version: Mapped[str] = mapped_column(String(100))
    tag_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200), default="")
    target: Mapped[str] = mapped_column(String(255))  # what was asked for: branch, tag or SHA
    target_sha: Mapped[str] = mapped_column(String(40))
    base_sha: Mapped[str | None] = mapped_column(String(40))  # the previous release's commit
    previous_version: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    # {"sections": [...], "commits": [{sha, date, ...}], "compare_url": ...}
    notes_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    build_uuids: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    publish_error: Mapped[str | None] = mapped_column(Text)
    tag_created_at: Mapped[datetime | None]
    github_release_id: Mapped[int | None] = mapped_column(BigInteger)
    github_release_url: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    created_by = relationship("User")
    repository = relationship("Repository")
    deployments: Mapped[list[Deployment]] = relationship(back_populates="release", order_by="Deployment.id")


class Deployment(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """One release going to one environment, mirrored to a GitHub Deployment."""

    __tablename__ = "deployments"
    __table_args__ = (
        Index("ix_deployments_environment_status", "environment_id", "status"),
        Index("ix_deployments_repository_created", "repository_id", "created_at"),
        # One deployment of a release on its way to an environment at a time, even under races.
        Index("uq_deployments_one_active", "release_id", "environment_id", unique=True,
              postgresql_where=text(ACTIVE_SQL), sqlite_where=text(ACTIVE_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("release_environments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default="deploy")  # "deploy" or "rollback"
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual, scheduled, automatic, rollback
    status: Mapped[str] = mapped_column(String(20), default=PENDING_APPROVAL)
    waiting_reason: Mapped[str | None] = mapped_column(String(300))
    scheduled_for: Mapped[datetime | None]
    freeze_override_reason: Mapped[str | None] = mapped_column(Text)
    freeze_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    github_deployment_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    github_state: Mapped[str | None] = mapped_column(String(20))  # the last state GitHub knows of
    description: Mapped[str | None] = mapped_column(String(140))
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    release: Mapped[Release] = relationship(back_populates="deployments")
    environment: Mapped[Environment] = relationship()
    requested_by = relationship("User", foreign_keys=[requested_by_id])
    approvals: Mapped[list[DeploymentApproval]] = relationship(
        back_populates="deployment", order_by="DeploymentApproval.id", cascade="all, delete-orphan"
    )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class DeploymentApproval(db.Model):  # type: ignore[name-defined]
    """One person's approval of a deployment; it counts until it expires."""

    __tablename__ = "deployment_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(20), default="session")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    deployment: Mapped[Deployment] = relationship(back_populates="approvals")

    def is_valid(self, now: datetime) -> bool:
        return self.expires_at > now
