"""Projects, their files, what was last synced to GitHub, and the history of sync runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

# Run states: queued -> running -> one of the final states below.
RUN_ACTIVE = ("queued", "running", "waiting")
RUN_FINAL = ("succeeded", "nothing_to_do", "conflict", "failed", "pull_request")
RUN_STATES = RUN_ACTIVE + RUN_FINAL


class Project(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A set of files kept in Gantry and pushed to one repository, branch and base path."""

    __tablename__ = "sync_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    repository_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    branch: Mapped[str] = mapped_column(String(255), default="main")
    base_path: Mapped[str] = mapped_column(String(500), default="")
    # Commit to the branch (False) or open a pull request from a sync branch (True).
    use_pull_request: Mapped[bool] = mapped_column(default=False)
    last_synced_at: Mapped[datetime | None]
    last_commit_sha: Mapped[str | None] = mapped_column(String(40))

    owner = relationship("User")
    repository = relationship("Repository")
    files: Mapped[list[ProjectFile]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectFile.path"
    )


class ProjectFile(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sync_project_files"
    __table_args__ = (UniqueConstraint("project_id", "path", name="uq_sync_project_files_project_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("sync_projects.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    executable: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    blob_sha: Mapped[str] = mapped_column(String(40))  # git's blob id of `content`, computed on write
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="files")

    @property
    def mode(self) -> str:
        return "100755" if self.executable else "100644"


class SyncedFile(db.Model):  # type: ignore[name-defined]
    """The blob and mode of a path as of the last successful sync: the base of the three-way check."""

    __tablename__ = "sync_synced_files"

    project_id: Mapped[int] = mapped_column(ForeignKey("sync_projects.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    blob_sha: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(6), default="100644")
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncRun(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """One sync of a project (re-executed in place on retry, so its Sync-Id stays the same)."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_project_created", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("sync_projects.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(BigInteger, index=True)
    branch: Mapped[str] = mapped_column(String(255))
    sync_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual, api, retry, resolve, push
    paths: Mapped[list[Any] | None] = mapped_column(default=None)  # a subset of files, or all
    overwrite: Mapped[bool] = mapped_column(default=False)
    overwrite_paths: Mapped[list[Any]] = mapped_column(default=list)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text, default="")
    base_commit_sha: Mapped[str | None] = mapped_column(String(40))
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    pull_request_url: Mapped[str | None] = mapped_column(String(500))
    files: Mapped[list[Any]] = mapped_column(default=list)  # per-file plan and outcome
    files_written: Mapped[int] = mapped_column(default=0)
    files_deleted: Mapped[int] = mapped_column(default=0)
    conflicts: Mapped[int] = mapped_column(default=0)
    api_calls: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    ref_retries: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship()
    requested_by = relationship("User")

    @property
    def finished(self) -> bool:
        return self.status in RUN_FINAL

    @property
    def conflict_files(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f.get("action") == "conflict"]
