"""The build catalogue (platforms, OS versions, image types, state codes), builds, their state
history and failures, and the repository -> catalogue mappings used for GitHub Actions runs.

Builds carry their current state and result denormalised, so dashboards over a million builds
read one narrow index instead of walking histories.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

RESULTS = ("in_progress", "succeeded", "failed", "cancelled")


class Platform(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """Where an image is built for: a cloud and its partition (aws-commercial, aws-govcloud, azure...)."""

    __tablename__ = "build_platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cloud: Mapped[str] = mapped_column(String(64))
    aliases: Mapped[list[Any]] = mapped_column(default=list)  # other names pipelines send for it ("aws")


class OsVersion(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "build_os_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(64))
    aliases: Mapped[list[Any]] = mapped_column(default=list)


class ImageType(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "build_image_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    aliases: Mapped[list[Any]] = mapped_column(default=list)


class StateCode(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A numbered step a build reports; terminal codes end the build, failure codes end it badly."""

    __tablename__ = "build_state_codes"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    phase: Mapped[str] = mapped_column(String(32))
    terminal: Mapped[bool] = mapped_column(default=False)
    failure: Mapped[bool] = mapped_column(default=False)

    @property
    def result(self) -> str:
        """What a build in this state has come to: in_progress, succeeded, failed or cancelled."""
        if not self.terminal:
            return "in_progress"
        if self.failure:
            return "failed"
        return "cancelled" if self.phase == "cancelled" else "succeeded"


class Build(db.Model):  # type: ignore[name-defined]
    __tablename__ = "builds"
    __table_args__ = (
        # Newest-first lists and every time-windowed dashboard read this one; the included
        # columns let summaries run as index-only scans.
        Index("ix_builds_created", "created_at", "id",
              postgresql_include=["result", "current_state_code", "platform_id", "duration_seconds", "repository_id"]),
        Index("ix_builds_platform_created", "platform_id", "created_at", "id",
              postgresql_include=["result", "current_state_code", "os_version_id", "image_type_id",
                                  "duration_seconds", "repository_id"]),
        Index("ix_builds_result_created", "result", "created_at", "id"),
        Index("ix_builds_repository_created", "repository_id", "created_at", "id"),
        Index("ix_builds_commit", "commit_hash"),
        Index("ix_builds_in_flight", "current_state_code", postgresql_where=text("result = 'in_progress'")),
        # A build_id is unique within its repository (and among builds without one), not across
        # repositories: otherwise registering one would tell the caller that a build of the same
        # id exists in a repository they cannot see.
        Index("uq_builds_repository_build_id", "repository_id", "build_id", unique=True,
              postgresql_where=text("repository_id IS NOT NULL"), sqlite_where=text("repository_id IS NOT NULL")),
        Index("uq_builds_unscoped_build_id", "build_id", unique=True,
              postgresql_where=text("repository_id IS NULL"), sqlite_where=text("repository_id IS NULL")),
        Index("ix_builds_build_id", "build_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    build_id: Mapped[str] = mapped_column(String(200))
    platform_id: Mapped[int] = mapped_column(ForeignKey("build_platforms.id", ondelete="RESTRICT"))
    os_version_id: Mapped[int] = mapped_column(ForeignKey("build_os_versions.id", ondelete="RESTRICT"), index=True)
    image_type_id: Mapped[int] = mapped_column(ForeignKey("build_image_types.id", ondelete="RESTRICT"), index=True)
    repository_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("repositories.id", ondelete="SET NULL")
    )
    pipeline_url: Mapped[str] = mapped_column(String(2000), default="")
    commit_hash: Mapped[str] = mapped_column(String(64), default="")
    build_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    source: Mapped[str] = mapped_column(String(32), default="api")  # "api" or "github"
    current_state_code: Mapped[int] = mapped_column(ForeignKey("build_state_codes.code", ondelete="RESTRICT"))
    current_state_at: Mapped[datetime] = mapped_column(default=utcnow)
    current_message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(String(16), default="in_progress")
    # The state at which this pipeline is done: reaching it ends the build as succeeded, like a
    # terminal success code does (None: only terminal codes end it).
    final_state_code: Mapped[int | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    failure_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    platform: Mapped[Platform] = relationship(lazy="joined")
    os_version: Mapped[OsVersion] = relationship(lazy="joined")
    image_type: Mapped[ImageType] = relationship(lazy="joined")
    current_state: Mapped[StateCode] = relationship(lazy="joined")
    repository: Mapped[Any] = relationship("Repository", lazy="joined")

    @property
    def in_flight(self) -> bool:
        return self.result == "in_progress"


class BuildStateEvent(db.Model):  # type: ignore[name-defined]
    """One state report; `applied` is false when it arrived after a newer one and only joined history."""

    __tablename__ = "build_state_events"
    __table_args__ = (Index("ix_build_state_events_build", "build_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    build_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("builds.id", ondelete="CASCADE"))
    state_code: Mapped[int] = mapped_column(ForeignKey("build_state_codes.code", ondelete="RESTRICT"))
    message: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied: Mapped[bool] = mapped_column(default=True)
    reported_by: Mapped[str] = mapped_column(String(200), default="")

    state: Mapped[StateCode] = relationship(lazy="joined")


class BuildFailure(db.Model):  # type: ignore[name-defined]
    __tablename__ = "build_failures"
    __table_args__ = (
        Index("ix_build_failures_occurred", "occurred_at",
              postgresql_include=["component", "error_code", "build_id", "repository_id"]),
        Index("ix_build_failures_build", "build_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    build_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("builds.id", ondelete="CASCADE"))
    # the build's repository, copied so failure dashboards filter by visibility without a join
    repository_id: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str] = mapped_column(String(100), default="")
    component: Mapped[str] = mapped_column(String(200), default="")
    error_message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    reported_by: Mapped[str] = mapped_column(String(200), default="")


class GithubBuildMapping(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """Runs of this repository's workflows are builds of this catalogue entry.

    An empty `workflow_name` matches every workflow of the repository; a named one wins over it.
    """

    __tablename__ = "build_github_mappings"
    __table_args__ = (
        UniqueConstraint("repository_id", "workflow_name", name="uq_build_github_mappings_repo_workflow"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"))
    workflow_name: Mapped[str] = mapped_column(String(200), default="")
    platform_id: Mapped[int] = mapped_column(ForeignKey("build_platforms.id", ondelete="CASCADE"))
    os_version_id: Mapped[int] = mapped_column(ForeignKey("build_os_versions.id", ondelete="CASCADE"))
    image_type_id: Mapped[int] = mapped_column(ForeignKey("build_image_types.id", ondelete="CASCADE"))

    repository: Mapped[Any] = relationship("Repository", lazy="joined")
    platform: Mapped[Platform] = relationship(lazy="joined")
    os_version: Mapped[OsVersion] = relationship(lazy="joined")
    image_type: Mapped[ImageType] = relationship(lazy="joined")
