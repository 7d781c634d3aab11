"""Fake GitHub routes for self-hosted runners (JIT registration, list, delete) and job reads.

Runners live in `state.extra["actions"]["runners"]`, keyed by scope ("repo:<id>" or "org:<login>")
and runner id, shaped like ../shared/github/rest/actions examples. A registered runner is
`offline` until a test brings it online (as a container that read its JIT config would):

    from sandbox.github import actions
    actions.set_status(fake_github.state, "gantry-linux-1", "online", busy=False)
    actions.find(fake_github.state, "gantry-linux-1")        # the runner dict, or None
    actions.jit_configs(fake_github.state)                   # every encoded_jit_config handed out
    actions.put_job(fake_github.state, payload["workflow_job"])   # what GET .../actions/jobs/{id} answers

DELETE answers 422 while a runner is busy, as GitHub does.
"""

from __future__ import annotations

import base64
import copy
import functools
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, request

from sandbox.github.server import (
    fail,
    json_response,
    not_found,
    page,
    require_installation,
    require_repo_access,
    state,
)
from sandbox.github.state import FakeState, rest_example


def reset(fresh: FakeState) -> None:
    fresh.extra["actions"] = {"runners": {}, "jit": [], "jobs": {}}


def _area(current: FakeState | None = None) -> dict[str, Any]:
    current = current or state()
    if "actions" not in current.extra:
        reset(current)
    return current.extra["actions"]


def all_runners(current: FakeState) -> list[dict[str, Any]]:
    return [r for scope in _area(current)["runners"].values() for r in scope.values()]


def find(current: FakeState, name: str) -> dict[str, Any] | None:
    return next((r for r in all_runners(current) if r["name"] == name), None)


def set_status(current: FakeState, name: str, status: str, *, busy: bool = False) -> dict[str, Any]:
    runner = find(current, name)
    assert runner is not None, f"no fake runner {name}"
    runner["status"], runner["busy"] = status, busy
    return runner


def remove(current: FakeState, name: str) -> bool:
    """An ephemeral runner is gone once its job ends (GitHub removes it); False if it was not there."""
    for scope in _area(current)["runners"].values():
        for runner_id, runner in list(scope.items()):
            if runner["name"] == name:
                del scope[runner_id]
                return True
    return False


def add_runner(current: FakeState, scope: str, name: str, *, status: str = "offline",
               busy: bool = False) -> dict[str, Any]:
    """A runner registered outside Gantry's knowledge (e.g. an orphan of a lost database)."""
    return _register(current, scope, name, ["linux"], status=status, busy=busy)


def jit_configs(current: FakeState) -> list[str]:
    return list(_area(current)["jit"])


def put_job(current: FakeState, job: dict[str, Any]) -> None:
    _area(current)["jobs"][int(job["id"])] = copy.deepcopy(job)


@functools.cache
def _runner_template() -> dict[str, Any]:
    return dict(rest_example("actions/generate-runner-jitconfig-for-repo")["runner"])


def _register(current: FakeState, scope: str, name: str, labels: list[str], *, status: str = "offline",
              busy: bool = False) -> dict[str, Any]:
    template = copy.deepcopy(_runner_template())
    runner_id = next(current.ids)
    runner = {**template, "id": runner_id, "name": name, "status": status, "busy": busy, "ephemeral": True,
              "labels": [{"id": 5, "name": "self-hosted", "type": "read-only"}]
              + [{"id": 100 + i, "name": label, "type": "custom"} for i, label in enumerate(labels)]}
    _area(current)["runners"].setdefault(scope, {})[runner_id] = runner
    return runner


def register(app: Flask, state_ref: Callable[[], FakeState]) -> None:
    """Add the Actions routes: just-in-time runner configs, runners (list, delete) and workflow jobs.

    Long on purpose: the route table of nested handlers that share `state_ref`, read top to bottom like GitHub's docs.
    """

    def _repo_scope(owner: str, repo: str) -> str:
        return f"repo:{require_repo_access(owner, repo)['id']}"

    def _org_scope(org: str) -> str:
        info = require_installation()
        installation = state().installations.get(info["installation_id"]) or {}
        if str(installation.get("account", {}).get("login", "")).lower() != org.lower():
            not_found()
        return f"org:{org.lower()}"

    def _generate(scope: str) -> Any:
        body = request.get_json(silent=True) or {}
        name, labels = body.get("name"), body.get("labels")
        if not name or not isinstance(labels, list) or not labels or not body.get("runner_group_id"):
            fail(422, "Invalid request.", errors=["name, labels and runner_group_id are required"])
        if any(r["name"] == name for r in _area()["runners"].get(scope, {}).values()):
            fail(409, f"Already exists - A runner with the name {name} already exists.")
        runner = _register(state(), scope, name, [str(label) for label in labels])
        config = base64.b64encode(f'{{"name": "{name}", "secret": "{secrets.token_hex(16)}"}}'.encode()).decode()
        _area()["jit"].append(config)
        return json_response({"runner": runner, "encoded_jit_config": config}, 201)

    def _list(scope: str) -> Any:
        runners = sorted(_area()["runners"].get(scope, {}).values(), key=lambda r: r["id"])
        if request.args.get("name"):
            runners = [r for r in runners if r["name"] == request.args["name"]]
        return json_response({"total_count": len(runners), "runners": page(runners)})

    def _delete(scope: str, runner_id: int) -> Any:
        runners = _area()["runners"].get(scope, {})
        runner = runners.get(runner_id)
        if runner is None:
            not_found()
        if runner["busy"]:
            fail(422, f'Bad request - Runner "{runner["name"]}" is still running a job"')
        del runners[runner_id]
        return "", 204

    @app.post("/repos/<owner>/<repo>/actions/runners/generate-jitconfig")
    def repo_generate_jitconfig(owner: str, repo: str) -> Any:
        return _generate(_repo_scope(owner, repo))

    @app.post("/orgs/<org>/actions/runners/generate-jitconfig")
    def org_generate_jitconfig(org: str) -> Any:
        return _generate(_org_scope(org))

    @app.get("/repos/<owner>/<repo>/actions/runners")
    def repo_list_runners(owner: str, repo: str) -> Any:
        return _list(_repo_scope(owner, repo))

    @app.get("/orgs/<org>/actions/runners")
    def org_list_runners(org: str) -> Any:
        return _list(_org_scope(org))

    @app.delete("/repos/<owner>/<repo>/actions/runners/<int:runner_id>")
    def repo_delete_runner(owner: str, repo: str, runner_id: int) -> Any:
        return _delete(_repo_scope(owner, repo), runner_id)

    @app.delete("/orgs/<org>/actions/runners/<int:runner_id>")
    def org_delete_runner(org: str, runner_id: int) -> Any:
        return _delete(_org_scope(org), runner_id)

    @app.get("/repos/<owner>/<repo>/actions/jobs/<int:job_id>")
    def get_job(owner: str, repo: str, job_id: int) -> Any:
        require_repo_access(owner, repo)
        job = _area()["jobs"].get(job_id)
        if job is None:
            not_found()
        return json_response(job)
