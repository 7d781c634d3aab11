"""Managing the catalogue (admins) and resolving the slugs and codes builds refer to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.auth.principal import Actor, Who
from webapp.builds.models import Build, BuildStateEvent, GithubBuildMapping, ImageType, OsVersion, Platform, StateCode
from webapp.core import audit
from webapp.core.errors import Conflict, NotFound, ValidationFailed
from webapp.extensions import db
from webapp.repos.access import restrict_to_visible
from webapp.repos.models import Repository

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")
PHASES = ("created", "queued", "build", "test", "scan", "publish", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class CatalogKind:
    """One slug-keyed part of the catalogue: its model, its fields besides slug and name, its labels."""

    key: str  # URL segment: platforms, os-versions, image-types
    model: type[Any]
    field: str  # the name a build request uses: platform, os_version, image_type
    extra: tuple[str, ...]
    label: str


KINDS: dict[str, CatalogKind] = {
    "platforms": CatalogKind("platforms", Platform, "platform", ("cloud",), "platform"),
    "os-versions": CatalogKind("os-versions", OsVersion, "os_version", ("family",), "OS version"),
    "image-types": CatalogKind("image-types", ImageType, "image_type", ("description",), "image type"),
}


def kind(key: str) -> CatalogKind:
    try:
        return KINDS[key]
    except KeyError as exc:
        raise NotFound(f"There is no catalogue section {key!r}; sections are {', '.join(KINDS)}.") from exc


def list_entries(key: str) -> list[Any]:
    model = kind(key).model
    return list(db.session.scalars(select(model).order_by(model.slug)))


def get_entry(key: str, slug: str) -> Any:
    k = kind(key)
    entry = find_entry(k, slug) if SLUG_RE.match(slug) else None
    if entry is None:
        raise NotFound(f"There is no {k.label} {slug!r}.")
    return entry


def _check_entry(k: CatalogKind, data: dict[str, Any], creating: bool, slug: str | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if creating or "slug" in data:
        slug = str(data.get("slug") or "").strip().lower()
        if not SLUG_RE.match(slug):
            errors["slug"] = ["1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"]
        clean["slug"] = slug
    for name in ("name", *k.extra):
        if name in data or (creating and name != "description"):
            value = str(data.get(name) or "").strip()
            if not value and name != "description":
                errors[name] = ["required"]
            clean[name] = value
    if "aliases" in data:
        clean["aliases"] = _check_aliases(k, data["aliases"], slug, errors)
    unknown = set(data) - {"slug", "name", "aliases", *k.extra}
    for name in sorted(unknown):
        errors[name] = ["unknown field"]
    if errors:
        raise ValidationFailed(f"The {k.label} is not valid.", errors=errors)
    return clean


def _check_aliases(k: CatalogKind, value: Any, slug: str | None, errors: dict[str, list[str]]) -> list[str]:
    """Aliases are slugs that name no other entry of the kind, by slug or by alias."""
    aliases = [str(a).strip().lower() for a in value] if isinstance(value, list) else []
    if not isinstance(value, list) or any(not SLUG_RE.match(a) for a in aliases):
        errors["aliases"] = ["a list of slugs (lowercase letters, digits, '.', '_' or '-')"]
        return aliases
    taken = {}
    for entry in db.session.scalars(select(k.model).where(k.model.slug != (slug or ""))):
        taken[entry.slug] = entry.slug
        taken.update(dict.fromkeys(entry.aliases or [], entry.slug))
    clashes = [f"{a!r} already names {taken[a]!r}" for a in aliases if a in taken]
    if slug in aliases:
        clashes.append(f"{slug!r} is the entry's own slug")
    if clashes:
        errors["aliases"] = clashes
    return list(dict.fromkeys(aliases))


def find_entry(k: CatalogKind, name: str) -> Any:
    """The entry `name` is the slug or an alias of, or None."""
    name = str(name).strip().lower()
    entry = db.session.scalar(select(k.model).where(k.model.slug == name))
    if entry is not None:
        return entry
    # The catalogue is a few dozen rows: matching aliases here needs no JSON operator per database.
    return next((e for e in db.session.scalars(select(k.model).order_by(k.model.slug)) if name in (e.aliases or [])),
                None)


def valid_names(k: CatalogKind) -> str:
    """Every slug, with its aliases in brackets, for error messages."""
    names = [e.slug + (f" ({', '.join(e.aliases)})" if e.aliases else "")
             for e in db.session.scalars(select(k.model).order_by(k.model.slug))]
    return ", ".join(names) or "(none yet)"


def _commit_unique(message: str, errors: dict[str, list[str]]) -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message, errors=errors) from exc


def create_entry(key: str, data: dict[str, Any], *, actor: Actor = None) -> Any:
    """Add a platform, OS version or image type; its slug must be new."""
    k = kind(key)
    clean = _check_entry(k, data, creating=True)
    if find_entry(k, clean["slug"]) is not None:
        raise Conflict(f"The {k.label} {clean['slug']!r} exists.", errors={"slug": ["already exists"]})
    entry = k.model(**clean)
    db.session.add(entry)
    db.session.flush()
    audit.record(f"catalog.{k.field}.create", k.field, clean["slug"], actor=actor, details=clean)
    _commit_unique(f"The {k.label} {clean['slug']!r} exists.", {"slug": ["already exists"]})
    return entry


def update_entry(key: str, slug: str, data: dict[str, Any], *, actor: Actor = None) -> Any:
    """Change an entry's name or other fields (the slug builds refer to cannot change)."""
    k = kind(key)
    entry = get_entry(key, slug)
    slug = entry.slug  # the entry may have been named by an alias
    if "slug" in data and data["slug"] != slug:
        raise ValidationFailed("A slug cannot change: builds refer to it.", errors={"slug": ["cannot change"]})
    clean = _check_entry(k, {n: v for n, v in data.items() if n != "slug"}, creating=False, slug=slug)
    for name, value in clean.items():
        setattr(entry, name, value)
    audit.record(f"catalog.{k.field}.update", k.field, slug, actor=actor, details=clean)
    db.session.commit()
    return entry


