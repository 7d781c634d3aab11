"""The fake's git objects: blobs, trees and commits addressed by their real SHA-1, and the store that holds them."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TREE_MODE = "040000"
FileSpec = bytes | str | tuple[bytes | str, str] | None


def _sha(kind: str, body: bytes) -> str:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(body)) + body, usedforsecurity=False).hexdigest()


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


@dataclass
class TreeEntry:
    name: str
    mode: str
    kind: str  # "blob", "tree" or "commit"
    sha: str


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: dict[str, str]
    committer: dict[str, str]


@dataclass
class FakeRepo:
    owner: str
    name: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    protected: set[str] = field(default_factory=set)
    pulls: list[dict[str, Any]] = field(default_factory=list)

    # --- objects, as git stores them ----------------------------------------------------------

    def put_blob(self, content: bytes) -> str:
        sha = _sha("blob", content)
        self.blobs[sha] = content
        return sha

    def put_tree(self, entries: list[TreeEntry]) -> str:
        # git sorts tree entries by name, comparing a subtree's name as if it ended in "/"
        ordered = sorted(entries, key=lambda e: e.name + ("/" if e.kind == "tree" else ""))
        body = b"".join(
            b"%s %s\0" % (e.mode.lstrip("0").encode(), e.name.encode()) + bytes.fromhex(e.sha) for e in ordered
        )
        sha = _sha("tree", body)
        self.trees[sha] = ordered
        return sha

    def put_commit(self, tree: str, parents: list[str], message: str, author: dict[str, str] | None = None) -> str:
        when = datetime.now(UTC).replace(microsecond=0)
        person = dict(author or {"name": "Fake GitHub", "email": "noreply@github.test"})
        person.setdefault("date", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        stamp = int(datetime.strptime(person["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        signature = f"{person['name']} <{person['email']}> {stamp} +0000"
        lines = [f"tree {tree}", *[f"parent {p}" for p in parents], f"author {signature}", f"committer {signature}"]
        body = ("\n".join(lines) + "\n\n" + message).encode()
        sha = _sha("commit", body)
        self.commits[sha] = Commit(sha, tree, list(parents), message, person, dict(person))
        return sha

    # --- reading -------------------------------------------------------------------------------

    def walk(self, tree_sha: str, prefix: str = "") -> list[tuple[str, TreeEntry]]:
        """Every entry below a tree, depth first, with its full path (what `recursive=1` lists)."""
        out: list[tuple[str, TreeEntry]] = []
        for entry in self.trees[tree_sha]:
            path = f"{prefix}{entry.name}"
            out.append((path, entry))
            if entry.kind == "tree":
                out.extend(self.walk(entry.sha, path + "/"))
        return out

    def files_at(self, commit_sha: str) -> dict[str, tuple[bytes, str]]:
        tree = self.commits[commit_sha].tree
        return {p: (self.blobs[e.sha], e.mode) for p, e in self.walk(tree) if e.kind == "blob"}

    def log(self, head: str) -> list[str]:
        """Commits reachable from `head`, newest first, as `git log --date-order` lists them.

        A commit comes after every commit of the walk that has it as a parent, and among those
        ready the newest committer date goes first (GitHub's list of commits reads the same way)."""
        reachable: set[str] = set()
        stack = [head]
        while stack:
            sha = stack.pop()
            if sha in reachable or sha not in self.commits:
                continue
            reachable.add(sha)
            stack.extend(self.commits[sha].parents)
        waiting = dict.fromkeys(reachable, 0)  # children of each commit not listed yet
        for sha in reachable:
            for parent in set(self.commits[sha].parents) & reachable:
                waiting[parent] += 1
        ready = [(self._newest_first(head), head)] if head in reachable else []
        out: list[str] = []
        while ready:
            _, sha = heapq.heappop(ready)
            out.append(sha)
            for parent in set(self.commits[sha].parents) & reachable:
                waiting[parent] -= 1
                if not waiting[parent]:
                    heapq.heappush(ready, (self._newest_first(parent), parent))
        return out

    def _newest_first(self, sha: str) -> int:
        date = self.commits[sha].committer.get("date", "")
        return -int(datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) if date else 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        seen: set[str] = set()
        stack = [descendant]
        while stack:
            sha = stack.pop()
            if sha == ancestor:
                return True
            if sha in seen or sha not in self.commits:
                continue
            seen.add(sha)
            stack.extend(self.commits[sha].parents)
        return False

    # --- writing trees the way POST git/trees does --------------------------------------------

    def _entries_of(self, tree_sha: str | None) -> dict[str, TreeEntry]:
        return {e.name: TreeEntry(e.name, e.mode, e.kind, e.sha) for e in self.trees.get(tree_sha or "", [])}

    def build_tree(self, base_tree: str | None, changes: Mapping[str, TreeEntry | None]) -> str:
        """A new tree: `base_tree` with each path set to an entry or removed (None), subtrees rebuilt."""
        entries = self._entries_of(base_tree)
        nested: dict[str, dict[str, TreeEntry | None]] = {}
        for path, entry in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                nested.setdefault(head, {})[rest] = entry
            elif entry is None:
                entries.pop(head, None)
            else:
                entries[head] = TreeEntry(head, entry.mode, entry.kind, entry.sha)
        for name, sub_changes in nested.items():
            existing = entries.get(name)
            sub_base = existing.sha if existing is not None and existing.kind == "tree" else None
            sub_sha = self.build_tree(sub_base, sub_changes)
            if self.trees[sub_sha]:
                entries[name] = TreeEntry(name, TREE_MODE, "tree", sub_sha)
            else:
                entries.pop(name, None)  # git has no empty directories
        return self.put_tree(list(entries.values()))


class GitStore:
    """Every fake repository's objects and refs, plus the knobs tests turn."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.lock = threading.RLock()
        self.truncate_trees_at: int | None = None  # recursive tree reads list at most this many entries
        self._before_ref_update: list[Callable[[], None]] = []
        self._pull_numbers = itertools.count(1)

    def repo(self, owner: str, name: str) -> FakeRepo | None:
        return self.repos.get((owner.lower(), name.lower()))

    def init_repo(self, owner: str, name: str, files: Mapping[str, FileSpec] | None = None,
                  branch: str = "main", message: str = "Initial commit") -> str:
        """Create a repository whose `branch` has one commit holding `files`; returns the commit sha."""
        with self.lock:
            repo = FakeRepo(owner, name)
            self.repos[(owner.lower(), name.lower())] = repo
            tree = repo.build_tree(None, self._entries(repo, files or {}))
            sha = repo.put_commit(tree, [], message)
            repo.refs[f"refs/heads/{branch}"] = sha
            return sha

    def commit_files(self, owner: str, name: str, changes: Mapping[str, FileSpec], branch: str = "main",
                     message: str = "Change on GitHub", author: dict[str, str] | None = None) -> str:
        """Someone pushes to `branch`: set (content or (content, mode)) or delete (None) paths."""
        with self.lock:
            repo = self._need(owner, name)
            head = repo.refs[f"refs/heads/{branch}"]
            tree = repo.build_tree(repo.commits[head].tree, self._entries(repo, changes))
            sha = repo.put_commit(tree, [head], message, author)
            repo.refs[f"refs/heads/{branch}"] = sha
            return sha

    def files(self, owner: str, name: str, branch: str = "main") -> dict[str, tuple[bytes, str]]:
        """path -> (content, mode) at the head of `branch`."""
        repo = self._need(owner, name)
        return repo.files_at(repo.refs[f"refs/heads/{branch}"])

    def head(self, owner: str, name: str, branch: str = "main") -> Commit:
        repo = self._need(owner, name)
        return repo.commits[repo.refs[f"refs/heads/{branch}"]]

    def history(self, owner: str, name: str, branch: str = "main") -> list[Commit]:
        """Commits reachable from `branch` by first parents, newest first."""
        repo = self._need(owner, name)
        out, sha = [], repo.refs.get(f"refs/heads/{branch}")
        while sha:
            commit = repo.commits[sha]
            out.append(commit)
            sha = commit.parents[0] if commit.parents else None
        return out

    def protect(self, owner: str, name: str, branch: str = "main") -> None:
        self._need(owner, name).protected.add(branch)

    def on_next_ref_update(self, action: Callable[[], None]) -> None:
        """Run `action` (e.g. a concurrent push) just before the next PATCH of a ref is applied.

        Queued actions run one per PATCH, in order."""
        self._before_ref_update.append(action)

    def _need(self, owner: str, name: str) -> FakeRepo:
        repo = self.repo(owner, name)
        if repo is None:
            raise KeyError(f"no fake repository {owner}/{name}")
        return repo

    @staticmethod
    def _entries(repo: FakeRepo, files: Mapping[str, FileSpec]) -> dict[str, TreeEntry | None]:
        out: dict[str, TreeEntry | None] = {}
        for path, spec in files.items():
            if spec is None:
                out[path] = None
                continue
            content, mode = spec if isinstance(spec, tuple) else (spec, "100644")
            out[path] = TreeEntry(path.rsplit("/", 1)[-1], mode, "blob", repo.put_blob(_bytes(content)))
        return out
