"""Sandbox mode's world: the GitHub simulator and moto on loopback, and the settings that point Gantry at them.

`start(base_url)` starts both, makes the sandbox organisation (the demo data's `gantry-demo`, with the
App installed on a few repositories) and the AWS side a runner pool needs, and answers the
settings a user would set to connect Gantry to a GitHub App and to AWS: base URLs, the App's id,
private key, OAuth client and webhook secret, the AWS endpoint and dummy credentials, and the ECS
launch defaults. The simulator sends its webhooks to Gantry's own intake, `<base_url>/webhooks/github`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from sandbox import aws
from sandbox.github import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_SECRET,
    FakeServer,
    FakeState,
    default_app,
    fake_app_private_key,
)
from sandbox.github import events as github_events
from sandbox.github.releases import make_history
from sandbox.runner import RunnerSimulator
from webapp.repos.demo import DEMO_INSTALLATION, DEMO_ORG, DEMO_REPOSITORIES

SANDBOX_USER = "octocat"
# The demo data's repositories (ids and names, so the seeded rows are what the simulator knows), and two more.
EXTRA_REPOSITORIES = [(900103, "engine"), (900104, "web-portal")]
WEBHOOK_PATH = "/webhooks/github"
HISTORY = ["Add the CI workflow", "Build on self-hosted runners", "Describe the release flow"]


def _files(name: str) -> dict[str, str]:
    return {"README.md": f"# {name}\n\nA repository of the sandbox organisation.\n",
            ".github/workflows/ci.yml": "on: push\njobs:\n  build:\n    runs-on: [self-hosted, linux, x64]\n"
                                        "    steps:\n      - run: make test\n"}


def sandbox_state(app: dict[str, Any]) -> FakeState:
    """The sandbox organisation: the App installed on every repository but webhook-manager; octocat admin of all."""
    state = FakeState()
    state.apps[app["id"]] = copy.deepcopy(app)
    demo: dict[str, Any] = DEMO_INSTALLATION
    org_id = demo["account"]["id"]
    installation = state.add_installation(demo["id"], DEMO_ORG, org_id)
    installation["permissions"] = {**installation["permissions"], **demo["permissions"]}
    installation["events"] = [*demo["events"], "workflow_run", "deployment"]
    repositories: list[tuple[Any, ...]] = [(data["id"], data["name"], data["private"], installed)
                                           for data, installed in DEMO_REPOSITORIES]
    repositories += [(repo_id, name, False, True) for repo_id, name in EXTRA_REPOSITORIES]
    state.add_user(SANDBOX_USER, 583231, orgs=[DEMO_ORG])
    for repo_id, name, private, installed in repositories:
        state.add_repository(repo_id, DEMO_ORG, name, private=private, owner_id=org_id,
                             installation_id=demo["id"] if installed else None)
        state.grant(SANDBOX_USER, repo_id, "admin")
    state.signing_in = SANDBOX_USER
    return state


def add_git_history(server: FakeServer) -> None:
    """Every sandbox repository gets a `main` branch: an initial commit with a README and a workflow, then HISTORY."""
    store = server.state.extra["git"]
    for repo in server.state.repositories.values():
        store.init_repo(DEMO_ORG, repo["name"], _files(repo["name"]))
        make_history(server, DEMO_ORG, repo["name"], HISTORY)


@dataclass
class Sandbox:
    """The running world; `settings` go into Gantry's environment."""

    github: FakeServer
    moto: Any
    aws: aws.AwsWorld
    settings: dict[str, str]
    runners: RunnerSimulator

    def stop(self) -> None:
        self.runners.stop()
        self.github.stop()
        self.moto.stop()


def github_settings(github_url: str, base_url: str) -> dict[str, str]:
    """The GitHub App settings of the simulator's App 1, and the simulator as GitHub's web and API URLs."""
    return {"GITHUB_URL": github_url, "GITHUB_API_URL": github_url, "GITHUB_APP_ID": str(DEFAULT_APP_ID),
            "GITHUB_APP_SLUG": str(default_app()["slug"]), "GITHUB_APP_PRIVATE_KEY": fake_app_private_key(),
            "GITHUB_CLIENT_ID": DEFAULT_CLIENT_ID, "GITHUB_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "GITHUB_WEBHOOK_SECRET": DEFAULT_WEBHOOK_SECRET, "BASE_URL": base_url}


def start(base_url: str, *, watch_runners: bool = True) -> Sandbox:
    """Start the GitHub simulator and moto, build both worlds, and answer Gantry's settings for them.

    With `watch_runners`, the runner simulator plays every ECS task Gantry starts (sandbox/runner.py);
    without, `sandbox.runners.step()` does it when called."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # both servers log every request otherwise
    app = default_app()
    github = FakeServer(lambda: sandbox_state(app))
    add_git_history(github)
    github.start()
    github_events.set_target(github.state, base_url.rstrip("/") + WEBHOOK_PATH)
    moto = aws.start_moto()
    try:
        world = aws.build_world(aws.moto_url(moto))
    except Exception:
        github.stop()
        moto.stop()
        raise
    settings = {**github_settings(github.url, base_url), **world.settings(), "SANDBOX": "1"}
    runners = RunnerSimulator(github, world)
    if watch_runners:
        runners.start()
    return Sandbox(github=github, moto=moto, aws=world, settings=settings, runners=runners)