def delete_entry(key: str, slug: str, *, actor: Actor = None) -> None:
    """Remove an entry no build uses (a used one is kept: history must keep its meaning)."""
    k = kind(key)
    entry = get_entry(key, slug)
    column = getattr(Build, f"{k.field}_id")
    used = db.session.scalar(select(func.count()).select_from(Build).where(column == entry.id)) or 0
    if used:
        raise Conflict(f"The {k.label} {slug!r} is used by {used} builds and cannot be deleted.", code="in_use")
    audit.record(f"catalog.{k.field}.delete", k.field, slug, actor=actor)
    db.session.delete(entry)
    db.session.commit()


# --- state codes ---------------------------------------------------------------------------


def list_state_codes() -> list[StateCode]:
    return list(db.session.scalars(select(StateCode).order_by(StateCode.code)))


def get_state_code(code: int) -> StateCode:
    state = db.session.get(StateCode, code) if 0 <= code <= 9999 else None
    if state is None:
        raise NotFound(f"There is no state code {code}.")
    return state


def _check_state(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    allowed = {"code", "name", "description", "phase", "terminal", "failure"}
    for name in sorted(set(data) - allowed):
        errors[name] = ["unknown field"]
    clean = {n: v for n, v in data.items() if n in allowed}
    if creating:
        code = data.get("code")
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 9999:
            errors["code"] = ["a whole number from 0 to 9999"]
        if not str(data.get("name") or "").strip():
            errors["name"] = ["required"]
    if "name" in clean:
        clean["name"] = str(clean["name"] or "").strip()
        if not clean["name"]:
            errors["name"] = ["required"]
    if ("phase" in clean or creating) and clean.get("phase") not in PHASES:
        errors["phase"] = [f"one of {', '.join(PHASES)}"]
    for flag in ("terminal", "failure"):
        if flag in clean and not isinstance(clean[flag], bool):
            errors[flag] = ["true or false"]
    if clean.get("failure") and clean.get("terminal") is False:
        errors["failure"] = ["a failure code must be terminal"]
    if errors:
        raise ValidationFailed("The state code is not valid.", errors=errors)
    return clean


def create_state_code(data: dict[str, Any], *, actor: Actor = None) -> StateCode:
    clean = _check_state(data, creating=True)
    if db.session.get(StateCode, clean["code"]) is not None:
        raise Conflict(f"State code {clean['code']} exists.", errors={"code": ["already exists"]})
    state = StateCode(**{"description": "", "terminal": False, "failure": False, **clean})
    if state.failure:
        state.terminal = True
    db.session.add(state)
    audit.record("catalog.state_code.create", "state_code", clean["code"], actor=actor, details=clean)
    _commit_unique(f"State code {clean['code']} exists.", {"code": ["already exists"]})
    return state


def update_state_code(code: int, data: dict[str, Any], *, actor: Actor = None) -> StateCode:
    """Rename or re-describe a state code; whether it is terminal or a failure is fixed once used."""
    state = get_state_code(code)
    if "code" in data and data["code"] != code:
        raise ValidationFailed("A code cannot change: builds refer to it.", errors={"code": ["cannot change"]})
    clean = _check_state({n: v for n, v in data.items() if n != "code"}, creating=False)
    changes_meaning = any(n in clean and clean[n] != getattr(state, n) for n in ("terminal", "failure", "phase"))
    if changes_meaning and _state_code_used(code):
        raise Conflict(f"State code {code} is used by builds: its phase, terminal and failure flags are fixed.",
                       code="in_use")
    for name, value in clean.items():
        setattr(state, name, value)
    if state.failure:
        state.terminal = True
    audit.record("catalog.state_code.update", "state_code", code, actor=actor, details=clean)
    db.session.commit()
    return state


def _state_code_used(code: int) -> bool:
    return db.session.scalar(select(BuildStateEvent.id).where(BuildStateEvent.state_code == code).limit(1)) is not None


def delete_state_code(code: int, *, actor: Actor = None) -> None:
    state = get_state_code(code)
    if _state_code_used(code):
        raise Conflict(f"State code {code} is used by builds and cannot be deleted.", code="in_use")
    audit.record("catalog.state_code.delete", "state_code", code, actor=actor)
    db.session.delete(state)
    db.session.commit()


# --- resolving what a build request names --------------------------------------------------


def resolve_entries(data: dict[str, Any]) -> dict[str, Any]:
    """The catalogue entries a build request names; 422 listing the valid values for any unknown one."""
    found: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for k in KINDS.values():
        slug = data.get(k.field)
        entry = find_entry(k, slug) if slug else None
        if entry is None:
            errors[k.field] = [f"unknown {k.label} {slug!r}; valid values: {valid_names(k)}"]
        found[k.field] = entry
    if errors:
        raise ValidationFailed("The build names catalogue entries that do not exist.", errors=errors,
                               code="unknown_catalogue_entry")
    return found


def resolve_state_code(code: Any) -> StateCode:
    valid_number = isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 9999
    state = db.session.get(StateCode, code) if valid_number else None
    if state is None:
        valid = ", ".join(str(c) for c in db.session.scalars(select(StateCode.code).order_by(StateCode.code)))
        raise ValidationFailed("Unknown state code.", errors={"state_code": [f"unknown code {code!r}; valid codes: "
                                                                              f"{valid or '(none yet)'}"]},
                               code="unknown_state_code")
    return state


# --- GitHub Actions mappings ---------------------------------------------------------------


def mappable_repositories() -> list[Any]:
    """Repositories Gantry mirrors (and that still exist), for the mapping form."""
    return list(db.session.scalars(select(Repository).where(Repository.removed_at.is_(None))
                                   .order_by(Repository.full_name)))


def list_mappings(who: Who) -> list[GithubBuildMapping]:
    """The mappings of repositories `who` may see (every one for admins)."""
    stmt = restrict_to_visible(select(GithubBuildMapping), GithubBuildMapping.repository_id, who)
    return list(db.session.scalars(stmt.order_by(GithubBuildMapping.id)))


def create_mapping(data: dict[str, Any], *, actor: Actor = None) -> GithubBuildMapping:
    """Map a repository (optionally one workflow of it) to the catalogue entry its runs build."""
    repository = data.get("repository")
    repo = None
    if isinstance(repository, int) and not isinstance(repository, bool):
        repo = db.session.get(Repository, repository)
    elif isinstance(repository, str) and repository.strip():
        repo = db.session.scalar(select(Repository).where(func.lower(Repository.full_name) == repository.lower()))
    if repo is None:
        raise ValidationFailed("Unknown repository.", errors={"repository": [f"no repository {repository!r}"]})
    entries = resolve_entries(data)
    workflow = str(data.get("workflow_name") or "").strip()
    if len(workflow) > 200:
        raise ValidationFailed("The workflow name is too long.", errors={"workflow_name": ["at most 200 characters"]})
    existing = db.session.scalar(select(GithubBuildMapping).where(
        GithubBuildMapping.repository_id == repo.id, GithubBuildMapping.workflow_name == workflow))
    if existing is not None:
        raise Conflict(f"{repo.full_name} {'workflow ' + repr(workflow) if workflow else '(all workflows)'} "
                       "is mapped already.", errors={"workflow_name": ["already mapped"]})
    mapping = GithubBuildMapping(repository_id=repo.id, workflow_name=workflow, platform=entries["platform"],
                                 os_version=entries["os_version"], image_type=entries["image_type"])
    db.session.add(mapping)
    db.session.flush()
    audit.record("catalog.github_mapping.create", "github_mapping", mapping.id, actor=actor,
                 details={"repository": repo.full_name, "workflow_name": workflow,
                          **{k.field: entries[k.field].slug for k in KINDS.values()}})
    _commit_unique("That repository and workflow are mapped already.", {"workflow_name": ["already mapped"]})
    return mapping


def delete_mapping(mapping_id: int, *, actor: Actor = None) -> None:
    mapping = db.session.get(GithubBuildMapping, mapping_id) if 0 < mapping_id < 2**31 else None
    if mapping is None:
        raise NotFound(f"There is no mapping {mapping_id}.")
    audit.record("catalog.github_mapping.delete", "github_mapping", mapping_id, actor=actor,
                 details={"repository_id": mapping.repository_id, "workflow_name": mapping.workflow_name})
    db.session.delete(mapping)
    db.session.commit()
