"""Runner pools: who may see and change them, validation (checked against AWS on save), CRUD."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from webapp.auth.principal import Actor, Who
from webapp.core import audit, jobs
from webapp.core.errors import Conflict, Forbidden, Unavailable, ValidationFailed
from webapp.extensions import db
from webapp.integrations.ecs import NO_CREDENTIALS, AwsError, aws, credentials_configured
from webapp.repos.access import can_see_repository, get_visible_or_404, get_visible_repository, visible_repository_ids
from webapp.repos.models import Installation
from webapp.runners.models import ALIVE_STATES, CAPACITY_CHOICES, POOL_OK, Runner, RunnerPool

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,99}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{3,40}$")
GROUP_RE = re.compile(r"^sg-[0-9a-f]{3,40}$")

EDITABLE = (
    "name", "labels", "max_runners", "min_idle", "runner_group_id", "idle_timeout_seconds", "boot_timeout_seconds",
    "region", "cluster", "task_definition", "capacity", "subnets", "security_groups", "assign_public_ip",
    "container_name", "cpu", "memory", "cost_per_vcpu_hour", "cost_per_gb_hour", "enabled",
)
DEFAULTS: dict[str, Any] = {
    "labels": [], "max_runners": 5, "min_idle": 0, "runner_group_id": None, "idle_timeout_seconds": 300,
    "boot_timeout_seconds": 600, "capacity": "FARGATE", "subnets": [], "security_groups": [],
    "assign_public_ip": False, "container_name": "runner", "cpu": None, "memory": None,
    "cost_per_vcpu_hour": 0.04048, "cost_per_gb_hour": 0.004445, "enabled": True,
}


# --- who sees what ---------------------------------------------------------------------------


def visible_pools_stmt(who: Who) -> Any:
    """Pools `who` may see: every organisation pool, and repository pools of visible repositories."""
    stmt = select(RunnerPool)
    visible = visible_repository_ids(who)
    if visible is None:
        return stmt
    return stmt.where(or_(RunnerPool.scope == "organization", RunnerPool.repository_id.in_(visible or [-1])))


def list_pools(who: Who) -> list[RunnerPool]:
    return list(db.session.scalars(visible_pools_stmt(who).order_by(RunnerPool.name)).unique())


def pools_for_repository(who: Who, repository_id: int) -> list[RunnerPool]:
    """The pools that can run a repository's jobs: its own and its installation's organisation pools."""
    repo = get_visible_repository(who, repository_id)
    return list(db.session.scalars(select(RunnerPool).where(or_(
        RunnerPool.repository_id == repo.id,
        (RunnerPool.scope == "organization") & (RunnerPool.installation_id == repo.installation_id),
    )).order_by(RunnerPool.name)))


def get_visible_pool(who: Who, pool_id: int) -> RunnerPool:
    return get_visible_or_404(who, RunnerPool, pool_id, "Runner pool", visible=lambda pool: (
        pool.scope != "repository" or can_see_repository(who, pool.repository_id)))


def _require_manage(who: Who, pool: RunnerPool) -> None:
    """Organisation pools serve every repository, so only admins change them."""
    if pool.scope == "organization" and not _is_admin(who):
        raise Forbidden("Only admins manage organisation runner pools.", code="role_required")


def _is_admin(who: Who) -> bool:
    return bool(who.is_admin)


# --- validation ------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[,\s]+", value)
    return [str(item).strip() for item in value if str(item).strip()]


def _as_int(errors: dict[str, list[str]], name: str, value: Any, low: int, high: int,
            optional: bool = False) -> int | None:
    if value in (None, "") and optional:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append("must be a whole number")
        return None
    if not low <= number <= high:
        errors.setdefault(name, []).append(f"must be between {low} and {high}")
    return number


def _as_float(errors: dict[str, list[str]], name: str, value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append("must be a number")
        return None
    if number < 0 or number > 1000:
        errors.setdefault(name, []).append("must be between 0 and 1000")
    return number


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _clean_labels(errors: dict[str, list[str]], value: Any) -> list[str]:
    labels: list[str] = []
    for label in _as_list(value):
        if not LABEL_RE.match(label):
            errors.setdefault("labels", []).append(f"{label!r} is not a valid label")
        elif label.lower() not in {existing.lower() for existing in labels}:
            labels.append(label)
    if not [label for label in labels if label.lower() != "self-hosted"]:
        errors.setdefault("labels", []).append("give at least one label besides self-hosted")
    return labels


def _clean_network(errors: dict[str, list[str]], data: dict[str, Any], capacity: str) -> tuple[list[str], list[str]]:
    """(subnets, security groups): well-formed ids, and at least one of each for Fargate tasks."""
    subnets = _as_list(data.get("subnets"))
    groups = _as_list(data.get("security_groups"))
    bad = [s for s in subnets if not SUBNET_RE.match(s)]
    if bad:
        errors["subnets"] = [f"not subnet ids: {', '.join(bad)}"]
    bad = [g for g in groups if not GROUP_RE.match(g)]
    if bad:
        errors["security_groups"] = [f"not security group ids: {', '.join(bad)}"]
    if capacity in ("FARGATE", "FARGATE_SPOT"):
        if not subnets:
            errors.setdefault("subnets", []).append("Fargate tasks need at least one subnet")
        if not groups:
            errors.setdefault("security_groups", []).append("Fargate tasks need at least one security group")
    return subnets, groups


def clean_pool_fields(data: dict[str, Any], scope: str) -> dict[str, Any]:
    """Check and normalise pool settings; raises ValidationFailed naming every bad field."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip().lower()
    if not NAME_RE.match(name):
        errors["name"] = ["1-30 lower-case letters, digits or dashes, starting with a letter or digit"]
    out["name"] = name
    out["labels"] = _clean_labels(errors, data.get("labels"))
    out["max_runners"] = _as_int(errors, "max_runners", data.get("max_runners"), 0, 1000)
    out["min_idle"] = _as_int(errors, "min_idle", data.get("min_idle"), 0, 1000)
    if out["max_runners"] is not None and out["min_idle"] is not None and out["min_idle"] > out["max_runners"]:
        errors.setdefault("min_idle", []).append("cannot be more than max_runners (the cap)")
    out["runner_group_id"] = _as_int(errors, "runner_group_id", data.get("runner_group_id"), 1, 2**31,
                                     optional=True)
    if out["runner_group_id"] is not None and scope != "organization":
        errors.setdefault("runner_group_id", []).append("runner groups are for organisation pools")
    out["idle_timeout_seconds"] = _as_int(errors, "idle_timeout_seconds", data.get("idle_timeout_seconds"), 30,
                                          86400)
    out["boot_timeout_seconds"] = _as_int(errors, "boot_timeout_seconds", data.get("boot_timeout_seconds"), 60,
                                          7200)
    region = str(data.get("region") or current_app.config["AWS_REGION"]).strip()
    if not REGION_RE.match(region):
        errors["region"] = ["not an AWS region name (e.g. eu-west-1)"]
    out["region"] = region
    for key in ("cluster", "task_definition", "container_name"):
        value = str(data.get(key) or "").strip()
        if not value or len(value) > 255:
            hint = f", or set ECS_{key.upper()} for every new pool" if key != "container_name" else ""
            errors[key] = [f"required (at most 255 characters{hint})"]
        out[key] = value
    capacity = str(data.get("capacity") or "FARGATE").strip().upper()
    if capacity not in CAPACITY_CHOICES:
        errors["capacity"] = [f"one of {', '.join(CAPACITY_CHOICES)}"]
    out["capacity"] = capacity
    out["subnets"], out["security_groups"] = _clean_network(errors, data, capacity)
    out["assign_public_ip"] = _as_bool(data.get("assign_public_ip", False))
    out["cpu"] = _as_int(errors, "cpu", data.get("cpu"), 256, 16384, optional=True)
    out["memory"] = _as_int(errors, "memory", data.get("memory"), 512, 122880, optional=True)
    out["cost_per_vcpu_hour"] = _as_float(errors, "cost_per_vcpu_hour", data.get("cost_per_vcpu_hour"))
    out["cost_per_gb_hour"] = _as_float(errors, "cost_per_gb_hour", data.get("cost_per_gb_hour"))
    out["enabled"] = _as_bool(data.get("enabled", True))
    if errors:
        raise ValidationFailed("The pool settings are not valid.", errors=errors)
    return out


