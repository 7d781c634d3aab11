"""What releases ask of GitHub: commits to release, the tag, the GitHub Release, Deployments.

Every write is preceded by a read that finds what an earlier, interrupted attempt already made,
so running any of these twice never creates a second tag, release or deployment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from webapp.core.errors import Conflict, ValidationFailed
from webapp.integrations.github import GitHubError, github
from webapp.repos.models import Repository

FIRST_RELEASE_PAGES = 3  # a first release's notes cover at most its 300 newest commits


def _installation(repo: Repository) -> int:
    if repo.installation_id is None:
        raise ValidationFailed(f"{repo.full_name} is not in a GitHub App installation, so Gantry cannot reach it.",
                               code="no_installation")
    return int(repo.installation_id)


def _call(repo: Repository, method: str, path: str, **kwargs: Any) -> Any:
    return github().installation_request(_installation(repo), method, f"/repos/{repo.full_name}{path}", **kwargs)


def resolve_commit(repo: Repository, ref: str) -> dict[str, Any]:
    """The commit a branch, tag or SHA points at (GitHub's commit object)."""
    try:
        return dict(_call(repo, "GET", f"/commits/{quote(ref)}"))
    except GitHubError as exc:
        if exc.status in (404, 409, 422):
            raise ValidationFailed(f"{ref!r} is not a branch, tag or commit of {repo.full_name}.",
                                   errors={"target": ["no such branch, tag or commit"]}) from exc
        raise


def commits_between(repo: Repository, base_sha: str | None, head_sha: str) -> tuple[list[dict[str, Any]], str | None]:
    """The commits after `base_sha` up to `head_sha`, oldest first, and the compare page's URL."""
    commits: list[dict[str, Any]] = []
    if base_sha is None:  # a first release: the newest FIRST_RELEASE_PAGES pages of history
        for number in range(1, FIRST_RELEASE_PAGES + 1):
            batch = _call(repo, "GET", "/commits", params={"sha": head_sha, "per_page": 100, "page": number}) or []
            commits.extend(batch)
            if len(batch) < 100:
                break
        return list(reversed(commits)), None
    page = 1
    html_url = None
    while True:
        answer = _call(repo, "GET", f"/compare/{base_sha}...{head_sha}", params={"per_page": 100, "page": page})
        html_url = answer.get("html_url") or html_url
        if answer.get("status") in ("behind", "diverged") and answer.get("behind_by"):
            raise ValidationFailed("The target is not ahead of the previous release: it is "
                                   f"{answer.get('status')} ({answer.get('behind_by')} commit(s) behind).",
                                   errors={"target": [f"{answer.get('status')} from the previous release"]})
        batch = answer.get("commits") or []
        commits.extend(batch)
        total = int(answer.get("total_commits") or len(commits))
        if not batch or len(commits) >= total or page >= 30:
            return commits, html_url
        page += 1


def ensure_tag(repo: Repository, tag: str, sha: str) -> bool:
    """Make refs/tags/<tag> point at `sha`; True if it was created now, False if it was there already."""
    ref = f"tags/{tag}"
    existing = _get_or_none(repo, f"/git/ref/{quote(ref)}")
    if existing is None:
        try:
            _call(repo, "POST", "/git/refs", json={"ref": f"refs/{ref}", "sha": sha})
            return True
        except GitHubError as exc:
            if exc.status != 422:  # "Reference already exists": a racing or lost earlier attempt
                raise
            existing = _get_or_none(repo, f"/git/ref/{quote(ref)}")
            if existing is None:
                raise
    found = (existing.get("object") or {}).get("sha")
    if found != sha:
        raise Conflict(f"The tag {tag} already exists on GitHub at {str(found)[:7]}, not at {sha[:7]}.",
                       code="tag_elsewhere")
    return False


def ensure_release(repo: Repository, tag: str, name: str, body: str, sha: str) -> dict[str, Any]:
    """The GitHub Release for `tag`, created unless an earlier attempt already made it."""
    existing = _get_or_none(repo, f"/releases/tags/{quote(tag)}")
    if existing is not None:
        return dict(existing)
    try:
        return dict(_call(repo, "POST", "/releases",
                          json={"tag_name": tag, "name": name, "body": body, "target_commitish": sha,
                                "draft": False, "prerelease": "-" in tag}))
    except GitHubError as exc:
        if exc.status != 422:
            raise
        existing = _get_or_none(repo, f"/releases/tags/{quote(tag)}")
        if existing is None:
            raise
        return dict(existing)


def find_deployment(repo: Repository, sha: str, environment: str, gantry_id: int) -> dict[str, Any] | None:
    """A GitHub Deployment an earlier attempt created for Gantry deployment `gantry_id`."""
    found = _call(repo, "GET", "/deployments", params={"sha": sha, "environment": environment, "per_page": 100})
    for item in found or []:
        payload = item.get("payload") or {}
        if isinstance(payload, dict) and payload.get("gantry_deployment_id") == gantry_id:
            return dict(item)
    return None


def create_deployment(repo: Repository, body: dict[str, Any]) -> dict[str, Any]:
    answer = _call(repo, "POST", "/deployments", json=body)
    if not isinstance(answer, dict) or "id" not in answer:
        raise GitHubError(202, str((answer or {}).get("message") or "GitHub did not create the deployment"), answer)
    return answer


def create_deployment_status(repo: Repository, github_deployment_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return dict(_call(repo, "POST", f"/deployments/{github_deployment_id}/statuses", json=body))


def _get_or_none(repo: Repository, path: str) -> dict[str, Any] | None:
    try:
        return dict(_call(repo, "GET", path))
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise
