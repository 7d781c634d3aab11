"""Git blob ids computed locally and the three-way plan: what a sync writes, keeps, or stops on.

For each path the plan compares three versions — here (the project's file), there (the branch on
GitHub) and base (what the last successful sync left on GitHub) — where a version is a blob id
and a file mode, or None when the path does not exist on that side:

- here == there: nothing to do;
- only here changed since base: write it (or delete it when it was deleted here);
- only GitHub changed since base: keep GitHub's and report it;
- both changed, differently: a conflict, unless the user chose to overwrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

REGULAR = "100644"
EXECUTABLE = "100755"

# Actions a plan entry can carry.
WRITE = "write"
DELETE = "delete"
KEEP_REMOTE = "keep_remote"
CONFLICT = "conflict"
UNCHANGED = "unchanged"


def blob_sha(content: bytes) -> str:
    """The id git gives `content` as a blob: SHA-1 of "blob <size>\\0" followed by the bytes."""
    digest = hashlib.sha1(b"blob %d\0" % len(content), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()


def is_text(content: bytes) -> bool:
    """UTF-8 without NUL bytes: what the tree API accepts inline as `content`."""
    if b"\0" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class Version:
    sha: str
    mode: str = REGULAR


@dataclass
class FilePlan:
    path: str
    action: str
    here: Version | None
    there: Version | None
    base: Version | None
    detail: str
    forced: bool = False  # a conflict the user chose to overwrite

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for side in ("here", "there", "base"):
            version = getattr(self, side)
            data[side] = None if version is None else {"sha": version.sha, "mode": version.mode}
        return data


def _describe_change(before: Version | None, after: Version | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "deleted"
    if before.sha == after.sha:
        return "mode changed"
    return "modified"


def plan_path(
    path: str, here: Version | None, there: Version | None, base: Version | None, overwrite: bool = False
) -> FilePlan:
    """Decide what one path needs (see the module docstring for the rule)."""
    if here == there:
        return FilePlan(path, UNCHANGED, here, there, base, "in sync")
    changed_here = here != base
    changed_there = there != base
    if changed_here and not changed_there:
        action = WRITE if here is not None else DELETE
        return FilePlan(path, action, here, there, base, f"{_describe_change(base, here)} here")
    if changed_there and not changed_here:
        return FilePlan(path, KEEP_REMOTE, here, there, base, f"{_describe_change(base, there)} on GitHub")
    detail = f"{_describe_change(base, here)} here and {_describe_change(base, there)} on GitHub"
    if overwrite:
        return FilePlan(path, WRITE if here is not None else DELETE, here, there, base, detail, forced=True)
    return FilePlan(path, CONFLICT, here, there, base, detail)


def plan_sync(
    here: Mapping[str, Version],
    there: Mapping[str, Version],
    base: Mapping[str, Version],
    *,
    paths: Iterable[str] | None = None,
    overwrite: bool = False,
    overwrite_paths: Iterable[str] = (),
) -> list[FilePlan]:
    """The per-path plan for every file the project has or had (files only on GitHub are not ours)."""
    forced = set(overwrite_paths)
    candidates = set(here) | set(base)
    if paths is not None:
        candidates &= set(paths)
    return [
        plan_path(p, here.get(p), there.get(p), base.get(p), overwrite or p in forced) for p in sorted(candidates)
    ]


def summarize(plan: Iterable[FilePlan]) -> dict[str, int]:
    counts = {WRITE: 0, DELETE: 0, KEEP_REMOTE: 0, CONFLICT: 0, UNCHANGED: 0}
    for entry in plan:
        counts[entry.action] += 1
    return counts
