"""Launching one runner: JIT config from GitHub -> SSM SecureString -> ECS RunTask.

The JIT config is a credential: it goes straight from GitHub's answer into Parameter Store and
is never put in the task's environment, its overrides, the database or a log line. The task gets
only the parameter's name. A launch is safe to run again at any point: the task is looked up by
`startedBy` (and RunTask carries a `clientToken`) before a second one is started, and a GitHub
registration is reused while its parameter still exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import current_app

from webapp.core import jobs
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.integrations.ecs import AwsError, TaskLaunch, aws
from webapp.integrations.github import GitHubError, GitHubNotConfigured, GitHubRateLimited, app_configured
from webapp.runners import github_runners
from webapp.runners.models import (
    FAILED,
    LAUNCHING,
    POOL_DEGRADED,
    POOL_OK,
    REQUESTED,
    Runner,
    RunnerEvent,
    RunnerPool,
)

log = logging.getLogger(__name__)

# ECS failures[] reasons that are about configuration: retrying will not help.
CONFIG_FAILURES = ("MISSING", "INACTIVE", "ATTRIBUTE", "INVALID")
CONFIG_ERROR_CODES = {"ClusterNotFoundException", "InvalidParameterException", "ClientException",
                      "AccessDeniedException", "UnsupportedFeatureException", "PlatformUnknownException",
                      "PlatformTaskDefinitionIncompatibilityException", "ParameterNotFound",
                      "UnrecognizedClientException", "InvalidClientTokenId"}


class LaunchRetry(Exception):
    """The launch hit a passing problem (capacity, throttling, GitHub away): try again later."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.retry_after = retry_after


def parameter_name(runner: Runner) -> str:
    return f"{current_app.config['RUNNERS_SSM_PREFIX']}/{runner.name}"


def runner_environment(runner: Runner, pool: RunnerPool, parameter: str) -> dict[str, str]:
    """The only settings a runner container gets: where to read its JIT config, never the config."""
    return {
        "GANTRY_JITCONFIG_PARAMETER": parameter,
        "GANTRY_JITCONFIG_REGION": pool.region,
        "GANTRY_RUNNER_NAME": runner.name,
    }


def runner_tags(runner: Runner, pool: RunnerPool) -> dict[str, str]:
    tags = {
        "gantry:runner-id": str(runner.id),
        "gantry:runner-name": runner.name,
        "gantry:pool-id": str(pool.id),
        "gantry:pool": pool.name,
    }
    if runner.github_runner_id:
        tags["gantry:github-runner-id"] = str(runner.github_runner_id)
    return tags


def _event(runner: Runner, kind: str, message: str, reason: str | None = None) -> None:
    db.session.add(RunnerEvent(runner=runner, pool_id=runner.pool_id, kind=kind, reason=reason,
                               message=message[:1000]))


def degrade_pool(pool: RunnerPool, reason: str) -> None:
    """Stop launching for a pool whose configuration is wrong, and say why on its page."""
    if pool.status != POOL_DEGRADED or pool.degraded_reason != reason[:1000]:
        log.warning("pool %s degraded: %s", pool.name, reason)
    pool.status = POOL_DEGRADED
    pool.degraded_reason = reason[:1000]
    pool.degraded_at = utcnow()


def fail_runner(runner: Runner, reason: str, message: str) -> None:
    """End a runner that never got a task, removing what it left on GitHub and in SSM."""
    pool = runner.pool
    if runner.github_runner_id:
        try:
            github_runners.delete_runner(pool, runner.github_runner_id)
        except GitHubError:
            log.warning("runner %s: GitHub registration left for the reconciler", runner.name)
    if runner.ssm_parameter:
        try:
            aws().delete_parameter(pool.region, runner.ssm_parameter)
        except AwsError:
            log.warning("runner %s: parameter left for the reconciler", runner.name)
    runner.state = FAILED
    runner.ended_at = utcnow()
    runner.stop_reason = message[:1000]
    _event(runner, FAILED, message, reason)