def aws_credentials_found() -> bool:
    """Whether AWS can be asked at all: the pool form says so before anyone tries."""
    return credentials_configured()


def check_against_aws(fields: dict[str, Any]) -> dict[str, Any]:
    """Ask AWS whether the cluster, task definition, container, subnets and groups exist.

    Returns what the task definition asks for (cpu, memory) for the cost figures.
    """
    errors: dict[str, list[str]] = {}
    region = fields["region"]
    client = aws()
    try:
        cluster = client.describe_cluster(region, fields["cluster"])
        if cluster is None or cluster.get("status") != "ACTIVE":
            errors["cluster"] = [f"no active ECS cluster {fields['cluster']!r} in {region}"]
        task_def = client.describe_task_definition(region, fields["task_definition"])
        found: dict[str, Any] = {}
        if task_def is None:
            errors["task_definition"] = [f"no task definition {fields['task_definition']!r} in {region}"]
        else:
            containers = [c.get("name") for c in task_def.get("containerDefinitions", [])]
            if fields["container_name"] not in containers:
                errors["container_name"] = [f"the task definition has no container {fields['container_name']!r} "
                                            f"(it has {', '.join(map(str, containers)) or 'none'})"]
            if task_def.get("networkMode") == "awsvpc" and not fields["subnets"]:
                errors.setdefault("subnets", []).append("the task definition uses awsvpc: give subnets")
            if fields["capacity"] != "EC2" and "FARGATE" not in (task_def.get("requiresCompatibilities") or []):
                errors.setdefault("capacity", []).append("the task definition is not compatible with Fargate")
            found = {"task_cpu": _units(task_def.get("cpu")), "task_memory": _units(task_def.get("memory"))}
        missing = client.missing_subnets(region, fields["subnets"])
        if missing:
            errors.setdefault("subnets", []).append(f"not found in {region}: {', '.join(missing)}")
        missing = client.missing_security_groups(region, fields["security_groups"])
        if missing:
            errors.setdefault("security_groups", []).append(f"not found in {region}: {', '.join(missing)}")
    except AwsError as exc:
        if exc.code == NO_CREDENTIALS:
            raise ValidationFailed(
                "Gantry cannot check these ECS settings without AWS credentials. Save the pool with launching "
                "off to finish it now; it is checked again when launching is turned on.",
                errors={"enabled": [exc.message]}) from exc
        if exc.retryable:
            raise Unavailable(f"AWS could not be reached to check the ECS settings: {exc.message}") from exc
        raise ValidationFailed("AWS refused to check the ECS settings.",
                               errors={"cluster": [f"{exc.code}: {exc.message}"]}) from exc
    if errors:
        raise ValidationFailed("AWS does not have what these settings name.", errors=errors)
    return found


