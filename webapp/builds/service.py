"""Builds as CI pipelines report them: idempotent creation, state history, failures, lookups, lists.

Every front door (API, pages, the workflow_run handler) goes through these functions. The public
ones commit and then make cached dashboards obsolete; the `add_*`/`apply_*` ones only change the
session, for callers (webhook handlers) that commit themselves.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite

from webapp.auth.principal import Actor, Who, user_of
from webapp.builds import cache
from webapp.builds.catalog_service import KINDS, find_entry, resolve_entries, resolve_state_code, valid_names
from webapp.builds.models import RESULTS, Build, BuildFailure, BuildStateEvent, StateCode
from webapp.core import audit
from webapp.core.errors import Conflict, NotFound, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import Page, keyset_page
from webapp.extensions import db
from webapp.repos.access import (
    get_visible_repository,
    get_visible_repository_by_name,
    not_visible,
    visible_or_404,
    visible_repository_ids,
)
from webapp.repos.models import Repository

COMPARED_FIELDS = ("platform", "os_version", "image_type", "pipeline_url", "commit_hash", "repository", "metadata")


def _reporter(principal: Who | None | None) -> str:
    if principal is None:
        return "system"
    return user_of(principal).username


def _audit_actor(principal: Who | None | None) -> Actor:
    return None if principal is None else user_of(principal)


def restrict_visible(stmt: Select[Any], principal: Who | None, column: Any = Build.repository_id) -> Select[Any]:
    """Builds without a repository, and builds of repositories `principal` may see (all for admins).

    `column` is the repository id column to filter on (a copy of the build's, on failures).
    """
    if principal is None:
        return stmt
    ids = visible_repository_ids(principal)
    if ids is None:
        return stmt
    return stmt.where(or_(column.is_(None), column.in_(sorted(ids))))


def visibility_scope(principal: Who | None) -> str:
    """A short key naming what `principal` may see, for caching per audience."""
    ids = None if principal is None else visible_repository_ids(principal)
    if ids is None:
        return "all"
    return "repos-" + ",".join(str(i) for i in sorted(ids)) if ids else "repos-none"


def _uuid(value: uuid_module.UUID | str) -> uuid_module.UUID:
    if isinstance(value, uuid_module.UUID):
        return value
    try:
        return uuid_module.UUID(str(value))
    except ValueError as exc:
        raise not_visible(f"Build {value}") from exc


def get_build(build_uuid: uuid_module.UUID | str, principal: Who | None) -> Build:
    """The build, or 404 — the same answer whether it does not exist or is not the caller's to see."""
    build = db.session.scalar(restrict_visible(select(Build).where(Build.uuid == _uuid(build_uuid)), principal))
    return visible_or_404(build, f"Build {build_uuid}")


def _locked_build(build_uuid: uuid_module.UUID | str, principal: Who | None) -> Build:
    """The build with its row locked until commit, so concurrent updates apply one after another."""
    build_id = db.session.scalar(
        restrict_visible(select(Build.id).where(Build.uuid == _uuid(build_uuid)), principal).with_for_update())
    return lock_build(visible_or_404(build_id, f"Build {build_uuid}"))


def lock_build(build_id: int) -> Build:
    """Lock a build's row until commit and load it fresh.

    The lock is taken by a query without joins: PostgreSQL re-checks a locked row that changed
    meanwhile against the query's joins, which would drop the joined current state.
    """
    db.session.execute(select(Build.id).where(Build.id == build_id).with_for_update())
    build = db.session.scalar(select(Build).where(Build.id == build_id).execution_options(populate_existing=True))
    assert build is not None
    return build


# --- creating ------------------------------------------------------------------------------


def _resolve_repository(value: Any, principal: Who | None) -> Repository | None:
    if value in (None, ""):
        return None
    if principal is None:  # the system (webhook handlers) names repositories by id
        repo = db.session.get(Repository, value) if isinstance(value, int) else None
        if repo is None:
            raise ValidationFailed("Unknown repository.", errors={"repository": [f"no repository {value!r}"]})
        return repo
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return get_visible_repository(principal, value)
        return get_visible_repository_by_name(principal, str(value))
    except NotFound as exc:
        raise ValidationFailed("Unknown repository.", errors={"repository": [exc.message]}) from exc


def _initial_state() -> StateCode:
    state = db.session.scalar(select(StateCode).where(StateCode.terminal.is_(False)).order_by(StateCode.code).limit(1))
    if state is None:
        raise ValidationFailed("The catalogue has no state codes yet: an admin must load it (flask catalog load).",
                               code="catalogue_empty")
    return state


def _differences(build: Build, wanted: dict[str, Any]) -> dict[str, Any]:
    existing = {
        "platform": build.platform.slug,
        "os_version": build.os_version.slug,
        "image_type": build.image_type.slug,
        "pipeline_url": build.pipeline_url,
        "commit_hash": build.commit_hash,
        "repository": build.repository.full_name if build.repository is not None else None,
        "metadata": build.build_metadata or {},
    }
    return {
        name: [f"this build_id was created with {existing[name]!r}, this request sends {wanted[name]!r}"]
        for name in COMPARED_FIELDS
        if existing[name] != wanted[name]
    }


def _insert_unless_exists(values: dict[str, Any], repo: Repository | None) -> int | None:
    """INSERT the build row; None when its build_id already exists in the repository (or among builds without one)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    index = (["repository_id", "build_id"], text("repository_id IS NOT NULL")) if repo is not None else (
        ["build_id"], text("repository_id IS NULL"))
    stmt = dialect.insert(Build.__table__).values(**values).on_conflict_do_nothing(
        index_elements=index[0], index_where=index[1])
    return db.session.execute(stmt.returning(Build.__table__.c.id)).scalar()


def _the_same_build(build_id: str, repo: Repository | None, wanted: dict[str, Any]) -> Build:
    """The existing build with this build_id, or Conflict when the request sends other values than it has."""
    # build_id is unique per repository (and among builds without one): whoever may name the
    # repository sees all of its builds, so a duplicate never reveals a build the caller cannot see.
    scoped = Build.repository_id == repo.id if repo is not None else Build.repository_id.is_(None)
    existing = db.session.scalar(select(Build).where(Build.build_id == build_id, scoped)
                                 .execution_options(populate_existing=True))
    if existing is None:  # pragma: no cover - the conflicting row was deleted in between
        raise Conflict("The build_id is being created by another request; retry.")
    differences = _differences(existing, wanted)
    if differences:
        raise Conflict(f"Build {build_id!r} exists with other values: "
                       f"{', '.join(sorted(differences))} differ.", errors=differences, code="build_id_conflict")
    return existing


def add_build(data: dict[str, Any], principal: Who | None, *, source: str = "api",
              created_at: datetime | None = None) -> tuple[Build, bool]:
    """Insert the build unless its build_id exists; (build, created). Does not commit.

    `created_at` lets the system record when an outside run really started (default: now).

    INSERT ... ON CONFLICT DO NOTHING lets the unique build_id settle concurrent duplicates: the
    second insert waits for the first to commit, then finds the row and compares bodies.
    """
    entries = resolve_entries(data)
    repo = _resolve_repository(data.get("repository"), principal)
    wanted = {
        "platform": entries["platform"].slug,
        "os_version": entries["os_version"].slug,
        "image_type": entries["image_type"].slug,
        "pipeline_url": data.get("pipeline_url") or "",
        "commit_hash": (data.get("commit_hash") or "").lower(),
        "repository": repo.full_name if repo is not None else None,
        "metadata": data.get("metadata") or {},
    }
    state = _initial_state()
    final_state = data.get("final_state")
    if final_state is not None:
        resolve_state_code(final_state)
    now = created_at or utcnow()
    values = {
        "uuid": uuid_module.uuid4(),
        "build_id": data["build_id"],
        "platform_id": entries["platform"].id,
        "os_version_id": entries["os_version"].id,
        "image_type_id": entries["image_type"].id,
        "repository_id": repo.id if repo is not None else None,
        "pipeline_url": wanted["pipeline_url"],
        "commit_hash": wanted["commit_hash"],
        "metadata": wanted["metadata"],
        "source": source,
        "current_state_code": state.code,
        "current_state_at": now,
        "current_message": "",
        "result": "in_progress",
        "final_state_code": final_state,
        "failure_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    new_id = _insert_unless_exists(values, repo)
    if new_id is None:
        return _the_same_build(data["build_id"], repo, wanted), False
    db.session.add(BuildStateEvent(build_id=new_id, state_code=state.code, occurred_at=now, recorded_at=utcnow(),
                                   message="Build registered", applied=True, reported_by=_reporter(principal)))
    audit.record("build.create", "build", values["uuid"], actor=_audit_actor(principal),
                 details={"build_id": data["build_id"], **{k: wanted[k] for k in ("platform", "os_version",
                                                                                 "image_type", "repository")}})
    build = db.session.get(Build, new_id)
    assert build is not None
    return build, True


def create_build(data: dict[str, Any], principal: Who | None) -> tuple[Build, bool]:
    """Register a build; the same build_id with the same body answers the existing build (created=False)."""
    build, created = add_build(data, principal)
    db.session.commit()
    if created:
        cache.bump_generation()
    return build, created


# --- states --------------------------------------------------------------------------------


def apply_state(build: Build, state_code: Any, message: str, occurred_at: datetime | None,
                reporter: str) -> tuple[BuildStateEvent, bool]:
    """Append a state report to a locked build; (event, appended). Does not commit.

    The newest report sets the current state; an older one only joins the history. A terminal
    state ends the build whenever it arrives, and so does the build's final state (as a success);
    nothing comes after either.
    """
    state = resolve_state_code(state_code)
    occurred_at = occurred_at or utcnow()
    repeat = db.session.scalar(select(BuildStateEvent).where(
        BuildStateEvent.build_id == build.id, BuildStateEvent.state_code == state.code,
        BuildStateEvent.occurred_at == occurred_at, BuildStateEvent.message == message).limit(1))
    if repeat is not None:
        return repeat, False
    current = build.current_state
    if not build.in_flight:
        if state.code == current.code:
            last = db.session.scalar(select(BuildStateEvent).where(
                BuildStateEvent.build_id == build.id, BuildStateEvent.state_code == state.code)
                .order_by(BuildStateEvent.id.desc()).limit(1))
            if last is not None:
                return last, False
        raise Conflict(
            f"Build {build.build_id} ended with state {current.code} ({current.name}); a terminal state is final.",
            errors={"state_code": [f"the build is {build.result}; no state can follow {current.code}"]},
            code="build_finished",
        )
    ends = state.terminal or state.code == build.final_state_code
    applied = ends or occurred_at >= build.current_state_at
    event = BuildStateEvent(build_id=build.id, state_code=state.code, message=message, occurred_at=occurred_at,
                            recorded_at=utcnow(), applied=applied, reported_by=reporter)
    db.session.add(event)
    if applied:
        build.current_state_code = state.code
        build.current_state = state
        build.current_state_at = max(occurred_at, build.current_state_at)
        build.current_message = message
        build.result = state.result if state.terminal else "succeeded" if ends else "in_progress"
        if ends:
            build.finished_at = occurred_at
            build.duration_seconds = max(0, int((occurred_at - build.created_at).total_seconds()))
    build.updated_at = utcnow()
    db.session.flush()
    return event, True


def record_state(build_uuid: uuid_module.UUID | str, data: dict[str, Any], principal: Who | None) -> tuple[Build,
                                                                                               BuildStateEvent, bool]:
    """Report a state for a build; (build, event, appended). Repeats of the same report are not appended twice."""
    build = _locked_build(build_uuid, principal)
    event, appended = apply_state(build, data["state_code"], data.get("message") or "", data.get("occurred_at"),
                                  _reporter(principal))
    db.session.commit()
    if appended:
        cache.bump_generation()
    return build, event, appended


def history(build_uuid: uuid_module.UUID | str, principal: Who | None) -> tuple[Build, list[BuildStateEvent]]:
    build = get_build(build_uuid, principal)
    events = list(db.session.scalars(select(BuildStateEvent).where(BuildStateEvent.build_id == build.id)
                                     .order_by(BuildStateEvent.occurred_at, BuildStateEvent.id)))
    return build, events


# --- failures ------------------------------------------------------------------------------


def add_failure(build: Build, data: dict[str, Any], reporter: str) -> BuildFailure:
    """Attach a failure to a locked build. Does not commit."""
    failure = BuildFailure(build_id=build.id, repository_id=build.repository_id, error_message=data["error_message"],
                           error_code=data.get("error_code") or "", component=data.get("component") or "",
                           details=data.get("details") or {}, occurred_at=data.get("occurred_at") or utcnow(),
                           reported_by=reporter)
    db.session.add(failure)
    build.failure_count = (build.failure_count or 0) + 1
    build.updated_at = utcnow()
    db.session.flush()
    return failure


def record_failure(build_uuid: uuid_module.UUID | str, data: dict[str, Any], principal: Who | None) -> BuildFailure:
    """Record what failed in a build (component, error code, message, details)."""
    build = _locked_build(build_uuid, principal)
    failure = add_failure(build, data, _reporter(principal))
    db.session.commit()
    cache.bump_generation()
    return failure


def failures_of(build: Build) -> list[BuildFailure]:
    return list(db.session.scalars(select(BuildFailure).where(BuildFailure.build_id == build.id)
                                   .order_by(BuildFailure.occurred_at, BuildFailure.id)))


# --- lists ---------------------------------------------------------------------------------


def _slug_id(kind_key: str, slug: str) -> int:
    k = KINDS[kind_key]
    found = find_entry(k, slug)
    if found is None:
        raise ValidationFailed(f"Unknown {k.label}.", errors={k.field: [f"unknown {k.label} {slug!r}; valid values: "
                                                                         f"{valid_names(k)}"]})
    return int(found.id)


def filtered_builds(filters: dict[str, Any], principal: Who | None) -> Select[Any]:
    """The builds matching the list filters that `principal` may see (unordered)."""
    stmt = restrict_visible(select(Build), principal)
    for kind_key in KINDS:
        field = KINDS[kind_key].field
        if filters.get(field):
            stmt = stmt.where(getattr(Build, f"{field}_id") == _slug_id(kind_key, filters[field]))
    if filters.get("build_id"):
        stmt = stmt.where(Build.build_id == filters["build_id"])
    if filters.get("state") is not None:
        stmt = stmt.where(Build.current_state_code == filters["state"])
    if filters.get("result"):
        if filters["result"] not in RESULTS:
            raise ValidationFailed("Unknown result.", errors={"result": [f"one of {', '.join(RESULTS)}"]})
        stmt = stmt.where(Build.result == filters["result"])
    if filters.get("commit"):
        stmt = stmt.where(Build.commit_hash.startswith(filters["commit"].lower(), autoescape=True))
    if filters.get("repository"):
        repo_id = db.session.scalar(select(Repository.id).where(
            func.lower(Repository.full_name) == filters["repository"].lower()))
        stmt = stmt.where(Build.repository_id == (repo_id if repo_id is not None else -1))
    if filters.get("since"):
        stmt = stmt.where(Build.created_at >= filters["since"])
    if filters.get("until"):
        stmt = stmt.where(Build.created_at < filters["until"])
    if filters.get("text"):
        pattern = filters["text"].strip()
        stmt = stmt.where(or_(
            Build.build_id.icontains(pattern, autoescape=True),
            Build.commit_hash.startswith(pattern.lower(), autoescape=True),
            Build.pipeline_url.icontains(pattern, autoescape=True),
            Build.current_message.icontains(pattern, autoescape=True),
        ))
    return stmt


def list_builds(filters: dict[str, Any], principal: Who | None, *, cursor: str | None, limit: int) -> Page[Build]:
    """Builds newest first, filtered, one keyset page at a time."""
    stmt = filtered_builds(filters, principal)
    return keyset_page(stmt, [Build.created_at, Build.id], cursor, limit)
