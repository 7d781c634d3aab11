"""Which events a target wants: event/action names, repositories, branch and tag patterns."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, Protocol

EVENT_FILTER = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)?)$")
MAX_PATTERNS = 50


class Filterable(Protocol):
    @property
    def events(self) -> list[Any]: ...

    @property
    def branch_patterns(self) -> list[Any]: ...

    @property
    def tag_patterns(self) -> list[Any]: ...

    @property
    def repository_ids(self) -> list[int]: ...


def event_ref(event: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """The branch or tag an event is about, as ("branch" | "tag", name), when it has one."""
    ref: Any = None
    if event == "push":
        ref = payload.get("ref") or ""
        if ref.startswith("refs/heads/"):
            return "branch", ref[len("refs/heads/") :]
        if ref.startswith("refs/tags/"):
            return "tag", ref[len("refs/tags/") :]
        return None
    if event in ("create", "delete") and payload.get("ref_type") in ("branch", "tag"):
        return str(payload["ref_type"]), str(payload.get("ref") or "")
    if event == "release":
        ref = (payload.get("release") or {}).get("tag_name")
        return ("tag", str(ref)) if ref else None
    nested = {
        "workflow_run": ("workflow_run", "head_branch"),
        "workflow_job": ("workflow_job", "head_branch"),
        "check_suite": ("check_suite", "head_branch"),
        "deployment": ("deployment", "ref"),
        "deployment_status": ("deployment", "ref"),
    }
    if event in nested:
        outer, key = nested[event]
        ref = (payload.get(outer) or {}).get(key)
    elif event == "pull_request":
        ref = ((payload.get("pull_request") or {}).get("base") or {}).get("ref")
    elif event == "check_run":
        ref = ((payload.get("check_run") or {}).get("check_suite") or {}).get("head_branch")
    return ("branch", str(ref)) if ref else None


def wants(target: Filterable, event: str, action: str | None, repository_id: int | None,
          payload: dict[str, Any]) -> bool:
    """Whether `target`'s filters select this event.

    Branch patterns narrow events about branches and tag patterns events about tags; an event
    about neither (or a kind with no patterns) passes the ref filter.
    """
    names = set(target.events or [])
    if names and "*" not in names and event not in names and f"{event}.{action}" not in names:
        return False
    repos = target.repository_ids
    if repos and repository_id not in repos:
        return False
    ref = event_ref(event, payload)
    if ref is not None:
        kind, name = ref
        patterns = target.branch_patterns if kind == "branch" else target.tag_patterns
        if patterns and not any(fnmatchcase(name, p) for p in patterns):
            return False
    return True


def clean_events(values: list[str]) -> tuple[list[str], list[str]]:
    """Normalised event filters and the error messages for the ones that are not valid."""
    cleaned, errors = [], []
    for raw in values:
        value = raw.strip().lower()
        if not value:
            continue
        if not EVENT_FILTER.match(value):
            errors.append(f"{raw!r} is not an event name, 'event.action' or '*'")
        elif value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_PATTERNS:
        errors.append(f"at most {MAX_PATTERNS} event filters")
    return cleaned, errors


def clean_patterns(values: list[str], kind: str) -> tuple[list[str], list[str]]:
    cleaned, errors = [], []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if len(value) > 200 or any(c in value for c in " ~^:\\") or value.startswith("refs/"):
            errors.append(f"{raw!r} is not a {kind} name pattern (a glob such as 'release/*', without refs/)")
        elif value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_PATTERNS:
        errors.append(f"at most {MAX_PATTERNS} patterns")
    return cleaned, errors