def classify_failures(failures: list[dict[str, str]]) -> tuple[bool, str, str]:
    """(retryable, reason, message) for ECS's failures[]."""
    reasons = [str(f.get("reason") or "UNKNOWN") for f in failures]
    message = "; ".join(f"{f.get('reason')}: {f.get('detail') or f.get('arn') or ''}".strip() for f in failures)
    first = reasons[0].upper()
    if first.startswith(CONFIG_FAILURES):
        return False, first.split(":")[0].lower(), message
    if first.startswith("RESOURCE") or "CAPACITY" in first or first.startswith("AGENT"):
        return True, "capacity", message
    return True, first.split(":")[0].lower()[:50] or "unknown", message


def _max_attempts() -> int:
    return max(1, int(current_app.config["RUNNERS_LAUNCH_MAX_ATTEMPTS"]))


def launch_runner(runner_id: int) -> str:
    """Start the ECS task of a requested runner. Raises LaunchRetry for passing problems."""
    runner = db.session.execute(
        db.select(Runner).where(Runner.id == runner_id).with_for_update(of=Runner, key_share=True)
        .execution_options(populate_existing=True)
    ).unique().scalar_one_or_none()
    if runner is None or runner.state != REQUESTED:
        db.session.rollback()
        return "nothing to launch"
    pool = runner.pool
    if not pool.enabled or pool.status != POOL_OK:
        fail_runner(runner, "pool_unavailable", f"Pool {pool.name} is {pool.status}; launch abandoned")
        db.session.commit()
        return "pool unavailable"
    runner.launch_attempts += 1
    attempt = runner.launch_attempts
    db.session.commit()  # the attempt counts even if this worker dies mid-launch
    try:
        return _launch(runner, pool, first_attempt=attempt == 1)
    except LaunchRetry as exc:
        db.session.rollback()
        _event(runner, "launch_failed", f"Attempt {attempt}: {exc}", exc.reason)
        if attempt >= _max_attempts():
            fail_runner(runner, exc.reason, f"Gave up after {attempt} attempts: {exc}")
            db.session.commit()
            return "failed"
        db.session.commit()
        raise
    except _ConfigurationProblem as exc:
        db.session.rollback()
        _event(runner, "launch_failed", str(exc), exc.reason)
        degrade_pool(pool, str(exc))
        fail_runner(runner, exc.reason, str(exc))
        db.session.commit()
        return "failed"


