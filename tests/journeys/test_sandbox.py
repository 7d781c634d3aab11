"""The sandbox end to end, in Chromium, against the GitHub simulator, moto and the runner simulator as
`make run` starts them: a maintainer creates a pool and runs a workflow, a runner launches in ECS, takes
the job and finishes, and the pool's figures count it; a release is cut, published, promoted and
approved, and the Sandbox GitHub page shows its release, tag and deployment. A project syncs to Sandbox
GitHub, someone pushes a change to the same file there, the next sync stops on the conflict, and
"Overwrite" lands Gantry's version, each step visible on the Sandbox GitHub page."""

from __future__ import annotations

import functools
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


def _rows(page: Any, heading: str) -> list[list[str]]:
    """The cells of each row of the table in the page's section under `heading`."""
    section = page.locator("section", has=page.get_by_role("heading", name=heading, exact=True))
    return [row.locator("td").all_inner_texts() for row in section.locator("tbody tr").all()]


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
    rows = functools.partial(_rows, page)
    assert [(r[0], r[2]) for r in rows("Releases")] == [("v0.1.0", "published")]
    [(tag, tagged)] = rows("Tags")
    assert tag == "v0.1.0" and tagged == rows("Commits on main")[0][0]  # the branch's head, as cut
    [deployment] = rows("Deployments")
    assert (deployment[1], deployment[3], deployment[4]) == ("staging", tagged, "queued")


def _sync_status(journey: Journey, project_path: str) -> str:
    """The project's sync status as its page shows it (it names the commit the last sync made)."""
    journey.goto(project_path)
    return str(journey.page.locator("#sync-status").inner_text())


FIRST = 'module "network" {\n  source = "./network"\n  cidr   = "10.0.0.0/16"\n}\n'
ON_GITHUB = 'module "network" {\n  source = "./network"\n  cidr   = "10.1.0.0/16" # from sandbox github\n}\n'
IN_GANTRY = 'module "network" {\n  source = "./network"\n  cidr   = "10.2.0.0/16" # from gantry\n}\n'


def test_a_synced_file_pushed_to_on_sandbox_github_conflicts_and_overwrite_lands_gantrys_version(
        sandbox_journey: Journey, people: dict[str, str], sandbox_app: Flask) -> None:  # noqa: F811
    journey, page = sandbox_journey, sandbox_journey.page
    _sign_in(journey, people["author"])
    status = page.locator("#sync-status")

    def sync_now(message: str, outcome: str) -> None:
        page.get_by_label("Commit message").fill(message)
        page.get_by_role("button", name="Sync now").click()
        status.locator(".badge").get_by_text("queued").wait_for()
        _work(sandbox_app)
        status.locator(".badge").get_by_text(outcome).wait_for(timeout=7_000)  # polled every 2 s

    def edit_main_tf(content: str, notice: str) -> None:
        field(page, "Content").fill(content)
        page.get_by_role("button", name="Save").click()
        page.get_by_role("alert").get_by_text(notice).wait_for()
        page.get_by_role("link", name="← infra").click()
        page.wait_for_url(re.compile(r"/projects/\d+$"))

    def sandbox_github_file(path: str) -> str:
        """Open the Sandbox GitHub page on the branch's newest commit and show the file at `path`."""
        journey.goto(f"/sandbox/github?repo={REPO}")
        files = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Files at ")))
        files.get_by_role("link", name=path, exact=True).click()
        heading = page.locator("h2#sg-file")
        heading.wait_for()
        assert re.fullmatch(re.escape(path) + " at [0-9a-f]{7}", heading.inner_text())
        return str(page.get_by_label(f"Content of {path}").inner_text())

    journey.goto("/projects")
    field(page, "Name").fill("infra")
    field(page, "Repository").select_option(label=REPO)
    field(page, "Folder in the repository").fill("infra")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_path = page.url.removeprefix(journey.base_url)
    page.get_by_role("button", name="New file").click()
    field(page, "Path").fill("main.tf")
    edit_main_tf(FIRST, "Created.")
    sync_now("First network", "succeeded")

    assert sandbox_github_file("infra/main.tf") == FIRST
    [first, *_] = _rows(page, "Commits on main")
    files = [row[0] for row in _rows(page, "Files at " + first[0])]
    assert "infra/main.tf" in files and "README.md" in files  # the synced file beside what was there
    assert first[1].startswith("First network") and first[0] in _sync_status(journey, project_path)

    journey.goto(f"/repos/{REPO}")
    push = page.locator("form.sandbox-push")
    field(push, "File path").fill("infra/../main.tf")
    push.get_by_role("button", name="Push a commit").click()
    page.get_by_text("A path inside the repository").first.wait_for()  # said beside the field, nothing pushed
    assert field(push, "File path").get_attribute("aria-invalid") == "true"
    refused = [problem for problem in journey.problems if "422" in problem]
    assert len(refused) == 1  # the page answered 422, which Chromium logs: expected here
    journey.problems = [problem for problem in journey.problems if problem not in refused]
    field(push, "File path").fill("infra/main.tf")
    field(push, "Content").fill(ON_GITHUB)
    field(push, "Commit message").fill("Widen the network")
    push.get_by_role("button", name="Push a commit").click()
    page.get_by_role("status").get_by_text(re.compile(r"^Pushed [0-9a-f]{7} to main on Sandbox GitHub")).wait_for()
    _work(sandbox_app)  # the push webhook Sandbox GitHub sent
    assert sandbox_github_file("infra/main.tf") == ON_GITHUB

    journey.goto(project_path)
    page.get_by_role("link", name="main.tf").click()
    edit_main_tf(IN_GANTRY, "Saved.")
    sync_now("Move the network", "conflict")
    assert "1 conflict(s)" in status.inner_text()
    assert sandbox_github_file("infra/main.tf") == ON_GITHUB  # nothing overwritten

    journey.goto(project_path)
    status.get_by_role("link", name="review").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+$"))
    changed = page.locator("table.sync-diff tr.diff-replace")
    assert changed.count() == 1
    assert "from gantry" in changed.locator("td").nth(1).inner_text()
    assert "from sandbox github" in changed.locator("td").nth(3).inner_text()
    page.get_by_role("button", name="Overwrite").click()
    page.get_by_text("Choice recorded.").wait_for()
    _work(sandbox_app)  # the sync that settling the last conflict started

    assert sandbox_github_file("infra/main.tf") == IN_GANTRY
    messages = [row[1] for row in _rows(page, "Commits on main")]
    assert messages[0].startswith("Move the network")
    assert messages[1] == "Widen the network"  # the commit pushed on Sandbox GitHub stays in the history
    assert messages[2].startswith("First network")
    head = _rows(page, "Commits on main")[0][0]
    assert head in _sync_status(journey, project_path)  # the commit the resolved sync made
    assert page.locator("#sync-status .badge").inner_text() == "succeeded"
