"""The sandbox end to end, in Chromium, against the GitHub simulator, moto and the runner simulator as
`make run` starts them: a maintainer creates a pool and runs a workflow, a runner launches in ECS, takes
the job and finishes, and the pool's figures count it; a release is cut, published, promoted and
approved, and the Sandbox GitHub page shows its release, tag and deployment."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from sandbox import world as sandbox_world
from tests.conftest import PASSWORD
from tests.journeys.browser import Journey, open_journey
from tests.journeys.conftest import field, sign_out
from tests.sandbox.conftest import build_app, live_gantry, sandbox, sandbox_app  # noqa: F401  (fixtures)

pytestmark = pytest.mark.journey

REPO, REPO_ID = "gantry-demo/engine", 900103
LABELS = "self-hosted, linux, x64"


@pytest.fixture
def sandbox_journey(browser_engine: Any, live_gantry: str, request: pytest.FixtureRequest) -> Iterator[Journey]:  # noqa: F811
    """A browser page on the sandbox app (served with the simulator's webhooks pointed at it)."""
    with open_journey(browser_engine, live_gantry, request.node.name) as opened:
        yield opened


@pytest.fixture
def people(sandbox_app: Flask, make_user: Callable[..., Any]) -> dict[str, str]:  # noqa: F811
    """The demo repositories, and two maintainers who may write to gantry-demo/engine."""
    from webapp.extensions import db
    from webapp.releases.models import Environment
    from webapp.repos.demo import seed_repositories
    from webapp.repos.models import RepositoryAccess

    names = {}
    with sandbox_app.app_context():
        seed_repositories(None)
        for role in ("author", "approver"):
            user = make_user("maintainer", username=role)
            db.session.add(RepositoryAccess(user_id=user.id, repository_id=REPO_ID, permission="write"))
            names[role] = user.username
        db.session.add(Environment(repository_id=REPO_ID, name="staging", position=0, required_approvals=1))
        db.session.commit()
        db.session.remove()
    return names


def _work(app: Flask) -> int:
    """Gantry's worker: every queued job, in the sandbox app's context."""
    from webapp.core.rq_worker import run_jobs_now

    with app.app_context():
        return run_jobs_now(app)


def _sign_in(journey: Journey, username: str) -> None:
    journey.sign_in(username, PASSWORD)
    journey.page.wait_for_load_state("networkidle")


def test_a_workflow_runs_on_a_launched_runner_and_a_release_reaches_sandbox_github(
        sandbox_journey: Journey, people: dict[str, str], sandbox: sandbox_world.Sandbox,  # noqa: F811
        sandbox_app: Flask) -> None:  # noqa: F811
    journey, page, world = sandbox_journey, sandbox_journey.page, sandbox.aws
    sandbox.runners.job_seconds = 1
    _sign_in(journey, people["author"])

    journey.goto("/runners/")
    page.get_by_role("button", name="New pool").click()
    page.get_by_label("Repository or organisation").select_option(label=REPO)
    field(page, "Name").fill("sandbox")
    field(page, "Labels").fill(LABELS)
    field(page, "Cap (max runners alive)").fill("2")
    for label, value in (("Region", world.region), ("Cluster", world.cluster),
                         ("Task definition", world.task_definition), ("Runner container", "runner"),
                         ("Subnets", world.subnet_id), ("Security groups", world.security_group_id)):
        field(page, label).fill(value)
    page.get_by_role("button", name="Create pool").click()
    page.wait_for_url(re.compile(r"/runners/pools/\d+$"))
    pool_path = page.url.removeprefix(journey.base_url)

    journey.goto(f"/repos/{REPO}")
    page.get_by_label("Runner labels").fill(LABELS)
    page.get_by_role("button", name="Run a workflow").click()
    page.get_by_text("Sandbox GitHub queued job").wait_for()
    assert _work(sandbox_app) >= 2  # the queued delivery, then the launch it asked for
    running = world.ecs.list_tasks(cluster=world.cluster, desiredStatus="RUNNING")["taskArns"]
    assert len(running) == 1
    assert sandbox.runners.step() == 1  # the container reads its JIT config, takes the job, runs it, stops
    _work(sandbox_app)  # in_progress, then completed

    journey.goto(pool_path)
    live = page.locator("#pool-live")
    assert live.locator("#count-finished").inner_text() == "1"
    assert page.get_by_text("1 job(s), average wait").is_visible()
    usage = page.get_by_role("table").filter(has_text="Runner-hours")
    assert REPO in usage.inner_text()
    task = world.ecs.describe_tasks(cluster=world.cluster, tasks=running)["tasks"][0]
    assert task["lastStatus"] == "STOPPED"

    journey.goto(f"/repos/{REPO_ID}/releases")
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview").wait_for()
    assert "Describe the release flow" in page.locator("#preview").inner_text()
    page.get_by_role("button", name=re.compile(r"^Cut 0\.1\.0")).click()
    page.wait_for_url(re.compile(r"/releases/\d+$"))
    release_path = page.url.removeprefix(journey.base_url)
    publishing = page.locator("#publishing")
    page.get_by_role("button", name="Publish to GitHub").click()
    publishing.get_by_text("publishing", exact=True).wait_for()
    _work(sandbox_app)
    publishing.get_by_text("published", exact=True).wait_for(timeout=9_000)  # polled every 3 s
    staging = page.locator(".stage", has_text="staging")
    staging.get_by_role("button", name="Promote to staging").click()
    staging.locator(".badge").get_by_text("pending approval").wait_for()

    sign_out(journey)
    _sign_in(journey, people["approver"])
    journey.goto(release_path)
    staging.get_by_label("Approval comment").fill("Looks right")
    staging.get_by_role("button", name="Approve").click()
    staging.locator(".badge").get_by_text("queued").wait_for()
    _work(sandbox_app)  # the deployment is mirrored to Sandbox GitHub

    journey.goto(f"/sandbox/github?repo={REPO}")
    def rows(heading: str) -> list[list[str]]:
        section = page.locator("section", has=page.get_by_role("heading", name=heading, exact=True))
        return [row.locator("td").all_inner_texts() for row in section.locator("tbody tr").all()]

    assert [(r[0], r[2]) for r in rows("Releases")] == [("v0.1.0", "published")]
    [(tag, tagged)] = rows("Tags")
    assert tag == "v0.1.0" and tagged == rows("Commits on main")[0][0]  # the branch's head, as cut
    [deployment] = rows("Deployments")
    assert (deployment[1], deployment[3], deployment[4]) == ("staging", tagged, "queued")
