"""Runner pools, the runners Gantry launched, their timelines, and the workflow_job ledger.

A pool belongs to one repository or to one organisation installation. A runner is one ECS task
running one ephemeral GitHub runner. The ledger holds one row per (GitHub job id, run attempt).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

# Runner states, in the order a runner lives through them.
REQUESTED, LAUNCHING, IDLE, BUSY = "requested", "launching", "idle", "busy"
FINISHED, FAILED, STOPPED = "finished", "failed", "stopped"
RUNNER_STATES = (REQUESTED, LAUNCHING, IDLE, BUSY, FINISHED, FAILED, STOPPED)
ALIVE_STATES = (REQUESTED, LAUNCHING, IDLE, BUSY)
STARTING_STATES = (REQUESTED, LAUNCHING)
ENDED_STATES = (FINISHED, FAILED, STOPPED)

# workflow_job statuses: a job only ever moves to the right.
JOB_STATUSES = ("queued", "waiting", "in_progress", "completed")
JOB_RANK = {status: rank for rank, status in enumerate(JOB_STATUSES)}
DEMAND_STATUSES = ("queued", "waiting")

CAPACITY_CHOICES = ("FARGATE", "FARGATE_SPOT", "EC2")
POOL_OK, POOL_DEGRADED = "ok", "degraded"


class RunnerPool(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "runner_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    scope: Mapped[str] = mapped_column(String(20))  # "repository" or "organization"
    repository_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    installation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("github_installations.id", ondelete="CASCADE"),
                                                 index=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    max_runners: Mapped[int] = mapped_column(default=5)
    min_idle: Mapped[int] = mapped_column(default=0)
    runner_group_id: Mapped[int | None]
    idle_timeout_seconds: Mapped[int] = mapped_column(default=300)
    boot_timeout_seconds: Mapped[int] = mapped_column(default=600)
    # ECS launch settings
    region: Mapped[str] = mapped_column(String(30))
    cluster: Mapped[str] = mapped_column(String(300))
    task_definition: Mapped[str] = mapped_column(String(300))
    capacity: Mapped[str] = mapped_column(String(20), default="FARGATE")
    subnets: Mapped[list[Any]] = mapped_column(default=list)
    security_groups: Mapped[list[Any]] = mapped_column(default=list)
    assign_public_ip: Mapped[bool] = mapped_column(default=False)
    container_name: Mapped[str] = mapped_column(String(255), default="runner")
    cpu: Mapped[int | None]  # CPU units override (1024 = 1 vCPU)
    memory: Mapped[int | None]  # MiB override
    task_cpu: Mapped[int | None]  # what the task definition asks for, read on save (for costs)
    task_memory: Mapped[int | None]
    # cost rates (USD)
    cost_per_vcpu_hour: Mapped[float] = mapped_column(Numeric(12, 6, asdecimal=False), default=0.04048)
    cost_per_gb_hour: Mapped[float] = mapped_column(Numeric(12, 6, asdecimal=False), default=0.004445)
    # health
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20), default=POOL_OK)
    degraded_reason: Mapped[str | None] = mapped_column(String(1000))
    degraded_at: Mapped[datetime | None]
    scaled_at: Mapped[datetime | None]

    repository = relationship("Repository")
    installation = relationship("Installation")

    @property
    def vcpus(self) -> float:
        units = self.cpu or self.task_cpu or 1024
        return units / 1024

    @property
    def memory_gb(self) -> float:
        mib = self.memory or self.task_memory or 2048
        return mib / 1024

    @property
    def hourly_cost(self) -> float:
        return self.vcpus * float(self.cost_per_vcpu_hour) + self.memory_gb * float(self.cost_per_gb_hour)

    @property
    def owner_label(self) -> str:
        if self.scope == "repository" and self.repository is not None:
            return str(self.repository.full_name)
        return str(self.installation.account_login) if self.installation is not None else "?"

    @property
    def org_login(self) -> str:
        return str(self.installation.account_login) if self.installation is not None else ""


def new_launch_token() -> str:
    return uuid.uuid4().hex


class Runner(db.Model):  # type: ignore[name-defined]
    __tablename__ = "runners"
    __table_args__ = (Index("ix_runners_pool_state", "pool_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("runner_pools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(20), default=REQUESTED, index=True)
    # Stable per runner: the RunTask clientToken and startedBy, so a retried launch finds its task.
    launch_token: Mapped[str] = mapped_column(String(32), default=new_launch_token, unique=True)
    launch_attempts: Mapped[int] = mapped_column(default=0)
    github_runner_id: Mapped[int | None] = mapped_column(BigInteger)
    ssm_parameter: Mapped[str | None] = mapped_column(String(500))
    task_arn: Mapped[str | None] = mapped_column(String(500), index=True)
    repository_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_jobs.id", ondelete="SET NULL"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    launching_at: Mapped[datetime | None]
    registered_at: Mapped[datetime | None]
    busy_at: Mapped[datetime | None]
    idle_since: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    task_stopped_at: Mapped[datetime | None]
    stop_reason: Mapped[str | None] = mapped_column(String(1000))
    exit_code: Mapped[int | None]
    vcpus: Mapped[float] = mapped_column(Numeric(8, 3, asdecimal=False), default=1)
    memory_gb: Mapped[float] = mapped_column(Numeric(8, 3, asdecimal=False), default=2)
    hourly_cost: Mapped[float] = mapped_column(Numeric(12, 6, asdecimal=False), default=0)

    pool: Mapped[RunnerPool] = relationship()
    events: Mapped[list[RunnerEvent]] = relationship(order_by="RunnerEvent.id", cascade="all, delete-orphan",
                                                     back_populates="runner")

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_STATES

    @property
    def started_by(self) -> str:
        """ECS `startedBy` (at most 36 characters): how a retried launch finds an earlier task."""
        return f"gantry-{self.launch_token[:29]}"

    @property
    def seconds(self) -> float:
        """Runner-seconds billed so far: from the task's launch until it ended (or now)."""
        if self.launching_at is None:
            return 0.0
        end = self.task_stopped_at or self.ended_at or utcnow()
        return max(0.0, (end - self.launching_at).total_seconds())


