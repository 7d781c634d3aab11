"""Workflow jobs in the GitHub simulator: queue one, hand it to a runner, start and finish it.

Each step sends the `workflow_job` webhook GitHub would (sandbox/github/events.py), built from
GitHub's own payload examples (examples/webhooks/workflow_job), and keeps the job where
`GET /repos/{owner}/{repo}/actions/jobs/{id}` answers it (sandbox/github/actions.py).

    record = jobs.queue(state, "gantry-demo/engine", ["self-hosted", "linux", "x64"], outcome="failure")
    record = jobs.next_for(state, runner_labels)   # the oldest queued job those labels can run, or None
    jobs.start(state, record, runner)              # in_progress, on that runner
    jobs.finish(state, record)                     # completed, with the outcome asked for at queue time
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from sandbox.github import actions, events
from sandbox.github.server import fail, json_response, sandbox_door
from sandbox.github.state import REST_DIR, FakeState

AREA = "jobs"
OUTCOMES = ("success", "failure")
EXAMPLES = {"queued": "queued.json", "in_progress": "in_progress.json",
            "success": "completed.success.with-organization.json",
            "failure": "completed.failure.with-organization.json"}
_lock = threading.Lock()


def reset(state: FakeState) -> None:
    state.extra[AREA] = {"queued": [], "ids": itertools.count(6_100_000), "runs": itertools.count(5_100_000)}


def _area(state: FakeState) -> dict[str, Any]:
    if AREA not in state.extra:
        reset(state)
    return state.extra[AREA]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _example(name: str) -> dict[str, Any]:
    path = REST_DIR / "webhooks" / "workflow_job" / EXAMPLES[name]
    return json.loads(path.read_text())


def _payload(state: FakeState, action: str, record: dict[str, Any]) -> dict[str, Any]:
    job = record["job"]
    payload = _example(job["conclusion"] if action == "completed" else action)
    repo = state.repositories[record["repository_id"]]
    payload.update({"action": action, "workflow_job": copy.deepcopy(job), "repository": copy.deepcopy(repo),
                    "organization": copy.deepcopy(repo["owner"]),
                    "sender": copy.deepcopy(state.users.get(record["actor"]) or repo["owner"])})
    payload.pop("enterprise", None)
    return payload


def _send(state: FakeState, action: str, record: dict[str, Any]) -> int | None:
    actions.put_job(state, record["job"])
    installation = state.installation_of_repo(record["repository_id"])
    return events.send(state, "workflow_job", _payload(state, action, record), installation_id=installation)


def _head_sha(state: FakeState, repo: dict[str, Any]) -> str:
    """The commit at the tip of the repository's default branch (what a push to it runs the workflow on)."""
    store = state.extra.get("git")
    git_repo = store.repo(repo["owner"]["login"], repo["name"]) if store is not None else None
    head = git_repo.refs.get(f"refs/heads/{repo['default_branch']}") if git_repo is not None else None
    return str(head or (state.commits.get(repo["id"]) or [{"sha": "0" * 40}])[0]["sha"])


def queue(state: FakeState, full_name: str, labels: list[str], *, outcome: str = "success",
          name: str = "build", workflow: str = "CI", actor: str = "octocat") -> dict[str, Any]:
    """A workflow run asks for a job on `labels`: GitHub queues it and says so to the App.

    Answers the job's record: `job` (the workflow_job as GitHub shows it), `repository_id`, `actor`, `outcome`."""
    owner, _, name_part = full_name.partition("/")
    repo = state.repo_by_name(owner, name_part)
    if repo is None:
        raise ValueError(f"no repository {full_name}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    area = _area(state)
    head = _head_sha(state, repo)
    with _lock:
        job_id, run_id = next(area["ids"]), next(area["runs"])
    base = f"https://api.github.com/repos/{repo['full_name']}/actions"
    job = {**_example("queued")["workflow_job"], "id": job_id, "run_id": run_id, "run_attempt": 1,
           "node_id": f"WJ_{job_id}", "head_sha": head, "head_branch": repo["default_branch"],
           "url": f"{base}/jobs/{job_id}", "run_url": f"{base}/runs/{run_id}",
           "html_url": f"https://github.com/{repo['full_name']}/actions/runs/{run_id}/job/{job_id}",
           "status": "queued", "conclusion": None, "created_at": _now(), "started_at": _now(),
           "completed_at": None, "name": name, "workflow_name": workflow, "labels": list(labels), "steps": [],
           "runner_id": None, "runner_name": None, "runner_group_id": None, "runner_group_name": None}
    record = {"job": job, "repository_id": repo["id"], "actor": actor, "outcome": outcome}
    with _lock:
        area["queued"].append(record)
    _send(state, "queued", record)
    return record


def next_for(state: FakeState, runner_labels: list[str]) -> dict[str, Any] | None:
    """Take the oldest queued job whose labels the runner has all of (GitHub's matching), or None."""
    have = {label.lower() for label in runner_labels}
    with _lock:
        queued = _area(state)["queued"]
        for record in queued:
            if {label.lower() for label in record["job"]["labels"]} <= have:
                queued.remove(record)
                return record
    return None


def start(state: FakeState, record: dict[str, Any], runner: dict[str, Any]) -> int | None:
    """The runner picked the job up: in_progress."""
    record["job"].update({"status": "in_progress", "started_at": _now(), "runner_id": runner["id"],
                          "runner_name": runner["name"], "runner_group_id": 1, "runner_group_name": "Default"})
    return _send(state, "in_progress", record)


def finish(state: FakeState, record: dict[str, Any]) -> int | None:
    """The job ended with the outcome it was queued with: completed."""
    record["job"].update({"status": "completed", "conclusion": record["outcome"], "completed_at": _now()})
    return _send(state, "completed", record)


def register(app: Flask, state_ref: Callable[[], FakeState]) -> None:
    """The sandbox's own door (not GitHub's API): run a workflow job, as a push to a workflow would.

    Only the App may call it (its JWT), so only Gantry in sandbox mode does."""

    @app.post("/_sandbox/repos/<owner>/<name>/workflow-jobs")
    def sandbox_queue_job(owner: str, name: str) -> Any:
        repo, body = sandbox_door(owner, name)
        state = state_ref()
        labels, outcome = body.get("labels"), body.get("outcome", "success")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            fail(422, "labels must be a list of names")
        if outcome not in OUTCOMES:
            fail(422, f"outcome must be one of {', '.join(OUTCOMES)}")
        record = queue(state, str(repo["full_name"]), labels, outcome=outcome,
                       name=str(body.get("name") or "build"), actor=str(body.get("actor") or "octocat"))
        return json_response(record["job"], 201)