def _units(value: Any) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def launch_defaults() -> dict[str, Any]:
    """ECS launch settings from ECS_CLUSTER, ECS_TASK_DEFINITION, ... for a new pool that names none."""
    config = current_app.config
    found = {"cluster": config["ECS_CLUSTER"], "task_definition": config["ECS_TASK_DEFINITION"],
             "subnets": config["ECS_SUBNETS"], "security_groups": config["ECS_SECURITY_GROUPS"],
             "capacity": config["ECS_LAUNCH_TYPE"]}
    return {key: value for key, value in found.items() if value}


def _free_name(owner: str, labels: Any) -> str:
    """A pool name for a request that gives none: owner and first label, made unique with a number."""
    first = next((str(label) for label in _as_list(labels) if str(label).lower() != "self-hosted"), "runners")
    base = re.sub(r"[^a-z0-9]+", "-", f"{owner}-{first}".lower()).strip("-")[:25].strip("-") or "pool"
    name, number = base, 1
    while _name_taken(name, None):
        number += 1
        name = f"{base}-{number}"
    return name


def _name_taken(name: str, pool_id: int | None) -> bool:
    stmt = select(RunnerPool.id).where(func.lower(RunnerPool.name) == name)
    if pool_id is not None:
        stmt = stmt.where(RunnerPool.id != pool_id)
    return db.session.scalar(stmt) is not None


# --- create, update, delete ------------------------------------------------------------------


