"""Builds from GitHub Actions without curl: `workflow_run` deliveries of mapped repositories.

The run id is the build_id (`<run id>.<attempt>` for re-runs, which are new builds); the run's
status and conclusion map to state codes (catalogue.GITHUB_*_CODES). The handler runs inside the
webhook processing transaction: it never commits, and a redelivery changes nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from webapp.builds import cache
from webapp.builds.catalogue import GITHUB_CONCLUSION_CODES, GITHUB_STATUS_CODES
from webapp.builds.models import GithubBuildMapping
from webapp.builds.service import add_build, add_failure, apply_state, lock_build
from webapp.core import jobs
from webapp.core.errors import Conflict
from webapp.extensions import db
from webapp.repos.models import Repository
from webapp.webhooks.router import WebhookEvent

log = logging.getLogger(__name__)
REPORTER = "github"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def mapping_for(repository_id: int, workflow_name: str) -> GithubBuildMapping | None:
    """The mapping for this workflow of the repository, else the repository-wide one."""
    rows = db.session.scalars(select(GithubBuildMapping).where(
        GithubBuildMapping.repository_id == repository_id,
        GithubBuildMapping.workflow_name.in_([workflow_name, ""])))
    by_name = {m.workflow_name: m for m in rows}
    return by_name.get(workflow_name) or by_name.get("")


def run_state_code(status: str | None, conclusion: str | None) -> int | None:
    if status == "completed":
        return GITHUB_CONCLUSION_CODES.get(conclusion or "", 900)
    return GITHUB_STATUS_CODES.get(status or "")


def on_workflow_run(event: WebhookEvent) -> str | None:
    """Create or advance the build a mapped repository's workflow run stands for."""
    run = event.payload.get("workflow_run") or {}
    repository_id = (event.payload.get("repository") or {}).get("id") or event.repository_id
    if not run.get("id") or repository_id is None:
        return "not a workflow run of a repository"
    workflow = run.get("name") or (event.payload.get("workflow") or {}).get("name") or ""
    mapping = mapping_for(repository_id, workflow)
    if mapping is None:
        return None
    repo = db.session.get(Repository, repository_id)
    if repo is None:
        return f"repository {repository_id} is not known to Gantry"
    code = run_state_code(run.get("status"), run.get("conclusion"))
    if code is None:
        return f"run status {run.get('status')!r} is not mapped to a state"
    attempt = int(run.get("run_attempt") or 1)
    build_id = str(run["id"]) if attempt == 1 else f"{run['id']}.{attempt}"
    data = {
        "build_id": build_id,
        "platform": mapping.platform.slug,
        "os_version": mapping.os_version.slug,
        "image_type": mapping.image_type.slug,
        "pipeline_url": run.get("html_url") or "",
        "commit_hash": run.get("head_sha") or "",
        "repository": repo.id,
        "metadata": {"workflow": workflow, "run_id": run["id"], "run_attempt": attempt,
                     "head_branch": run.get("head_branch"), "event": run.get("event")},
    }
    try:
        build, _ = add_build(data, None, source="github", created_at=_time(run.get("created_at")))
    except Conflict as exc:
        log.warning("workflow run %s not recorded: %s", build_id, exc.message)
        return f"not recorded: {exc.message}"
    build = lock_build(build.id)
    status, conclusion = run.get("status"), run.get("conclusion")
    message = f"GitHub Actions run {status}" + (f": {conclusion}" if conclusion else "")
    occurred_at = _time(run.get("updated_at")) if status == "completed" else (
        _time(run.get("run_started_at")) if status == "in_progress" else _time(run.get("updated_at")))
    try:
        _, appended = apply_state(build, code, message, occurred_at, REPORTER)
    except Conflict:
        return f"build {build_id} has ended; {message} ignored"
    if appended and build.result == "failed":
        add_failure(build, {"error_message": f"Workflow {workflow or 'run'} concluded {conclusion}",
                            "error_code": conclusion or "failure", "component": workflow or "github-actions",
                            "details": {"run_id": run["id"], "run_attempt": attempt, "html_url": run.get("html_url")},
                            "occurred_at": occurred_at}, REPORTER)
    if appended:
        jobs.after_commit(cache.bump_generation)
    return f"build {build_id}: state {code}" + ("" if appended else " (already recorded)")
