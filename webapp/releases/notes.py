"""Release notes and the next version, from the commits a release ships.

Commits come from GitHub's compare (or list-commits) API, so shallow clones and squash merges
make no difference. Each commit is read as a conventional commit (`type(scope)!: description`);
a pull request's merge commit stands for the commits it merged and carries the PR title, and a
squash merge's subject *is* the PR title. Breaking changes bump the major version, features the
minor, anything else the patch; a `Release-As: x.y.z` line anywhere overrides the suggestion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import semver

from webapp.core.errors import ValidationFailed

CONVENTIONAL_RE = re.compile(r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:\s*(?P<desc>.+)$")
MERGE_PR_RE = re.compile(r"^Merge pull request #(?P<number>\d+) from \S+")
SQUASH_PR_RE = re.compile(r"\s*\(#(?P<number>\d+)\)\s*$")
RELEASE_AS_RE = re.compile(r"^\s*Release-As:\s*v?(?P<version>\S+)\s*$", re.IGNORECASE | re.MULTILINE)
BREAKING_FOOTER_RE = re.compile(r"^BREAKING[ -]CHANGE:", re.MULTILINE)
MERGE_BRANCH_RE = re.compile(r"^Merge (branch|remote-tracking branch) ")

# Section order in the notes; types not listed go under "Other changes".
SECTIONS: tuple[tuple[str, str], ...] = (
    ("breaking", "Breaking changes"),
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("revert", "Reverts"),
    ("deps", "Dependencies"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("test", "Tests"),
    ("build", "Build"),
    ("ci", "Continuous integration"),
    ("style", "Style"),
    ("chore", "Chores"),
    ("other", "Other changes"),
)
SECTION_TITLES = dict(SECTIONS)
# Only these make a release worth cutting (as release-please sees it); the rest is said, not skipped.
RELEASABLE_TYPES = frozenset({"breaking", "feat", "fix", "perf", "revert", "deps"})
FIRST_VERSION = "0.1.0"


def parse_version(raw: str) -> semver.Version:
    """A semantic version (a leading "v" is allowed); ValidationFailed otherwise."""
    text = (raw or "").strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"{raw!r} is not a semantic version (like 1.4.0 or 2.0.0-rc.1).",
                               errors={"version": ["not a semantic version, e.g. 1.4.0"]}) from exc


@dataclass
class Change:
    """One line of the notes: a conventional commit or a pull request."""

    sha: str
    type: str  # a section key
    description: str
    scope: str | None = None
    breaking: bool = False
    pr_number: int | None = None
    pr_title: str | None = None
    author: str | None = None
    date: str | None = None
    absorbed: list[str] = field(default_factory=list)  # commits a PR merge stands for

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "short_sha": self.short_sha, "type": self.type, "description": self.description,
                "scope": self.scope, "breaking": self.breaking, "pr_number": self.pr_number,
                "pr_title": self.pr_title, "author": self.author, "date": self.date, "absorbed": list(self.absorbed)}


@dataclass
class Notes:
    """What a release would ship, and what version that suggests."""

    changes: list[Change]
    commit_count: int
    suggested_version: str
    bump: str  # "major", "minor", "patch", "release-as" or "none"
    release_as: str | None
    releasable: bool
    reason: str  # why (not) releasable, said on the page

    def sections(self) -> list[dict[str, Any]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            key = "breaking" if change.breaking else change.type
            grouped.setdefault(key if key in SECTION_TITLES else "other", []).append(change)
        return [
            {"key": key, "title": title, "changes": [c.to_dict() for c in grouped[key]]}
            for key, title in SECTIONS
            if key in grouped
        ]

    def markdown(self, *, compare_url: str | None = None) -> str:
        lines: list[str] = []
        for section in self.sections():
            lines.append(f"### {section['title']}")
            lines.append("")
            for change in section["changes"]:
                scope = f"**{change['scope']}:** " if change["scope"] else ""
                pr = f" (#{change['pr_number']})" if change["pr_number"] else ""
                lines.append(f"- {scope}{change['description']}{pr} ({change['short_sha']})")
            lines.append("")
        if compare_url:
            lines.append(f"**Full changelog**: {compare_url}")
        return "\n".join(lines).strip() + "\n" if lines else ""


def _message(commit: dict[str, Any]) -> str:
    return str((commit.get("commit") or {}).get("message") or "")


def _classify(text: str) -> tuple[str, str | None, bool, str]:
    """(type, scope, breaking, description) of a commit subject or PR title."""
    match = CONVENTIONAL_RE.match(text.strip())
    if match is None:
        return "other", None, False, text.strip()
    kind = match["type"].lower()
    return kind, (match["scope"] or None), bool(match["bang"]), match["desc"].strip()


def _pr_commits(commits: list[dict[str, Any]]) -> dict[str, set[str]]:
    """For each PR merge commit, the commits in range it brought in (second parent's side only)."""
    in_range = {c["sha"]: c for c in commits}

    def ancestors(start: str | None) -> set[str]:
        seen: set[str] = set()
        stack = [start] if start else []
        while stack:
            sha = stack.pop()
            if sha in seen or sha not in in_range:
                continue
            seen.add(sha)
            stack.extend(p["sha"] for p in in_range[sha].get("parents") or [])
        return seen

    merged: dict[str, set[str]] = {}
    for commit in commits:
        parents = [p["sha"] for p in commit.get("parents") or []]
        if len(parents) >= 2 and MERGE_PR_RE.match(_message(commit)):
            merged[commit["sha"]] = ancestors(parents[1]) - ancestors(parents[0])
    return merged


def read_changes(commits: list[dict[str, Any]]) -> tuple[list[Change], str | None]:
    """The notes' changes (newest first) and the Release-As override, from GitHub commit objects."""
    merged = _pr_commits(commits)
    absorbed = set().union(*merged.values()) if merged else set()
    release_as: str | None = None
    changes: list[Change] = []
    # GitHub lists commits oldest first; a later Release-As wins.
    for commit in commits:
        message = _message(commit)
        for match in RELEASE_AS_RE.finditer(message):
            release_as = match["version"]
    for commit in reversed(commits):
        sha = commit["sha"]
        message = _message(commit)
        subject, _, body = message.partition("\n")
        git_author = (commit.get("commit") or {}).get("author") or {}
        author = (commit.get("author") or {}).get("login") or git_author.get("name")
        change = Change(sha=sha, type="other", description=subject.strip(), author=author, date=git_author.get("date"))
        merge = MERGE_PR_RE.match(subject)
        if merge is not None:
            change.pr_number = int(merge["number"])
            change.pr_title = next((line.strip() for line in body.splitlines() if line.strip()), subject)
            text = change.pr_title
            change.absorbed = sorted(merged.get(sha, set()))
            # A PR counts as breaking if any of its commits says so.
            inner = [c for c in commits if c["sha"] in merged.get(sha, set())]
            breaking_inside = any(_classify(_message(c).partition("\n")[0])[2] or
                                  BREAKING_FOOTER_RE.search(_message(c)) for c in inner)
        else:
            if sha in absorbed or MERGE_BRANCH_RE.match(subject):
                continue
            squash = SQUASH_PR_RE.search(subject)
            text = subject
            if squash is not None:
                change.pr_number = int(squash["number"])
                text = subject[: squash.start()]
                change.pr_title = text.strip()
            breaking_inside = False
        kind, scope, bang, description = _classify(text)
        change.type, change.scope, change.description = kind, scope, description
        change.breaking = bang or bool(BREAKING_FOOTER_RE.search(body)) or bool(breaking_inside)
        changes.append(change)
    return changes, release_as


def summarise(commits: list[dict[str, Any]], previous_version: str | None) -> Notes:
    """Group the commits and work out the suggested next version after `previous_version`."""
    changes, release_as = read_changes(commits)
    kinds = {"breaking" if c.breaking else c.type for c in changes}
    previous = parse_version(previous_version) if previous_version else None
    if release_as is not None:
        suggested = str(parse_version(release_as))
        return Notes(changes, len(commits), suggested, "release-as", suggested, True,
                     f"Release-As: {suggested} in the commits sets the version.")
    if not commits:
        return Notes(changes, 0, str(previous.bump_patch()) if previous else FIRST_VERSION, "none", None, False,
                     "Nothing to release: the target has no commits since the previous release.")
    if previous is None:
        bump, suggested = "initial", FIRST_VERSION
    elif "breaking" in kinds:
        bump, suggested = "major", str(previous.bump_major())
    elif "feat" in kinds:
        bump, suggested = "minor", str(previous.bump_minor())
    else:
        bump, suggested = "patch", str(previous.bump_patch())
    releasable = bool(kinds & RELEASABLE_TYPES) or previous is None
    if releasable:
        reason = f"{len(commits)} commit(s); the largest change is a {bump} bump."
    else:
        found = ", ".join(sorted(kinds)) or "none"
        reason = (f"Nothing releasable: {len(commits)} commit(s), none a feature, fix or breaking change "
                  f"(found: {found}). You can still cut a release by giving a version.")
    return Notes(changes, len(commits), suggested, bump, None, releasable, reason)
