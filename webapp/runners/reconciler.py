"""The reconciler: compares ECS tasks and GitHub runners with the database and repairs the difference.

Each cycle, per pool: tasks that stopped end their runners (with ECS's reason); runners seen
online on GitHub become idle; a runner not registered within its boot timeout is stopped and
deregistered; offline `gantry-*` GitHub runners with no live runner behind them are removed;
idle runners above `min_idle` past the idle timeout are deregistered, then stopped; and the pool
is scaled again. Then, once per region, leftover SSM parameters are deleted, and jobs queued for
too long are matched and re-evaluated. Every step is safe to repeat, so an orphan is gone within
two cycles whatever order things happened in.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.ecs import AwsError, aws
from webapp.integrations.github import NOT_CONFIGURED, GitHubError, app_configured, github
from webapp.runners import github_runners
from webapp.runners.launcher import defer_launches
from webapp.runners.ledger import enabled_pools, match_pool, record_workflow_job
from webapp.runners.models import (
    ALIVE_STATES,
    BUSY,
    DEMAND_STATUSES,
    FAILED,
    FINISHED,
    IDLE,
    REQUESTED,
    STARTING_STATES,
    STOPPED,
    Runner,
    RunnerEvent,
    RunnerPool,
    WorkflowJob,
)
from webapp.runners.scaler import count_pool, scale_pool

log = logging.getLogger(__name__)
TASK_HISTORY = timedelta(hours=6)  # how long after a runner ends its task's stop reason is still read
ENDED_TASK_GRACE = timedelta(minutes=5)  # an ephemeral runner's container exits within moments of its job


def lock_runner(runner_id: int) -> Runner | None:
    return db.session.execute(
        select(Runner).where(Runner.id == runner_id).with_for_update(of=Runner, key_share=True)
        .execution_options(populate_existing=True)
    ).unique().scalar_one_or_none()


def _event(runner: Runner, kind: str, message: str, reason: str | None = None) -> None:
    db.session.add(RunnerEvent(runner=runner, pool_id=runner.pool_id, kind=kind, reason=reason,
                               message=message[:1000]))


def ledger_busy(runner: Runner) -> bool:
    """The ledger says this runner is running a job (whatever GitHub's busy flag says)."""
    if runner.state == BUSY:
        return True
    return db.session.scalar(
        select(WorkflowJob.id).where(WorkflowJob.runner_name == runner.name, WorkflowJob.status == "in_progress")
        .limit(1)
    ) is not None


def stop_runner(runner: Runner, reason: str, *, event_kind: str = STOPPED) -> str:
    """Deregister on GitHub first, then stop the task. Returns "stopped", "busy" or "ended".

    Never stops a runner the ledger shows busy; a 422 from GitHub (busy there) keeps it too.
    The caller holds the runner's row lock and commits.
    """
    if runner.state not in ALIVE_STATES:
        return "ended"
    if ledger_busy(runner):
        return "busy"
    pool = runner.pool
    if runner.github_runner_id:
        outcome = github_runners.delete_runner(pool, runner.github_runner_id)
        if outcome == "busy":
            _event(runner, "note", "GitHub says the runner is busy: kept")
            return "busy"
    if runner.task_arn:
        aws().stop_task(pool.region, pool.cluster, runner.task_arn, f"Gantry: {reason}")
    if runner.ssm_parameter:
        aws().delete_parameter(pool.region, runner.ssm_parameter)
    runner.state = STOPPED if event_kind == STOPPED else FAILED
    runner.ended_at = utcnow()
    runner.idle_since = None
    runner.stop_reason = reason[:1000]
    _event(runner, runner.state, reason, "boot_timeout" if event_kind == FAILED else None)
    return "stopped"


def _exit_code(task: dict[str, Any], container_name: str) -> int | None:
    for container in task.get("containers") or []:
        if container.get("name") == container_name and container.get("exitCode") is not None:
            return int(container["exitCode"])
    return None


def _task_stopped(runner: Runner, task: dict[str, Any] | None, now: datetime) -> None:
    """Record a stopped (or vanished) task; end the runner if it was still alive."""
    pool = runner.pool
    reason = (task or {}).get("stoppedReason") or "ECS no longer knows the task"
    code = _exit_code(task, pool.container_name) if task else None
    stopped_at = (task or {}).get("stoppedAt")
    runner.task_stopped_at = stopped_at if isinstance(stopped_at, datetime) else now
    runner.exit_code = code
    if runner.state in ALIVE_STATES:
        job = db.session.get(WorkflowJob, runner.job_id) if runner.job_id else None
        served = job is not None and job.status == "completed"
        runner.state = FINISHED if served or (code == 0 and runner.state != BUSY and runner.job_id) else FAILED
        runner.ended_at = runner.ended_at or now
        runner.idle_since = None
        runner.stop_reason = f"Task stopped: {reason}" + (f" (exit code {code})" if code is not None else "")
        _event(runner, runner.state, runner.stop_reason, None if runner.state == FINISHED else "task_stopped")
    elif runner.stop_reason and "Task stopped" not in runner.stop_reason:
        runner.stop_reason = f"{runner.stop_reason}; task stopped: {reason}"[:1000]
    if runner.ssm_parameter:
        try:
            aws().delete_parameter(pool.region, runner.ssm_parameter)
        except AwsError:
            log.warning("runner %s: parameter not deleted yet", runner.name)


def _sync_tasks(pool: RunnerPool, now: datetime, summary: Counter[str]) -> None:
    runners = list(db.session.scalars(
        select(Runner).where(Runner.pool_id == pool.id, Runner.task_arn.is_not(None), Runner.task_stopped_at.is_(None),
                             (Runner.state.in_(ALIVE_STATES)) | (Runner.ended_at > now - TASK_HISTORY))
    ).unique())
    if not runners:
        return
    tasks = aws().describe_tasks(pool.region, pool.cluster, [r.task_arn for r in runners if r.task_arn])
    for runner in runners:
        task = tasks.get(runner.task_arn or "")
        if task is not None and task.get("lastStatus") != "STOPPED":
            if runner.state not in ALIVE_STATES and runner.ended_at and runner.ended_at < now - ENDED_TASK_GRACE:
                # the runner is done but its container did not exit: a task billing for nothing
                aws().stop_task(pool.region, pool.cluster, task["taskArn"], "Gantry: runner ended, task kept running")
                summary["lingering_tasks_stopped"] += 1
            continue
        locked = lock_runner(runner.id)
        if locked is None or locked.task_stopped_at is not None:
            continue
        was_alive = locked.state in ALIVE_STATES
        _task_stopped(locked, task, now)
        db.session.commit()
        summary["tasks_stopped" if was_alive else "stop_reasons"] += 1


def _sync_github(pool: RunnerPool, now: datetime, summary: Counter[str]) -> None:
    listed = github_runners.list_runners(pool)
    ours = {g["name"]: g for g in listed if str(g.get("name", "")).startswith(github_runners.RUNNER_PREFIX)}
    starting = list(db.session.scalars(
        select(Runner).where(Runner.pool_id == pool.id, Runner.state.in_(STARTING_STATES))).unique())
    for runner in starting:
        seen = ours.get(runner.name)
        if seen is None or seen.get("status") != "online":
            continue
        locked = lock_runner(runner.id)
        if locked is None or locked.state not in STARTING_STATES:
            db.session.rollback()
            continue
        locked.registered_at = locked.registered_at or now
        locked.github_runner_id = locked.github_runner_id or seen.get("id")
        if seen.get("busy") or ledger_busy(locked):
            locked.state, locked.busy_at = BUSY, now
        else:
            locked.state, locked.idle_since = IDLE, now
        _event(locked, locked.state, "Registered with GitHub")
        db.session.commit()
        summary["registered"] += 1
    # offline gantry-* runners with no live runner behind them
    offline = [g for g in ours.values() if g.get("status") != "online"]
    if offline:
        alive_names = set(db.session.scalars(
            select(Runner.name).where(Runner.name.in_([g["name"] for g in offline]), Runner.state.in_(ALIVE_STATES))))
        for g in offline:
            if g["name"] in alive_names:
                continue
            outcome = github_runners.delete_runner(pool, int(g["id"]))
            summary[f"orphan_runner_{outcome}"] += 1
            log.info("pool %s: removed offline GitHub runner %s (%s)", pool.name, g["name"], outcome)


def _boot_timeouts(pool: RunnerPool, now: datetime, summary: Counter[str]) -> None:
    deadline = now - timedelta(seconds=pool.boot_timeout_seconds)
    late = list(db.session.scalars(
        select(Runner.id).where(Runner.pool_id == pool.id, Runner.state.in_(STARTING_STATES),
                                Runner.requested_at < deadline)))
    for runner_id in late:
        runner = lock_runner(runner_id)
        if runner is None or runner.state not in STARTING_STATES:
            db.session.rollback()
            continue
        what = "get a task" if runner.state == REQUESTED else "register with GitHub"
        outcome = stop_runner(runner, f"Did not {what} within {pool.boot_timeout_seconds} s", event_kind=FAILED)
        db.session.commit()
        summary[f"boot_timeout_{outcome}"] += 1


def _scale_down_idle(pool: RunnerPool, now: datetime, summary: Counter[str]) -> None:
    counts = count_pool(pool.id)
    surplus = counts.warm - (counts.demand + pool.min_idle)
    if surplus <= 0:
        return
    deadline = now - timedelta(seconds=pool.idle_timeout_seconds)
    idle = list(db.session.scalars(
        select(Runner.id).where(Runner.pool_id == pool.id, Runner.state == IDLE, Runner.idle_since < deadline)
        .order_by(Runner.idle_since).limit(surplus)))
    for runner_id in idle:
        runner = lock_runner(runner_id)
        if runner is None or runner.state != IDLE:
            db.session.rollback()
            continue
        outcome = stop_runner(runner, f"Idle for more than {pool.idle_timeout_seconds} s")
        db.session.commit()
        summary[f"idle_{outcome}"] += 1


def reconcile_pool(pool_id: int, *, with_github: bool = True) -> dict[str, int]:
    """One reconciler cycle for one pool; each step is skipped (and logged) if its service is away.

    `with_github=False` (no GitHub App configured) leaves out the step that lists GitHub's runners.
    """
    pool = db.session.get(RunnerPool, pool_id)
    summary: Counter[str] = Counter()
    if pool is None:
        return {}
    now = utcnow()
    steps = (("ecs", _sync_tasks), ("github", _sync_github), ("boot", _boot_timeouts), ("idle", _scale_down_idle))
    for name, step in steps:
        if name == "github" and not with_github:
            continue
        try:
            step(pool, now, summary)
        except (AwsError, GitHubError) as exc:
            db.session.rollback()
            summary[f"{name}_error"] += 1
            log.warning("pool %s: reconcile step %s failed: %s", pool.name, name, exc)
        pool = db.session.get(RunnerPool, pool_id) or pool
    return dict(summary)


def delete_leftover_parameters(region: str) -> int:
    """Delete JIT-config parameters no starting runner needs any more (read, ended or unknown)."""
    prefix = current_app.config["RUNNERS_SSM_PREFIX"]
    names = aws().list_parameter_names(region, prefix)
    if not names:
        return 0
    by_name = {f"{prefix}/{name}": state for name, state in db.session.execute(
        select(Runner.name, Runner.state).where(Runner.name.in_([n.rsplit("/", 1)[-1] for n in names])))}
    deleted = 0
    for name in names:
        if by_name.get(name) in STARTING_STATES:
            continue
        if aws().delete_parameter(region, name):
            deleted += 1
    return deleted


def reevaluate_waiting_jobs(limit: int = 200, *, with_github: bool = True) -> dict[str, int]:
    """Match jobs that found no pool (pools may have appeared since), and ask GitHub about jobs
    queued for longer than RUNNERS_REQUEUE_AFTER_SECONDS: one whose webhooks were lost is brought
    up to date, so it neither waits forever nor keeps a runner warm for nothing."""
    summary: Counter[str] = Counter()
    for job in db.session.scalars(
        select(WorkflowJob).where(WorkflowJob.status.in_(DEMAND_STATUSES), WorkflowJob.pool_id.is_(None),
                                  WorkflowJob.self_hosted.is_(True)).limit(limit)):
        pool = match_pool(job, enabled_pools())
        if pool is not None:
            job.pool_id, job.matched = pool.id, True
            summary["matched"] += 1
    db.session.commit()
    if not with_github:
        return dict(summary)
    threshold = utcnow() - timedelta(seconds=current_app.config["RUNNERS_REQUEUE_AFTER_SECONDS"])
    stale = list(db.session.execute(
        select(WorkflowJob.id, WorkflowJob.github_job_id, WorkflowJob.repository_full_name,
               WorkflowJob.installation_id, WorkflowJob.repository_id)
        .where(WorkflowJob.status.in_(DEMAND_STATUSES), WorkflowJob.pool_id.is_not(None),
               WorkflowJob.queued_at < threshold, WorkflowJob.installation_id.is_not(None))
        .order_by(WorkflowJob.queued_at).limit(limit)))
    for _, github_job_id, full_name, installation_id, repository_id in stale:
        try:
            answer = github().installation_request(installation_id, "GET",
                                                   f"/repos/{full_name}/actions/jobs/{github_job_id}")
        except GitHubError as exc:
            log.info("job %s not re-read from GitHub: %s", github_job_id, exc)
            summary["github_error"] += 1
            continue
        if not isinstance(answer, dict) or answer.get("status") in DEMAND_STATUSES:
            continue
        record_workflow_job({"action": answer.get("status"), "workflow_job": answer,
                             "repository": {"id": repository_id, "full_name": full_name}},
                            installation_id=installation_id)
        db.session.commit()
        summary["refreshed"] += 1
    return dict(summary)


def reconcile_all() -> dict[str, Any]:
    """A full cycle over every pool, then parameters and waiting jobs, then scaling.

    Without a GitHub App only the ECS and database side runs: GitHub is not asked about runners or
    jobs, and nothing is launched (a runner cannot register without the App's JIT config).
    """
    result: dict[str, Any] = {}
    with_github = app_configured()
    if not with_github:
        log.info("runners reconcile: GitHub runners and jobs not checked, no launches: %s", NOT_CONFIGURED)
    pool_ids = list(db.session.scalars(select(RunnerPool.id).order_by(RunnerPool.id)))
    for pool_id in pool_ids:
        result[str(pool_id)] = reconcile_pool(pool_id, with_github=with_github)
    regions = set(db.session.scalars(select(RunnerPool.region).distinct()))
    for region in regions:
        try:
            result[f"parameters_deleted:{region}"] = delete_leftover_parameters(region)
        except AwsError as exc:
            log.warning("leftover parameters in %s not checked: %s", region, exc)
    result["jobs"] = reevaluate_waiting_jobs(with_github=with_github)
    if not with_github:
        return result
    stuck = list(db.session.scalars(select(Runner.id).where(
        Runner.state == REQUESTED, Runner.task_arn.is_(None), Runner.requested_at < utcnow() - timedelta(seconds=30))))
    # a launch whose job was lost (Redis away at the time): the stable job id keeps this single
    defer_launches(stuck)
    db.session.commit()
    for pool_id in pool_ids:
        launched = scale_pool(pool_id)
        defer_launches(launched)
        db.session.commit()
        if launched:
            result[f"launched:{pool_id}"] = len(launched)
    return result