class _ConfigurationProblem(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _aws_problem(exc: AwsError, doing: str) -> Exception:
    if exc.retryable:
        return LaunchRetry("throttled" if exc.code != "network" else "aws_unreachable", f"{doing}: {exc}")
    if exc.code in CONFIG_ERROR_CODES or exc.code.endswith("NotFoundException"):
        return _ConfigurationProblem("configuration", f"{doing}: {exc.code}: {exc.message}")
    return LaunchRetry(exc.code.lower()[:50], f"{doing}: {exc}")


def _github_problem(exc: GitHubError) -> Exception:
    if isinstance(exc, GitHubRateLimited):
        return LaunchRetry("github_rate_limited", exc.message, exc.retry_after)
    if isinstance(exc, GitHubNotConfigured) and not app_configured():  # waiting will not bring one
        return _ConfigurationProblem("github_configuration", f"No runner can register: {exc.message}")
    if exc.status in (401, 403, 404, 422):
        return _ConfigurationProblem("github_configuration",
                                     f"GitHub refused to register a runner ({exc.status}): {exc.message}")
    return LaunchRetry("github_unavailable", exc.message, exc.retry_after)


def _launch(runner: Runner, pool: RunnerPool, *, first_attempt: bool) -> str:
    client = aws()
    arn = None
    if not first_attempt:  # an earlier attempt may have started the task before it lost ECS's answer
        try:
            arn = client.find_task_started_by(pool.region, pool.cluster, runner.started_by)
        except AwsError as exc:
            raise _aws_problem(exc, "Looking for an earlier task") from exc
    if arn is None:
        parameter = parameter_name(runner)
        try:
            config_ready = bool(runner.github_runner_id) and client.parameter_exists(pool.region, parameter)
        except AwsError as exc:
            raise _aws_problem(exc, "Reading Parameter Store") from exc
        if not config_ready:
            _register(runner, pool, parameter)
        try:
            result = client.run_task(pool.region, _task_launch(runner, pool, parameter))
        except AwsError as exc:
            raise _aws_problem(exc, "RunTask") from exc
        if result.failures or not result.task_arn:
            retryable, reason, message = classify_failures(result.failures or [{"reason": "NO_TASK"}])
            if retryable:
                raise LaunchRetry(reason, f"RunTask: {message}")
            raise _ConfigurationProblem(reason, f"RunTask failed: {message}")
        arn = result.task_arn
    else:
        _event(runner, "note", "Found the task an earlier attempt started")
    # Only a runner still waiting for its task moves on: one stopped meanwhile loses the task.
    moved = db.session.execute(  # type: ignore[attr-defined]
        db.update(Runner).where(Runner.id == runner.id, Runner.state == REQUESTED)
        .values(task_arn=arn, state=LAUNCHING, launching_at=utcnow())
    ).rowcount
    if not moved:
        db.session.commit()
        client.stop_task(pool.region, pool.cluster, arn, "Gantry: runner was stopped while launching")
        return "stopped while launching"
    _event(runner, LAUNCHING, f"Task {arn.rsplit('/', 1)[-1]} started")
    db.session.commit()
    log.info("runner %s launched as %s", runner.name, arn)
    return "launched"


def _register(runner: Runner, pool: RunnerPool, parameter: str) -> None:
    """Register the runner on GitHub and park its JIT config in Parameter Store."""
    if runner.github_runner_id:
        try:
            github_runners.delete_runner(pool, runner.github_runner_id)
        except GitHubError as exc:
            raise _github_problem(exc) from exc
    try:
        jit = github_runners.generate_jitconfig(pool, runner.name)
    except GitHubError as exc:
        raise _github_problem(exc) from exc
    runner.github_runner_id = jit.github_runner_id
    # No commit in between: if storing fails, the retry's generate-jitconfig meets this name (409),
    # removes the registration and registers again.
    try:
        aws().put_secure_parameter(pool.region, parameter, jit.encoded_jit_config,
                                   current_app.config["RUNNERS_SSM_KMS_KEY_ID"])
    except AwsError as exc:
        raise _aws_problem(exc, "Storing the JIT config") from exc
    finally:
        del jit
    runner.ssm_parameter = parameter
    db.session.commit()


def _task_launch(runner: Runner, pool: RunnerPool, parameter: str) -> TaskLaunch:
    return TaskLaunch(
        cluster=pool.cluster, task_definition=pool.task_definition, container_name=pool.container_name,
        environment=runner_environment(runner, pool, parameter), tags=runner_tags(runner, pool),
        started_by=runner.started_by, client_token=runner.launch_token, capacity=pool.capacity,
        subnets=pool.subnets, security_groups=pool.security_groups, assign_public_ip=pool.assign_public_ip,
        cpu=pool.cpu, memory=pool.memory, network_awsvpc=bool(pool.subnets),
    )


def retry_delays() -> list[int]:
    """Back-off between launch attempts (seconds), one per retry after the first attempt."""
    base = [5, 20, 60, 180, 600]
    wanted = _max_attempts() - 1
    return (base + [600] * wanted)[:wanted]


def defer_launches(runner_ids: Iterable[int]) -> None:
    """Launch each runner once the transaction that created them commits."""
    delays = retry_delays()
    for runner_id in runner_ids:
        jobs.defer("tasks.runners.launch_runner", runner_id, job_id=f"runner-launch-{runner_id}", queue="high",
                   retry=delays or None)
