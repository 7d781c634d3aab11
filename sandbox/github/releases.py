"""Fake GitHub routes for releases: list and get commits, compare, tags, GitHub Releases, Deployments and statuses.

Commits and refs (tags included: `POST /git/refs`, `GET /git/ref/tags/...`) live in the Git Data
store of sandbox/github/git.py, so a compare walks a real commit graph and the list of commits
(newest first, as GitHub lists them) is the branch's real history. Build one with
`make_history(fake_github, "acme", "infrajet", ["feat: a", "fix: b"])`. A repository without git
objects answers the canned commits of the fake's state.

Losing an answer after the work was done (GitHub created the tag, the connection dropped) is
what makes retries dangerous; `lose_response(fake_github, "POST", r"/releases$")` makes the next
matching request do its work and then answer 502.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request

from sandbox.github.server import fail, json_response, not_found, page, require_repo_access
from sandbox.github.state import rest_example

AREA = "releases"


def reset(state: Any) -> None:
    state.extra[AREA] = {"releases": {}, "deployments": {}, "statuses": {}, "lose": [],
                         "ids": itertools.count(70_000)}


def _area(fake_github: Any) -> dict[str, Any]:
    return fake_github.state.extra[AREA]


def lose_response(fake_github: Any, method: str, path_regex: str, times: int = 1) -> None:
    """The next `times` matching requests are carried out, then answered 502 as if the answer was lost."""
    _area(fake_github)["lose"].append([method, path_regex, times])


def releases_of(fake_github: Any, owner: str, name: str) -> list[dict[str, Any]]:
    return list(_area(fake_github)["releases"].get(f"{owner}/{name}".lower(), []))


def deployments_of(fake_github: Any, owner: str, name: str) -> list[dict[str, Any]]:
    return list(_area(fake_github)["deployments"].get(f"{owner}/{name}".lower(), []))


def statuses_of(fake_github: Any, deployment_id: int) -> list[dict[str, Any]]:
    return list(_area(fake_github)["statuses"].get(deployment_id, []))


def tags_of(fake_github: Any, owner: str, name: str) -> dict[str, str]:
    repo = fake_github.state.extra["git"].repo(owner, name)
    return {ref.removeprefix("refs/tags/"): sha for ref, sha in (repo.refs if repo else {}).items()
            if ref.startswith("refs/tags/")}


def make_history(fake_github: Any, owner: str, name: str, messages: list[str], *, branch: str = "main",
                 merges: dict[int, list[str]] | None = None) -> list[str]:
    """Commit `messages` (oldest first) on `branch`; returns their shas.

    `merges={i: [msg, ...]}` makes message i a merge commit whose second parent is a side branch of
    those commits (a pull request merged with a merge commit).
    """
    store = fake_github.state.extra["git"]
    if store.repo(owner, name) is None:
        store.init_repo(owner, name, {"README.md": "# demo\n"}, branch=branch)
    repo = store.repo(owner, name)
    shas = []
    for i, message in enumerate(messages):
        head = repo.refs[f"refs/heads/{branch}"]
        tree = repo.commits[head].tree
        parents = [head]
        if merges and i in merges:
            side = head
            for inner in merges[i]:
                side = repo.put_commit(tree, [side], inner, _author(len(repo.commits)))
            parents.append(side)
        sha = repo.put_commit(tree, parents, message, _author(len(repo.commits)))
        repo.refs[f"refs/heads/{branch}"] = sha
        shas.append(sha)
    return shas


def _author(n: int) -> dict[str, str]:
    # Distinct, increasing dates so the commit order is stable.
    return {"name": "Dev", "email": "dev@example.test", "date": f"2026-10-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"}


def _reachable(repo: Any, head: str, stop: set[str] | None = None) -> list[str]:
    """Commits reachable from `head` (not in `stop`), oldest first."""
    return [sha for sha in reversed(repo.log(head)) if sha not in (stop or set())]


def _commit_body(repo: Any, sha: str) -> dict[str, Any]:
    body = rest_example("repos/list-commits")[0]
    commit = repo.commits[sha]
    full_name = f"{repo.owner}/{repo.name}"
    body.update({"sha": sha, "node_id": f"C_{sha[:10]}", "html_url": f"https://github.com/{full_name}/commit/{sha}",
                 "url": f"https://api.github.com/repos/{full_name}/commits/{sha}",
                 "parents": [{"sha": p, "url": f"https://api.github.com/repos/{full_name}/commits/{p}"}
                             for p in commit.parents]})
    body["commit"] = {**body["commit"], "message": commit.message, "author": dict(commit.author),
                      "committer": dict(commit.committer),
                      "url": f"https://api.github.com/repos/{full_name}/git/commits/{sha}",
                      "tree": {"sha": commit.tree, "url": f"https://api.github.com/repos/{full_name}/git/trees/{commit.tree}"}}
    return body


def register(app: Flask, state_ref: Callable[[], Any]) -> None:
    """Add get-a-commit, compare, releases and deployments routes (installation tokens with access).

    Long on purpose: the route table of nested handlers that share `state_ref`, read top to bottom like GitHub's docs.
    """
    def area() -> dict[str, Any]:
        return state_ref().extra[AREA]

    def git_repo(owner: str, name: str) -> Any:
        require_repo_access(owner, name)
        repo = state_ref().extra["git"].repo(owner, name)
        if repo is None:
            fail(409, "Git Repository is empty.")
        return repo

    def resolve(repo: Any, ref: str) -> str | None:
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            if candidate in repo.refs:
                return repo.refs[candidate]
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            matches = [s for s in repo.commits if s.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def answered(response: Any) -> Any:
        """Do the work, then lose the answer when a test asked for it."""
        for rule in area()["lose"]:
            if rule[2] > 0 and rule[0] == request.method and re.search(rule[1], request.path):
                rule[2] -= 1
                return json_response({"message": "Bad Gateway (answer lost after the work was done)"}, 502)
        return response

    @app.get("/repos/<owner>/<name>/commits")
    def releases_list_commits(owner: str, name: str) -> Any:
        found = require_repo_access(owner, name, need="contents:read")
        repo = state_ref().extra["git"].repo(owner, name)
        if repo is None:  # no git objects: the canned commits of the fake's state, newest first
            canned = state_ref().commits.get(found["id"], [])
            if not canned:
                fail(409, "Git Repository is empty.")
            return json_response(page(canned))
        ref = request.args.get("sha") or str(found["default_branch"])
        head = resolve(repo, ref)
        if head is None:
            fail(404, f"No commit found for SHA: {ref}")
        return json_response([_commit_body(repo, sha) for sha in page(repo.log(head))])

    @app.get("/repos/<owner>/<name>/commits/<path:ref>")
    def releases_get_commit(owner: str, name: str, ref: str) -> Any:
        repo = git_repo(owner, name)
        sha = resolve(repo, ref)
        if sha is None:
            return json_response({"message": f"No commit found for SHA: {ref}", "status": "422"}, 422)
        return json_response(_commit_body(repo, sha))

    @app.get("/repos/<owner>/<name>/compare/<path:basehead>")
    def releases_compare(owner: str, name: str, basehead: str) -> Any:
        repo = git_repo(owner, name)
        base_ref, sep, head_ref = basehead.partition("...")
        if not sep:
            return not_found()
        base, head = resolve(repo, base_ref), resolve(repo, head_ref)
        if base is None or head is None:
            return not_found()
        base_side = set(_reachable(repo, base))
        ahead = _reachable(repo, head, stop=base_side)
        behind = [s for s in _reachable(repo, base, stop=set(_reachable(repo, head)))]
        status = "identical" if base == head else ("ahead" if not behind else ("behind" if not ahead else "diverged"))
        body = rest_example("repos/compare-commits")
        full_name = f"{repo.owner}/{repo.name}"
        body.update({"status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
                     "html_url": f"https://github.com/{full_name}/compare/{base_ref}...{head_ref}",
                     "base_commit": _commit_body(repo, base), "merge_base_commit": _commit_body(repo, base),
                     "commits": [_commit_body(repo, s) for s in page(ahead)], "files": []})
        return json_response(body)

    @app.get("/repos/<owner>/<name>/tags")
    def releases_list_tags(owner: str, name: str) -> Any:
        repo = git_repo(owner, name)
        full_name = f"{repo.owner}/{repo.name}"
        tags = [(ref.removeprefix("refs/tags/"), sha) for ref, sha in repo.refs.items() if ref.startswith("refs/tags/")]
        return json_response(page([
            {"name": tag, "node_id": f"REF_{sha[:12]}",
             "commit": {"sha": sha, "url": f"https://api.github.com/repos/{full_name}/commits/{sha}"},
             "zipball_url": f"https://api.github.com/repos/{full_name}/zipball/refs/tags/{tag}",
             "tarball_url": f"https://api.github.com/repos/{full_name}/tarball/refs/tags/{tag}"}
            for tag, sha in reversed(tags)]))  # the newest tag first

    def release_list(owner: str, name: str) -> list[dict[str, Any]]:
        return area()["releases"].setdefault(f"{owner}/{name}".lower(), [])

    @app.post("/repos/<owner>/<name>/releases")
    def releases_create(owner: str, name: str) -> Any:
        repo = git_repo(owner, name)
        body = request.get_json(force=True) or {}
        tag = body.get("tag_name")
        if not tag:
            return json_response({"message": "Validation Failed",
                                  "errors": [{"resource": "Release", "code": "missing_field", "field": "tag_name"}]},
                                 422)
        if any(r["tag_name"] == tag for r in release_list(owner, name)):
            return json_response({"message": "Validation Failed", "errors": [
                {"resource": "Release", "code": "already_exists", "field": "tag_name"}]}, 422)
        if f"refs/tags/{tag}" not in repo.refs:  # GitHub tags target_commitish itself
            sha = resolve(repo, body.get("target_commitish") or "main")
            if sha is None:
                return json_response({"message": "Validation Failed", "errors": [
                    {"resource": "Release", "code": "invalid", "field": "target_commitish"}]}, 422)
            repo.refs[f"refs/tags/{tag}"] = sha
        release = rest_example("repos/create-release")
        release_id = next(area()["ids"])
        full_name = f"{repo.owner}/{repo.name}"
        release.update({"id": release_id, "tag_name": tag, "name": body.get("name") or tag,
                        "body": body.get("body") or "", "target_commitish": body.get("target_commitish") or "main",
                        "draft": bool(body.get("draft")), "prerelease": bool(body.get("prerelease")),
                        "html_url": f"https://github.com/{full_name}/releases/tag/{tag}",
                        "url": f"https://api.github.com/repos/{full_name}/releases/{release_id}",
                        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        release_list(owner, name).append(release)
        return answered(json_response(release, 201))

    @app.get("/repos/<owner>/<name>/releases/tags/<path:tag>")
    def releases_get_by_tag(owner: str, name: str, tag: str) -> Any:
        git_repo(owner, name)
        found = next((r for r in release_list(owner, name) if r["tag_name"] == tag), None)
        return json_response(found) if found else not_found()

    @app.get("/repos/<owner>/<name>/releases")
    def releases_list(owner: str, name: str) -> Any:
        git_repo(owner, name)
        return json_response(page(list(reversed(release_list(owner, name)))))

    def deployment_list(owner: str, name: str) -> list[dict[str, Any]]:
        return area()["deployments"].setdefault(f"{owner}/{name}".lower(), [])

    @app.post("/repos/<owner>/<name>/deployments")
    def releases_create_deployment(owner: str, name: str) -> Any:
        repo = git_repo(owner, name)
        body = request.get_json(force=True) or {}
        sha = resolve(repo, str(body.get("ref") or ""))
        if sha is None:
            return json_response({"message": f"No ref found for: {body.get('ref')}"}, 422)
        deployment = rest_example("repos/create-deployment")
        deployment_id = next(area()["ids"])
        deployment.update({"id": deployment_id, "sha": sha, "ref": body.get("ref"), "task": body.get("task", "deploy"),
                           "payload": body.get("payload") or {}, "environment": body.get("environment", "production"),
                           "original_environment": body.get("environment", "production"),
                           "description": body.get("description"),
                           "production_environment": bool(body.get("production_environment")),
                           "transient_environment": bool(body.get("transient_environment")),
                           "url": f"https://api.github.com/repos/{owner}/{name}/deployments/{deployment_id}",
                           "statuses_url":
                               f"https://api.github.com/repos/{owner}/{name}/deployments/{deployment_id}/statuses"})
        deployment_list(owner, name).append(deployment)
        area()["statuses"][deployment_id] = []
        return answered(json_response(deployment, 201))

    @app.get("/repos/<owner>/<name>/deployments")
    def releases_list_deployments(owner: str, name: str) -> Any:
        git_repo(owner, name)
        found = [d for d in reversed(deployment_list(owner, name))
                 if request.args.get("sha") in (None, d["sha"])
                 and request.args.get("environment") in (None, d["environment"])]
        return json_response(page(found))

    @app.post("/repos/<owner>/<name>/deployments/<int:deployment_id>/statuses")
    def releases_create_status(owner: str, name: str, deployment_id: int) -> Any:
        git_repo(owner, name)
        if not any(d["id"] == deployment_id for d in deployment_list(owner, name)):
            return not_found()
        body = request.get_json(force=True) or {}
        if body.get("state") not in ("error", "failure", "inactive", "in_progress", "queued", "pending", "success"):
            return json_response({"message": "Validation Failed", "errors": [
                {"resource": "DeploymentStatus", "code": "invalid", "field": "state"}]}, 422)
        status = rest_example("repos/create-deployment-status")
        status.update({"id": next(area()["ids"]), "state": body["state"], "description": body.get("description", ""),
                       "environment_url": body.get("environment_url", ""), "log_url": body.get("log_url", "")})
        area()["statuses"][deployment_id].append(status)
        return answered(json_response(status, 201))

    @app.get("/repos/<owner>/<name>/deployments/<int:deployment_id>/statuses")
    def releases_list_statuses(owner: str, name: str, deployment_id: int) -> Any:
        git_repo(owner, name)
        return jsonify(list(reversed(area()["statuses"].get(deployment_id, []))))
