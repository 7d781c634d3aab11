"""Git Data API of the GitHub fake with real git object semantics.

Blobs, trees and commits are stored under the SHA-1 ids git itself would compute, so ids made
locally by Gantry match the fake's. Refs move only by fast forward unless `force` is sent, and a
protected branch refuses direct updates, as GitHub does. Tests change files "on GitHub" with
`GitStore.commit_files`, and can make recursive tree reads truncated (`truncate_trees_at`) or move
a branch just before the next ref update (`on_next_ref_update`).

Endpoints: git/blobs, git/trees (recursive, base_tree, inline content, `sha: null` deletions),
git/commits, git/ref(s), branches and branches/{branch} (with its `protected` flag) and pulls.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, jsonify, request

from sandbox.github.git_objects import Commit, FakeRepo, GitStore, TreeEntry
from sandbox.github.server import page, require_repo_access

# --- HTTP -------------------------------------------------------------------------------------


def _error(status: int, message: str) -> Any:
    response = jsonify({"message": message, "documentation_url": "https://docs.github.com/rest/git",
                        "status": str(status)})
    response.status_code = status
    return response


def _ref_body(repo: FakeRepo, ref: str) -> dict[str, Any]:
    sha = repo.refs[ref]
    base = f"{request.host_url}repos/{repo.owner}/{repo.name}"
    return {"ref": ref, "node_id": f"REF_{sha[:12]}", "url": f"{base}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{base}/git/commits/{sha}"}}


def _commit_body(repo: FakeRepo, commit: Commit) -> dict[str, Any]:
    base = f"{request.host_url}repos/{repo.owner}/{repo.name}"
    return {
        "sha": commit.sha, "node_id": f"C_{commit.sha[:12]}", "url": f"{base}/git/commits/{commit.sha}",
        "html_url": f"https://github.test/{repo.owner}/{repo.name}/commit/{commit.sha}",
        "author": commit.author, "committer": commit.committer, "message": commit.message,
        "tree": {"sha": commit.tree, "url": f"{base}/git/trees/{commit.tree}"},
        "parents": [{"sha": p, "url": f"{base}/git/commits/{p}"} for p in commit.parents],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                         "verified_at": None},
    }


def _tree_item(repo: FakeRepo, path: str, entry: TreeEntry) -> dict[str, Any]:
    base = f"{request.host_url}repos/{repo.owner}/{repo.name}"
    item: dict[str, Any] = {"path": path, "mode": entry.mode, "type": entry.kind, "sha": entry.sha}
    if entry.kind == "blob":
        item["size"] = len(repo.blobs[entry.sha])
        item["url"] = f"{base}/git/blobs/{entry.sha}"
    elif entry.kind == "tree":
        item["url"] = f"{base}/git/trees/{entry.sha}"
    return item


def reset(state: Any) -> None:
    """Every test starts with no git objects; tests create repositories with `git_store(...).init_repo`."""
    state.extra["git"] = GitStore()


def git_store(fake_github: Any) -> GitStore:
    """The git objects of the fake a test holds (`fake_github` fixture)."""
    return fake_github.state.extra["git"]


def register(app: Flask, state_ref: Callable[[], Any]) -> None:
    """Add the Git Data, branch and pull request routes (installation or user tokens with access).

    Long on purpose: the route table of nested handlers that share `state_ref`, read top to bottom like GitHub's docs.
    """
    class _Store:
        def __getattr__(self, name: str) -> Any:
            return getattr(state_ref().extra["git"], name)

    store: Any = _Store()

    def repo_or_404(owner: str, name: str) -> FakeRepo:
        require_repo_access(owner, name)
        repo = store.repo(owner, name)
        if repo is None:
            abort(_error(409, "Git Repository is empty."))
        return repo

    @app.post("/repos/<owner>/<name>/git/blobs")
    def git_create_blob(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return _error(422, "Invalid request.\n\n\"content\" wasn't supplied.")
        encoding = body.get("encoding", "utf-8")
        if encoding == "base64":
            try:
                content = base64.b64decode(body["content"], validate=True)
            except ValueError:
                return _error(422, "Invalid request.\n\ncontent is not valid Base64.")
        elif encoding in ("utf-8", "utf8"):
            content = body["content"].encode()
        else:
            return _error(422, f"encoding must be utf-8 or base64, not {encoding}")
        with store.lock:
            sha = repo.put_blob(content)
        return jsonify({"sha": sha, "url": f"{request.host_url}repos/{owner}/{name}/git/blobs/{sha}"}), 201

    @app.get("/repos/<owner>/<name>/git/blobs/<sha>")
    def git_get_blob(owner: str, name: str, sha: str) -> Any:
        repo = repo_or_404(owner, name)
        if sha not in repo.blobs:
            return _error(404, "Not Found")
        content = repo.blobs[sha]
        return jsonify({"sha": sha, "node_id": f"B_{sha[:12]}", "size": len(content),
                        "url": f"{request.host_url}repos/{owner}/{name}/git/blobs/{sha}",
                        "content": base64.encodebytes(content).decode(), "encoding": "base64"})

    @app.get("/repos/<owner>/<name>/git/trees/<sha>")
    def git_get_tree(owner: str, name: str, sha: str) -> Any:
        repo = repo_or_404(owner, name)
        with store.lock:
            if sha in repo.commits:  # GitHub accepts a commit (or branch) where a tree is expected
                sha = repo.commits[sha].tree
            if sha not in repo.trees:
                return _error(404, "Not Found")
            recursive = request.args.get("recursive") not in (None, "", "0", "false")
            if recursive:
                listed = repo.walk(sha)
            else:
                listed = [(e.name, e) for e in repo.trees[sha]]
            truncated = False
            if recursive and store.truncate_trees_at is not None and len(listed) > store.truncate_trees_at:
                listed, truncated = listed[: store.truncate_trees_at], True
            items = [_tree_item(repo, path, entry) for path, entry in listed]
        return jsonify({"sha": sha, "url": f"{request.host_url}repos/{owner}/{name}/git/trees/{sha}",
                        "tree": items, "truncated": truncated})

    @app.post("/repos/<owner>/<name>/git/trees")
    def git_create_tree(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("tree"), list):
            return _error(422, "Invalid request.\n\n\"tree\" wasn't supplied.")
        with store.lock:
            base_tree = body.get("base_tree")
            if base_tree is not None and base_tree not in repo.trees:
                return _error(422, "Invalid request.\n\nbase_tree is not a valid tree oid.")
            changes: dict[str, TreeEntry | None] = {}
            for item in body["tree"]:
                path, mode, kind = item.get("path"), item.get("mode"), item.get("type", "blob")
                if not isinstance(path, str) or not path or path.startswith("/") or mode not in (
                        "100644", "100755", "040000", "160000", "120000"):
                    return _error(422, f"Invalid tree entry {item!r}")
                if "content" in item and item["content"] is not None:
                    sha = repo.put_blob(str(item["content"]).encode())
                elif "sha" in item and item["sha"] is None:
                    if base_tree is None:
                        return _error(422, "A path can only be deleted from a base_tree.")
                    changes[path] = None
                    continue
                else:
                    sha = item.get("sha")
                    known = repo.blobs if kind == "blob" else repo.trees
                    if sha not in known:
                        return _error(422, f"Invalid request.\n\n{sha} is not a valid {kind} oid.")
                changes[path] = TreeEntry(path.rsplit("/", 1)[-1], mode, kind, sha)
            sha = repo.build_tree(base_tree, changes)
            items = [_tree_item(repo, e.name, e) for e in repo.trees[sha]]
        return jsonify({"sha": sha, "url": f"{request.host_url}repos/{owner}/{name}/git/trees/{sha}",
                        "tree": items, "truncated": False}), 201

    @app.get("/repos/<owner>/<name>/git/commits/<sha>")
    def git_get_commit(owner: str, name: str, sha: str) -> Any:
        repo = repo_or_404(owner, name)
        if sha not in repo.commits:
            return _error(404, "Not Found")
        return jsonify(_commit_body(repo, repo.commits[sha]))

    @app.post("/repos/<owner>/<name>/git/commits")
    def git_create_commit(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body.get("tree"):
            return _error(422, "Invalid request.\n\n\"message\" and \"tree\" are required.")
        with store.lock:
            if body["tree"] not in repo.trees:
                return _error(422, "Tree SHA does not exist")
            parents = body.get("parents", [])
            if any(p not in repo.commits for p in parents):
                return _error(422, "Parent SHA does not exist or is not a commit object")
            sha = repo.put_commit(body["tree"], parents, body["message"], body.get("author"))
            commit = repo.commits[sha]
        return jsonify(_commit_body(repo, commit)), 201

    @app.get("/repos/<owner>/<name>/git/ref/<path:ref>")
    @app.get("/repos/<owner>/<name>/git/refs/<path:ref>")
    def git_get_ref(owner: str, name: str, ref: str) -> Any:
        repo = repo_or_404(owner, name)
        full = f"refs/{ref}"
        if full not in repo.refs:
            return _error(404, "Not Found")
        return jsonify(_ref_body(repo, full))

    @app.post("/repos/<owner>/<name>/git/refs")
    def git_create_ref(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True)
        ref, sha = (body or {}).get("ref", ""), (body or {}).get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            return _error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        with store.lock:
            if ref in repo.refs:
                return _error(422, "Reference already exists")
            if sha not in repo.commits:
                return _error(422, "Object does not exist")
            repo.refs[ref] = sha
        return jsonify(_ref_body(repo, ref)), 201

    @app.patch("/repos/<owner>/<name>/git/refs/<path:ref>")
    def git_update_ref(owner: str, name: str, ref: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True) or {}
        full = f"refs/{ref}"
        if store._before_ref_update:
            store._before_ref_update.pop(0)()
        with store.lock:
            if full not in repo.refs:
                return _error(422, "Reference does not exist")
            sha = body.get("sha")
            if sha not in repo.commits:
                return _error(422, "Object does not exist")
            branch = full.removeprefix("refs/heads/")
            if full.startswith("refs/heads/") and branch in repo.protected:
                return _error(422, f"Protected branch update failed for {full}.")
            if not body.get("force") and not repo.is_ancestor(repo.refs[full], sha):
                return _error(422, "Update is not a fast forward")
            repo.refs[full] = sha
        return jsonify(_ref_body(repo, full))

    @app.delete("/repos/<owner>/<name>/git/refs/<path:ref>")
    def git_delete_ref(owner: str, name: str, ref: str) -> Any:
        repo = repo_or_404(owner, name)
        with store.lock:
            if repo.refs.pop(f"refs/{ref}", None) is None:
                return _error(422, "Reference does not exist")
        return "", 204

    @app.get("/repos/<owner>/<name>/branches")
    def git_list_branches(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        base = f"{request.host_url}repos/{owner}/{name}"
        with store.lock:
            heads = sorted((ref.removeprefix("refs/heads/"), sha) for ref, sha in repo.refs.items()
                           if ref.startswith("refs/heads/"))
            items = [{"name": branch, "commit": {"sha": sha, "url": f"{base}/commits/{sha}"},
                      "protected": branch in repo.protected} for branch, sha in heads]
        return jsonify(page(items))

    @app.get("/repos/<owner>/<name>/branches/<path:branch>")
    def git_get_branch(owner: str, name: str, branch: str) -> Any:
        repo = repo_or_404(owner, name)
        with store.lock:
            sha = repo.refs.get(f"refs/heads/{branch}")
            if sha is None:
                return _error(404, "Branch not found")
            commit = repo.commits[sha]
            base = f"{request.host_url}repos/{owner}/{name}"
            return jsonify({
                "name": branch,
                "commit": {
                    "sha": sha, "url": f"{base}/commits/{sha}",
                    "commit": {"message": commit.message, "author": commit.author, "committer": commit.committer,
                               "tree": {"sha": commit.tree, "url": f"{base}/git/trees/{commit.tree}"}},
                    "parents": [{"sha": p} for p in commit.parents],
                },
                "protected": branch in repo.protected,
                "protection_url": f"{base}/branches/{branch}/protection",
            })

    @app.get("/repos/<owner>/<name>/pulls")
    def git_list_pulls(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        head, state = request.args.get("head"), request.args.get("state", "open")
        pulls = [p for p in repo.pulls if (state == "all" or p["state"] == state)
                 and (head is None or head in (p["head"]["ref"], p["head"]["label"]))]
        return jsonify(pulls)

    @app.post("/repos/<owner>/<name>/pulls")
    def git_create_pull(owner: str, name: str) -> Any:
        repo = repo_or_404(owner, name)
        body = request.get_json(force=True) or {}
        head, base_branch = body.get("head"), body.get("base")
        with store.lock:
            if f"refs/heads/{head}" not in repo.refs or f"refs/heads/{base_branch}" not in repo.refs:
                return _error(422, "Validation Failed: head or base does not exist")
            if any(p["head"]["ref"] == head and p["state"] == "open" for p in repo.pulls):
                return _error(422, f"A pull request already exists for {owner}:{head}.")
            number = next(store._pull_numbers)
            pull = {
                "number": number, "state": "open", "title": body.get("title", ""), "body": body.get("body"),
                "html_url": f"https://github.test/{owner}/{name}/pull/{number}",
                "url": f"{request.host_url}repos/{owner}/{name}/pulls/{number}",
                "head": {"ref": head, "label": f"{owner}:{head}", "sha": repo.refs[f"refs/heads/{head}"]},
                "base": {"ref": base_branch, "label": f"{owner}:{base_branch}"},
            }
            repo.pulls.append(pull)
        return jsonify(pull), 201
