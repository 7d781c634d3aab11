"""The self-hosted runner endpoints of GitHub, for a pool's scope (one repository or one organisation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp.integrations.github import GitHubError, github
from webapp.runners.models import RunnerPool

RUNNER_PREFIX = "gantry-"


@dataclass(frozen=True)
class JitConfig:
    github_runner_id: int
    encoded_jit_config: str

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"JitConfig(github_runner_id={self.github_runner_id}, encoded_jit_config=<hidden>)"


def _base(pool: RunnerPool) -> str:
    if pool.scope == "repository":
        if pool.repository is None:
            raise GitHubError(404, "the pool's repository is no longer known")
        return f"/repos/{pool.repository.full_name}/actions/runners"
    return f"/orgs/{pool.org_login}/actions/runners"


def generate_jitconfig(pool: RunnerPool, name: str) -> JitConfig:
    """Register a just-in-time runner; a leftover registration under the same name is removed first."""
    labels = [label for label in pool.labels if label.lower() != "self-hosted"] or ["gantry"]
    body: dict[str, Any] = {"name": name, "labels": labels, "runner_group_id": pool.runner_group_id or 1,
                            "work_folder": "_work"}
    for attempt in range(2):
        try:
            answer = github().installation_request(pool.installation_id, "POST", f"{_base(pool)}/generate-jitconfig",
                                                   json=body)
        except GitHubError as exc:
            if exc.status == 409 and attempt == 0:  # a runner with this name exists: an earlier attempt's
                existing = find_runner(pool, name)
                if existing is not None:
                    delete_runner(pool, int(existing["id"]))
                continue
            raise
        return JitConfig(int(answer["runner"]["id"]), str(answer["encoded_jit_config"]))
    raise GitHubError(409, f"a runner named {name} still exists on GitHub")


def list_runners(pool: RunnerPool) -> list[dict[str, Any]]:
    """Every self-hosted runner GitHub knows in the pool's scope."""
    return github().paginate_installation(pool.installation_id, _base(pool), item_key="runners")


def find_runner(pool: RunnerPool, name: str) -> dict[str, Any] | None:
    answer = github().installation_request(pool.installation_id, "GET", _base(pool), params={"name": name})
    for runner in (answer or {}).get("runners", []):
        if runner.get("name") == name:
            return dict(runner)
    return None


def delete_runner(pool: RunnerPool, github_runner_id: int) -> str:
    """Deregister a runner: "deleted", "gone" (GitHub no longer knows it) or "busy" (GitHub's 422)."""
    try:
        github().installation_request(pool.installation_id, "DELETE", f"{_base(pool)}/{int(github_runner_id)}")
    except GitHubError as exc:
        if exc.status == 404:
            return "gone"
        if exc.status == 422:
            return "busy"
        raise
    return "deleted"