class RunnerEvent(db.Model):  # type: ignore[name-defined]
    """One step of a runner's timeline; launch failures carry a reason for the failure figures."""

    __tablename__ = "runner_events"
    __table_args__ = (Index("ix_runner_events_kind_pool", "kind", "pool_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    runner_id: Mapped[int] = mapped_column(ForeignKey("runners.id", ondelete="CASCADE"), index=True)
    pool_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))  # a state name, "launch_failed", "note"
    reason: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(1000), default="")

    runner: Mapped[Runner] = relationship(back_populates="events")


class WorkflowJob(db.Model):  # type: ignore[name-defined]
    """The ledger: one GitHub Actions job attempt, as the workflow_job webhooks describe it."""

    __tablename__ = "workflow_jobs"
    __table_args__ = (
        UniqueConstraint("github_job_id", "run_attempt", name="uq_workflow_jobs_job_attempt"),
        Index("ix_workflow_jobs_pool_status", "pool_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    github_job_id: Mapped[int] = mapped_column(BigInteger)
    run_attempt: Mapped[int] = mapped_column(default=1)
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    repository_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    repository_full_name: Mapped[str] = mapped_column(String(400), default="")
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(500), default="")
    workflow_name: Mapped[str | None] = mapped_column(String(500))
    html_url: Mapped[str | None] = mapped_column(String(1000))
    labels: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    conclusion: Mapped[str | None] = mapped_column(String(30))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("runner_pools.id", ondelete="SET NULL"))
    matched: Mapped[bool] = mapped_column(default=False)  # False: no pool's labels cover this job
    self_hosted: Mapped[bool] = mapped_column(default=False)  # asked for self-hosted runners at all
    runner_name: Mapped[str | None] = mapped_column(String(255))
    github_runner_id: Mapped[int | None] = mapped_column(BigInteger)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def wait_seconds(self) -> float | None:
        """Queued until a runner picked it up (or until now while it waits)."""
        end = self.started_at or (None if self.status == "completed" else utcnow())
        if end is None:
            return None
        return max(0.0, (end - self.queued_at).total_seconds())