def create_pool(who: Who, data: dict[str, Any], *, actor: Actor = None) -> RunnerPool:
    """Create a pool for a repository (`repository_id`) or an organisation installation (`installation_id`)."""
    scope = str(data.get("scope") or ("repository" if data.get("repository_id") else "organization"))
    if scope == "repository":
        if not data.get("repository_id"):
            raise ValidationFailed("Say which repository the pool is for.",
                                   errors={"repository_id": ["required for a repository pool"]})
        repo = get_visible_repository(who, int(data["repository_id"]))
        if repo.installation_id is None:
            raise ValidationFailed("The GitHub App is not installed on that repository.",
                                   errors={"repository_id": ["no installation"]})
        owner: dict[str, Any] = {"scope": "repository", "repository_id": repo.id,
                                 "installation_id": repo.installation_id}
        owner_label = repo.name
    elif scope == "organization":
        if not _is_admin(who):
            raise Forbidden("Only admins create organisation runner pools.", code="role_required")
        installation = db.session.get(Installation, int(data.get("installation_id") or 0))
        if installation is None:
            raise ValidationFailed("Say which installation the pool is for.",
                                   errors={"installation_id": ["no such installation"]})
        if installation.account_type != "Organization":
            raise ValidationFailed("Organisation pools need an organisation installation.",
                                   errors={"installation_id": [f"{installation.account_login} is not an organisation"]})
        owner = {"scope": "organization", "repository_id": None, "installation_id": installation.id}
        owner_label = installation.account_login
    else:
        raise ValidationFailed("Unknown scope.", errors={"scope": ["repository or organization"]})
    wanted = {**DEFAULTS, **launch_defaults(), **data}
    if not str(wanted.get("name") or "").strip():
        wanted["name"] = _free_name(owner_label, wanted.get("labels"))
    fields = clean_pool_fields(wanted, str(owner["scope"]))
    if _name_taken(fields["name"], None):
        raise ValidationFailed("That pool name is taken.", errors={"name": ["already used by another pool"]})
    if fields["enabled"]:  # a pool that launches nothing needs no AWS yet; turning it on checks
        fields.update(check_against_aws(fields))
    pool = RunnerPool(**owner, **fields, status=POOL_OK)
    db.session.add(pool)
    db.session.flush()
    audit.record("runner_pool.create", "runner_pool", pool.id, actor=actor,
                 details={"name": pool.name, "scope": pool.scope, "labels": pool.labels})
    _rescale_soon(pool.id)
    db.session.commit()
    return pool


def update_pool(who: Who, pool_id: int, changes: dict[str, Any], *, actor: Actor = None) -> RunnerPool:
    """Change a pool's settings (checked against AWS again); saving clears a degraded status."""
    pool = get_visible_pool(who, pool_id)
    _require_manage(who, pool)
    current = {key: getattr(pool, key) for key in EDITABLE}
    merged = {**current, **{k: v for k, v in changes.items() if k in EDITABLE}}
    fields = clean_pool_fields(merged, pool.scope)
    if _name_taken(fields["name"], pool.id):
        raise ValidationFailed("That pool name is taken.", errors={"name": ["already used by another pool"]})
    if fields["name"] != pool.name and db.session.scalar(
            select(func.count()).select_from(Runner).where(Runner.pool_id == pool.id, Runner.state.in_(ALIVE_STATES))):
        raise Conflict("Rename a pool only when none of its runners is alive (their names carry it).")
    if fields["enabled"]:
        fields.update(check_against_aws(fields))
    changed = {k: v for k, v in fields.items() if getattr(pool, k) != v}
    for key, value in fields.items():
        setattr(pool, key, value)
    was_degraded = pool.status != POOL_OK
    pool.status, pool.degraded_reason, pool.degraded_at = POOL_OK, None, None
    audit.record("runner_pool.update", "runner_pool", pool.id, actor=actor,
                 details={"changed": sorted(changed), "cleared_degraded": was_degraded})
    _rescale_soon(pool.id)
    db.session.commit()
    return pool


def _rescale_soon(pool_id: int) -> None:
    """A new cap, warm count or labels change what should run: decide again when the change commits,
    not at the next cycle (with Redis away, the periodic reconciler scales every pool anyway)."""
    jobs.defer("tasks.runners.scale_pool", pool_id, job_id=f"runner-scale-{pool_id}", queue="high", retry=None)


def delete_pool(who: Who, pool_id: int, *, actor: Actor = None) -> None:
    pool = get_visible_pool(who, pool_id)
    _require_manage(who, pool)
    alive = db.session.scalar(
        select(func.count()).select_from(Runner).where(Runner.pool_id == pool.id, Runner.state.in_(ALIVE_STATES)))
    if alive:
        raise Conflict(f"The pool still has {alive} runner(s) alive: set max_runners and min_idle to 0, "
                       "or stop them, then delete it.")
    audit.record("runner_pool.delete", "runner_pool", pool.id, actor=actor, details={"name": pool.name})
    db.session.delete(pool)
    db.session.commit()


def pool_form_defaults() -> dict[str, Any]:
    """A new pool's form: launching starts off where Gantry has no AWS credentials to launch with."""
    return {**DEFAULTS, "region": current_app.config["AWS_REGION"], "labels": ["self-hosted", "linux"],
            "enabled": credentials_configured()}
