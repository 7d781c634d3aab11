"""Sandbox mode's actions on a repository: run a workflow job, or push a commit, on Sandbox GitHub.

Only in sandbox mode (SANDBOX=1): the GitHub simulator then queues the job (or makes the commit and
moves the default branch) and sends Gantry the `workflow_job` (or `push`) webhooks GitHub would, and
the runner simulator plays the runner a pool launches.
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
from webapp.repos.models import Repository

OUTCOMES = ("success", "failure")
LABEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_LABELS = 10
WRITERS = ("write", "maintain", "admin")
MAX_PATH = 255
MAX_CONTENT = 100_000  # bytes: a sandbox push changes one small text file
MAX_MESSAGE = 1000


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


def _writable_sandbox_repository(who: Who, owner: str, name: str, doing: str) -> Repository:
    """The repository, if sandbox mode is on (404 otherwise) and `who` may write to it, as on GitHub."""
    if not sandbox_on():
        raise NotFound("Not found.")
    repo = service.get_repository(who, owner, name)
    if service.permission_of(who, repo.id) not in WRITERS:
        raise Forbidden(f"{doing} needs write access to the repository, as on GitHub.")
    return repo


def _installed(repo: Repository) -> None:
    if repo.installation_id is None:
        raise ValidationFailed("The App is not installed on this repository: GitHub would send Gantry nothing.")


def run_workflow(who: Who, owner: str, name: str, labels_text: str, outcome: str) -> dict[str, Any]:
    """Queue one workflow job on the simulator; answers the job as GitHub shows it."""
    repo = _writable_sandbox_repository(who, owner, name, "Running a workflow")
    labels = parse_labels(labels_text)
    if outcome not in OUTCOMES:
        raise ValidationFailed("The outcome is success or failure.", errors={"outcome": ["invalid"]})
    _installed(repo)
    job: dict[str, Any] = github().app_request("POST", f"/_sandbox/repos/{repo.full_name}/workflow-jobs",
                                               json={"labels": labels, "outcome": outcome})
    audit.record("sandbox.workflow_run", "repository", repo.id, actor=user_of(who),
                 details={"labels": labels, "outcome": outcome, "job_id": job.get("id")})
    db.session.commit()
    return job


def check_push(path: str, content: str, message: str) -> tuple[str, str, str]:
    """A push's file path, content (with git's line ends) and message; ValidationFailed names each bad field."""
    path, message = (path or "").strip(), (message or "").strip()
    content = (content or "").replace("\r\n", "\n")
    errors: dict[str, list[str]] = {}
    parts = path.split("/")
    if not path:
        errors["path"] = ["Name the file to change, e.g. docs/notes.md."]
    elif len(path) > MAX_PATH or path.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or any(ord(c) < 32 for c in path) or ".git" in (p.lower() for p in parts):
        errors["path"] = [f"A path inside the repository: up to {MAX_PATH} characters, no leading '/', "
                          "no empty, '.', '..' or '.git' parts."]
    if len(content.encode()) > MAX_CONTENT:
        errors["content"] = [f"At most {MAX_CONTENT // 1000} kB."]
    if not message:
        errors["message"] = ["Say what the commit changes."]
    elif len(message) > MAX_MESSAGE:
        errors["message"] = [f"At most {MAX_MESSAGE} characters."]
    if errors:
        raise ValidationFailed("The commit was not pushed: " + " ".join(m for ms in errors.values() for m in ms),
                               errors=errors)
    return path, content, message


def push_commit(who: Who, owner: str, name: str, path: str, content: str, message: str) -> dict[str, Any]:
    """Push one commit that sets one file on the default branch of Sandbox GitHub.

    The simulator makes the blob, tree and commit, fast-forwards the branch and sends Gantry the `push`
    webhook; answers `ref`, `before`, `after` (the new commit) and the intake's `delivery_status`."""
    repo = _writable_sandbox_repository(who, owner, name, "Pushing a commit")
    path, content, message = check_push(path, content, message)
    _installed(repo)
    user = user_of(who)
    pushed: dict[str, Any] = github().app_request(
        "POST", f"/_sandbox/repos/{repo.full_name}/pushes",
        json={"path": path, "content": content, "message": message,
              "author": {"name": user.username, "email": user.email or f"{user.username}@users.noreply.github.com"}})
    audit.record("sandbox.push", "repository", repo.id, actor=user,
                 details={"path": path, "ref": pushed.get("ref"), "before": pushed.get("before"),
                          "after": pushed.get("after")})
    db.session.commit()
    return pushed
