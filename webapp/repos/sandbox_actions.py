"""Sandbox mode's actions on a repository: run a workflow job on Sandbox GitHub, as a push to a workflow would.

Only in sandbox mode (SANDBOX=1): the GitHub simulator then queues the job and sends Gantry the
`workflow_job` webhooks GitHub would, and the runner simulator plays the runner a pool launches.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from webapp.auth.principal import Who, user_of
from webapp.core import audit
from webapp.core.errors import Forbidden, NotFound, ValidationFailed
from webapp.extensions import db
from webapp.integrations.github import github
from webapp.repos import service

OUTCOMES = ("success", "failure")
LABEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_LABELS = 10
WRITERS = ("write", "maintain", "admin")


def sandbox_on() -> bool:
    return bool(current_app.config.get("SANDBOX"))


def parse_labels(text: str) -> list[str]:
    """Comma- or space-separated runner labels, as a workflow's `runs-on` lists them."""
    labels = list(dict.fromkeys(part for part in re.split(r"[\s,]+", text or "") if part))
    if not labels:
        raise ValidationFailed("Name at least one runner label.", errors={"labels": ["required"]})
    if len(labels) > MAX_LABELS or not all(LABEL.match(label) for label in labels):
        raise ValidationFailed(f"Labels are up to {MAX_LABELS} names of letters, digits, '.', '_' or '-'.",
                               errors={"labels": ["invalid"]})
    return labels


def run_workflow(who: Who, owner: str, name: str, labels_text: str, outcome: str) -> dict[str, Any]:
    """Queue one workflow job on the simulator; answers the job as GitHub shows it."""
    if not sandbox_on():
        raise NotFound("Not found.")
    repo = service.get_repository(who, owner, name)
    if service.permission_of(who, repo.id) not in WRITERS:
        raise Forbidden("Running a workflow needs write access to the repository, as on GitHub.")
    labels = parse_labels(labels_text)
    if outcome not in OUTCOMES:
        raise ValidationFailed("The outcome is success or failure.", errors={"outcome": ["invalid"]})
    if repo.installation_id is None:
        raise ValidationFailed("The App is not installed on this repository: GitHub would send Gantry nothing.")
    job: dict[str, Any] = github().app_request("POST", f"/_sandbox/repos/{repo.full_name}/workflow-jobs",
                                               json={"labels": labels, "outcome": outcome})
    audit.record("sandbox.workflow_run", "repository", repo.id, actor=user_of(who),
                 details={"labels": labels, "outcome": outcome, "job_id": job.get("id")})
    db.session.commit()
    return job
