"""A repository's environments: their promotion order, approval gates and freeze windows, and who may change them."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from webapp.auth.models import ROLES, User
from webapp.auth.principal import Actor, Who
from webapp.core import audit
from webapp.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from webapp.extensions import db
from webapp.releases.freeze import windows_of
from webapp.releases.models import Deployment, Environment
from webapp.releases.service import commit_or_conflict, flush_or_conflict
from webapp.repos.access import get_visible_repository

ENV_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}$")
MAX_APPROVALS = 20


def list_environments(who: Who, repository_id: int) -> list[Environment]:
    get_visible_repository(who, repository_id)
    return environments_of(repository_id)


def environments_of(repository_id: int) -> list[Environment]:
    return list(db.session.scalars(select(Environment).where(Environment.repository_id == repository_id)
                                   .order_by(Environment.position, Environment.id)))


def get_environment(who: Who, environment_id: int, repository_id: int | None = None) -> Environment:
    env = db.session.get(Environment, environment_id)
    if env is None or (repository_id is not None and env.repository_id != repository_id):
        raise NotFound(f"Environment {environment_id} does not exist.")
    get_visible_repository(who, env.repository_id)
    return env


def _approver_ids(usernames: list[str]) -> list[int]:
    ids, missing = [], []
    for name in usernames:
        user = db.session.scalar(select(User).where(func.lower(User.username) == name.strip().lower()))
        if user is None:
            missing.append(name)
        else:
            ids.append(user.id)
    if missing:
        raise ValidationFailed("Some approvers are not Gantry users.",
                               errors={"approvers": [f"no user named {', '.join(missing)}"]})
    return sorted(set(ids))


def approver_names(env: Environment) -> list[str]:
    if not env.approver_user_ids:
        return []
    return list(db.session.scalars(select(User.username).where(User.id.in_(env.approver_user_ids))
                                   .order_by(User.username)))


def _changed_gates(env: Environment, data: dict[str, Any]) -> list[str]:
    """The gates `data` would change: how many approve, who, when deployments freeze, and the order.

    Named approvers are compared by name, before any is looked up, so whether a username exists is
    never the answer a non-admin gets.
    """
    changed = []
    if "required_approvals" in data and int(data["required_approvals"] or 0) != env.required_approvals:
        changed.append("required_approvals")
    if "approver_role" in data and (data["approver_role"] or None) != env.approver_role:
        changed.append("approver_role")
    if "approvers" in data:
        wanted = {n.strip().lower() for n in data["approvers"] or [] if n.strip()}
        if wanted != {n.lower() for n in approver_names(env)}:
            changed.append("approvers")
    wanted_windows = [w.to_dict() for w in windows_of(data.get("freeze_windows") or [])]
    if "freeze_windows" in data and wanted_windows != list(env.freeze_windows or []):
        changed.append("freeze_windows")
    if data.get("position") is not None and int(data["position"]) != env.position:
        changed.append("position")
    return changed


def _has_gates(env: Environment) -> bool:
    return bool(env.required_approvals or env.approver_role or env.approver_user_ids or env.freeze_windows)


def _only_admins_change_gates(who: Who, gates: list[str]) -> None:
    # The same rule as the freeze override: an admin, with credentials that carry the admin scope.
    if gates and not who.is_admin:
        raise Forbidden(f"Only an admin can change an environment's gates ({', '.join(gates)}).",
                        code="admin_required", errors={gate: ["only an admin can change this"] for gate in gates})


def _apply_environment_fields(env: Environment, data: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not ENV_NAME_RE.match(name):
            errors["name"] = ["1-100 letters, digits, spaces, '.', '_' or '-'"]
        env.name = name
    if data.get("position") is not None:
        env.position = int(data["position"])
    if "required_approvals" in data:
        n = int(data["required_approvals"] or 0)
        if not 0 <= n <= MAX_APPROVALS:
            errors["required_approvals"] = [f"between 0 and {MAX_APPROVALS}"]
        env.required_approvals = n
    if "approver_role" in data:
        role = data["approver_role"] or None
        if role is not None and role not in ROLES:
            errors["approver_role"] = [f"one of {', '.join(ROLES)}, or empty"]
        env.approver_role = role
    if "approvers" in data:
        env.approver_user_ids = _approver_ids([n for n in data["approvers"] or [] if n.strip()])
    if "freeze_windows" in data:
        env.freeze_windows = [w.to_dict() for w in windows_of(data["freeze_windows"] or [])]
    if "auto_promote" in data:
        env.auto_promote = bool(data["auto_promote"])
    if "url" in data:
        url = (data["url"] or "").strip() or None
        if url is not None and not url.startswith(("https://", "http://")):
            errors["url"] = ["an http(s) URL"]
        env.url = url
    if errors:
        raise ValidationFailed("Some environment settings are not valid.", errors=errors)


def create_environment(who: Who, repository_id: int, data: dict[str, Any], *, actor: Actor) -> Environment:
    """Add an environment; without a position it goes after the last one."""
    get_visible_repository(who, repository_id)
    last = db.session.scalar(select(func.max(Environment.position)).where(Environment.repository_id == repository_id))
    env = Environment(repository_id=repository_id, position=(last or 0) + (1 if last is not None else 0),
                      required_approvals=0, approver_role=None, approver_user_ids=[], freeze_windows=[])
    gates = _changed_gates(env, data)
    _only_admins_change_gates(who, gates)
    _apply_environment_fields(env, {"name": "", **data})
    db.session.add(env)
    flush_or_conflict(f"The environment {env.name!r} already exists in this repository.")
    audit.record("environment.create", "environment", env.id, actor=actor,
                 details={"repository_id": repository_id, "name": env.name, "gates": gates})
    commit_or_conflict(f"The environment {env.name!r} already exists in this repository.")
    return env


def update_environment(who: Who, environment_id: int, data: dict[str, Any], *, actor: Actor,
                       repository_id: int | None = None) -> Environment:
    env = get_environment(who, environment_id, repository_id)
    gates = _changed_gates(env, data)
    _only_admins_change_gates(who, gates)
    _apply_environment_fields(env, data)
    audit.record("environment.update", "environment", env.id, actor=actor,
                 details={k: v for k, v in data.items() if k != "freeze_windows"} |
                 ({"freeze_windows": env.freeze_windows} if "freeze_windows" in data else {}) | {"gates": gates})
    commit_or_conflict(f"The environment {env.name!r} already exists in this repository.")
    return env


def delete_environment(who: Who, environment_id: int, *, actor: Actor, repository_id: int | None = None) -> None:
    env = get_environment(who, environment_id, repository_id)
    if _has_gates(env) or next_environment(env) is not None:  # removing it drops gates or a step of the order
        _only_admins_change_gates(who, ["environment"])
    used = db.session.scalar(select(func.count()).select_from(Deployment).where(Deployment.environment_id == env.id))
    if used:
        raise Conflict(f"{env.name} has {used} deployment(s); its history is kept, so it cannot be deleted.")
    audit.record("environment.delete", "environment", env.id, actor=actor, details={"name": env.name})
    db.session.delete(env)
    db.session.commit()


def previous_environment(env: Environment) -> Environment | None:
    envs = environments_of(env.repository_id)
    index = next(i for i, e in enumerate(envs) if e.id == env.id)
    return envs[index - 1] if index > 0 else None


def next_environment(env: Environment) -> Environment | None:
    envs = environments_of(env.repository_id)
    index = next(i for i, e in enumerate(envs) if e.id == env.id)
    return envs[index + 1] if index + 1 < len(envs) else None
