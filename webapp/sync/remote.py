"""The GitHub side of a sync: a branch's head and files, and the calls that write one commit.

Every call goes through `webapp.integrations.github` as the repository's installation and is
counted, so each run records how many requests it cost. Calls that create content (blobs, trees,
commits, refs, pull requests) first take a slot from the installation's shared budget.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from webapp.integrations.github import GitHubError, github
from webapp.sync import budget
from webapp.sync.plan import EXECUTABLE, REGULAR, Version

FILE_MODES = (REGULAR, EXECUTABLE)


class RefMoved(Exception):
    """The branch moved between reading its head and updating it (GitHub said: not a fast forward)."""


class BranchProtected(Exception):
    """GitHub refused a direct update of a protected branch."""


@dataclass
class BranchHead:
    commit_sha: str
    tree_sha: str
    message: str
    protected: bool


class GitRemote:
    """One repository, reached as its installation, counting the requests it makes."""

    def __init__(self, installation_id: int, full_name: str) -> None:
        self.installation_id = installation_id
        self.full_name = full_name
        self.calls = 0
        self.prepaid = 0

    def reserve(self, writes: int) -> None:
        """Take the budget for `writes` requests at once, so a run is not stopped half-way."""
        budget.take(self.installation_id, writes)
        self.prepaid += writes

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls += 1
        return github().installation_request(self.installation_id, method, f"/repos/{self.full_name}{path}",
                                             **kwargs)

    def _write(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.prepaid > 0:
            self.prepaid -= 1
        else:
            budget.take(self.installation_id, 1)
        return self._call(method, path, **kwargs)

    # --- reading ---------------------------------------------------------------------------

    def branch_head(self, branch: str) -> BranchHead | None:
        """Head commit, its tree and message, and the protection flag, in one request (None: no branch)."""
        try:
            body = self._call("GET", f"/branches/{quote(branch, safe='')}")
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        commit = body["commit"]
        return BranchHead(commit["sha"], commit["commit"]["tree"]["sha"], commit["commit"].get("message", ""),
                          bool(body.get("protected")))

    def files_under(self, tree_sha: str, base_path: str) -> dict[str, Version]:
        """Blob id and mode of every regular file below `base_path`, keyed by path relative to it.

        One recursive read of the whole tree normally; when GitHub truncates it, the base path's
        subtree is read one level at a time instead.
        """
        prefix = base_path.strip("/")
        body = self._call("GET", f"/git/trees/{tree_sha}", params={"recursive": "1"})
        if not body.get("truncated"):
            everything = _blobs(body["tree"], "")
            if not prefix:
                return everything
            return {p[len(prefix) + 1:]: v for p, v in everything.items() if p.startswith(prefix + "/")}
        root: str | None = tree_sha
        if prefix:
            root = self._subtree_sha(tree_sha, prefix)
        return self._walk(root, "") if root is not None else {}

    def _subtree_sha(self, tree_sha: str, prefix: str) -> str | None:
        current = tree_sha
        for part in prefix.split("/"):
            body = self._call("GET", f"/git/trees/{current}")
            found = next((e for e in body["tree"] if e["path"] == part and e["type"] == "tree"), None)
            if found is None:
                return None
            current = found["sha"]
        return current

    def _walk(self, tree_sha: str, prefix: str) -> dict[str, Version]:
        found: dict[str, Version] = {}
        pending = [(tree_sha, prefix)]
        while pending:
            sha, at = pending.pop()
            body = self._call("GET", f"/git/trees/{sha}")
            found.update(_blobs(body["tree"], at))
            pending.extend((e["sha"], f"{at}{e['path']}/") for e in body["tree"] if e["type"] == "tree")
        return found

    def blob_content(self, sha: str) -> bytes:
        body = self._call("GET", f"/git/blobs/{sha}")
        return base64.b64decode(body["content"])

    def commit_messages(self, start_sha: str, depth: int) -> list[tuple[str, str]]:
        """(sha, message) of up to `depth` commits from `start_sha` following first parents."""
        out: list[tuple[str, str]] = []
        sha: str | None = start_sha
        while sha and len(out) < depth:
            body = self._call("GET", f"/git/commits/{sha}")
            out.append((sha, body.get("message", "")))
            parents = body.get("parents") or []
            sha = parents[0]["sha"] if parents else None
        return out

    # --- writing -----------------------------------------------------------------------------

    def create_blob(self, content: bytes) -> str:
        body = self._write("POST", "/git/blobs",
                           json={"content": base64.b64encode(content).decode(), "encoding": "base64"})
        return str(body["sha"])

    def create_tree(self, base_tree: str | None, entries: list[dict[str, Any]]) -> str:
        payload: dict[str, Any] = {"tree": entries}
        if base_tree:
            payload["base_tree"] = base_tree
        return str(self._write("POST", "/git/trees", json=payload)["sha"])

    def create_commit(self, message: str, tree_sha: str, parents: list[str]) -> str:
        body = self._write("POST", "/git/commits", json={"message": message, "tree": tree_sha, "parents": parents})
        return str(body["sha"])

    def move_branch(self, branch: str, commit_sha: str) -> None:
        """Fast-forward `branch` to `commit_sha`, never forcing."""
        try:
            self._write("PATCH", f"/git/refs/heads/{quote(branch, safe='/')}", json={"sha": commit_sha,
                                                                                   "force": False})
        except GitHubError as exc:
            if exc.status == 422 and "protected" in exc.message.lower():
                raise BranchProtected(exc.message) from exc
            if exc.status == 422:
                raise RefMoved(exc.message) from exc
            raise

    def create_branch(self, branch: str, commit_sha: str) -> None:
        """Create `branch` at `commit_sha`, or point our own existing sync branch there."""
        try:
            self._write("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": commit_sha})
        except GitHubError as exc:
            if exc.status != 422:
                raise
            self._write("PATCH", f"/git/refs/heads/{quote(branch, safe='/')}", json={"sha": commit_sha,
                                                                                   "force": True})

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> str:
        """The html_url of the open pull request from `head` into `base`, created if there is none."""
        owner = self.full_name.split("/", 1)[0]
        existing = self._call("GET", "/pulls", params={"head": f"{owner}:{head}", "state": "open"})
        if existing:
            return str(existing[0]["html_url"])
        created = self._write("POST", "/pulls", json={"title": title, "head": head, "base": base, "body": body})
        return str(created["html_url"])


def _blobs(entries: list[dict[str, Any]], prefix: str) -> dict[str, Version]:
    """Regular files of a tree listing (symlinks and submodules are not project files)."""
    return {
        f"{prefix}{e['path']}": Version(e["sha"], e["mode"])
        for e in entries
        if e["type"] == "blob" and e["mode"] in FILE_MODES
    }
