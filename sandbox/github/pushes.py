"""Pushes in the GitHub simulator: a commit lands on a branch and the App hears of it by `push` webhook.

The commit is made of real git objects (blob, tree, commit under their SHA-1s, sandbox/github/
git_objects.py) and the branch moves by fast forward, as `git push` would move it. The webhook is
GitHub's `push` payload (examples/webhooks/push), signed with the App's secret (sandbox/github/events.py).

    pushed = pushes.push_file(state, "gantry-demo/engine", "docs/notes.md", "# Notes\\n", "Add notes")
    pushed["after"], pushed["delivery_status"]
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from flask import Flask

from sandbox.github import events
from sandbox.github.git_objects import FakeRepo, GitStore
from sandbox.github.server import fail, json_response, sandbox_door
from sandbox.github.state import REST_DIR, FakeState

MAX_PATH = 255
MAX_CONTENT = 100_000  # bytes: the sandbox pushes small text files


def _example(name: str) -> dict[str, Any]:
    return json.loads((REST_DIR / "webhooks" / "push" / name).read_text())


def path_problem(path: str) -> str | None:
    """Why git would refuse `path` as a file's path in a tree, or None."""
    parts = path.split("/")
    if not path or len(path) > MAX_PATH:
        return f"a path is 1 to {MAX_PATH} characters"
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "a path is relative, without empty, '.' or '..' parts"
    if any(ord(c) < 32 for c in path) or ".git" in (p.lower() for p in parts):
        return "a path has no control characters and no .git part"
    return None


def _commit_entry(repo: FakeRepo, full_name: str, sha: str, changed: dict[str, str], login: str) -> dict[str, Any]:
    """One commit as a push payload lists it (`commits[]`, `head_commit`)."""
    commit = repo.commits[sha]
    entry = _example("default.with-new-branch.json")["head_commit"]
    entry.update({"id": sha, "tree_id": commit.tree, "distinct": True, "message": commit.message,
                  "timestamp": commit.committer["date"], "url": f"https://github.com/{full_name}/commit/{sha}",
                  "author": {**commit.author, "username": login},
                  "committer": {**commit.committer, "username": login},
                  "added": sorted(p for p, how in changed.items() if how == "added"),
                  "removed": sorted(p for p, how in changed.items() if how == "removed"),
                  "modified": sorted(p for p, how in changed.items() if how == "modified")})
    entry["author"].pop("date", None)
    entry["committer"].pop("date", None)
    return entry


def push_payload(state: FakeState, repo_id: int, branch: str, before: str, after: str,
                 changed: dict[str, str], login: str) -> dict[str, Any]:
    """GitHub's `push` webhook for one new commit `after` on `branch` (which was at `before`)."""
    meta = state.repositories[repo_id]
    full_name = str(meta["full_name"])
    repo = state.extra["git"].repo(meta["owner"]["login"], meta["name"])
    head = _commit_entry(repo, full_name, after, changed, login)
    sender = state.users.get(login) or meta["owner"]
    payload = _example("default.with-organization.json")
    payload.update({"ref": f"refs/heads/{branch}", "before": before, "after": after, "created": False,
                    "deleted": False, "forced": False, "base_ref": None,
                    "compare": f"https://github.com/{full_name}/compare/{before[:12]}...{after[:12]}",
                    "commits": [head], "head_commit": copy.deepcopy(head), "repository": copy.deepcopy(meta),
                    "pusher": {"name": login, "email": sender.get("email")},
                    "sender": copy.deepcopy(sender)})
    if meta["owner"].get("type") == "Organization":
        payload["organization"] = copy.deepcopy(meta["owner"])
    else:
        payload.pop("organization", None)
    return payload


def push_file(state: FakeState, full_name: str, path: str, content: str, message: str, *,
              author: dict[str, str] | None = None, login: str = "octocat") -> dict[str, Any]:
    """Commit one file on the default branch (fast forward) and send the `push` webhook.

    Answers `ref`, `before`, `after` and `delivery_status` (what Gantry's intake answered, None if nothing
    listens). Raises ValueError for a repository without git objects or a path git would refuse."""
    owner, _, name = full_name.partition("/")
    meta = state.repo_by_name(owner, name)
    store: GitStore = state.extra["git"]
    repo = store.repo(owner, name)
    if meta is None or repo is None:
        raise ValueError(f"no repository {full_name} with a branch to push to")
    problem = path_problem(path)
    if problem:
        raise ValueError(problem)
    branch = str(meta["default_branch"])
    with store.lock:
        before = repo.refs[f"refs/heads/{branch}"]
        existing = repo.files_at(before)
        if path not in existing and any(p.startswith(path + "/") for p in existing):
            raise ValueError(f"{path} is a directory")
        changed = {path: "modified" if path in existing else "added"}
        after = store.commit_files(owner, name, {path: content}, branch=branch, message=message, author=author)
    payload = push_payload(state, meta["id"], branch, before, after, changed, login)
    status = events.send(state, "push", payload, installation_id=state.installation_of_repo(meta["id"]))
    return {"ref": f"refs/heads/{branch}", "before": before, "after": after, "delivery_status": status}


def register(app: Flask, state_ref: Callable[[], FakeState]) -> None:
    """The sandbox's own door (not GitHub's API): push a commit that changes one file, as `git push` would.

    Only the App may call it (its JWT), so only Gantry in sandbox mode does."""

    @app.post("/_sandbox/repos/<owner>/<name>/pushes")
    def sandbox_push(owner: str, name: str) -> Any:
        meta, body = sandbox_door(owner, name)
        path, content, message = body.get("path"), body.get("content"), body.get("message")
        if not all(isinstance(v, str) for v in (path, content, message)) or not str(message).strip():
            fail(422, "path, content and message are required strings")
        if len(str(content).encode()) > MAX_CONTENT:
            fail(422, f"content is at most {MAX_CONTENT} bytes")
        author = body.get("author")
        if author is not None and not (isinstance(author, dict) and isinstance(author.get("name"), str)
                                       and isinstance(author.get("email"), str)):
            fail(422, "author is {name, email}")
        try:
            pushed = push_file(state_ref(), str(meta["full_name"]), str(path), str(content), str(message),
                               author=author, login=str(body.get("actor") or "octocat"))
        except ValueError as exc:
            fail(422, str(exc))
        return json_response(pushed, 201)
