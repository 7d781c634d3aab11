"""A maintainer makes a project, writes a file and syncs it to GitHub; someone changes the same file
on GitHub while it changes in Gantry; the next sync stops on the conflict, shows both versions side by
side, and "Overwrite" lands Gantry's version on the branch."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.github.git import git_store
from tests.journeys.conftest import NAME, OWNER, field, sign_in

pytestmark = pytest.mark.journey

FIRST = 'module "network" {\n  source = "./network"\n  cidr   = "10.0.0.0/16"\n}\n'
ON_GITHUB = 'module "network" {\n  source = "./network"\n  cidr   = "10.1.0.0/16" # from github\n}\n'
IN_GANTRY = 'module "network" {\n  source = "./network"\n  cidr   = "10.2.0.0/16" # from gantry\n}\n'


def test_sync_conflict_shown_side_by_side_and_overwritten(journey: Any, member: Any, fake_github: Any,
                                                           run_jobs: Any) -> None:
    git = git_store(fake_github)
    git.init_repo(OWNER, NAME, {"README.md": "# infrajet\n"})
    sign_in(journey, member("maintainer").username)
    page = journey.page
    status = page.locator("#sync-status")

    def sync_now(message: str) -> None:
        page.get_by_label("Commit message").fill(message)
        page.get_by_role("button", name="Sync now").click()
        status.locator(".badge").get_by_text("queued").wait_for()
        assert status.get_by_role("button", name="Sync now").is_disabled()
        run_jobs()

    def edit_main_tf(content: str, notice: str) -> None:
        page.get_by_label("Content").fill(content)
        page.get_by_role("button", name="Save").click()
        page.get_by_role("alert").get_by_text(notice).wait_for()
        page.get_by_role("link", name="← infra").click()
        page.wait_for_url(re.compile(r"/projects/\d+$"))

    journey.goto("/projects")
    field(page, "Name").fill("infra")
    field(page, "Repository").select_option(label=f"{OWNER}/{NAME}")
    field(page, "Folder in the repository").fill("infra")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    assert status.locator(".badge").inner_text() == "never synced"

    page.get_by_role("button", name="New file").click()  # a link styled as a button
    field(page, "Path").fill("main.tf")
    edit_main_tf(FIRST, "Created.")
    sync_now("First network")
    status.locator(".badge").get_by_text("succeeded").wait_for(timeout=7_000)  # polled every 2 s
    first_head = git.head(OWNER, NAME)
    assert first_head.message.startswith("First network")
    assert git.files(OWNER, NAME)["infra/main.tf"][0] == FIRST.encode()
    assert first_head.sha[:10] in status.inner_text()

    git.commit_files(OWNER, NAME, {"infra/main.tf": ON_GITHUB}, message="Widen the network")
    page.get_by_role("link", name="main.tf").click()
    edit_main_tf(IN_GANTRY, "Saved.")
    sync_now("Move the network")
    status.locator(".badge").get_by_text("conflict").wait_for(timeout=7_000)
    assert "1 conflict(s)" in status.inner_text()
    assert git.files(OWNER, NAME)["infra/main.tf"][0] == ON_GITHUB.encode()  # nothing overwritten

    status.get_by_role("link", name="review").click()
    page.wait_for_url(re.compile(r"/sync/runs/\d+$"))
    diff = page.locator("table.sync-diff")
    changed = diff.locator("tr.diff-replace")
    assert changed.count() == 1
    assert "from gantry" in changed.locator("td").nth(1).inner_text()
    assert "from github" in changed.locator("td").nth(3).inner_text()
    assert diff.locator("tbody tr").count() >= 3  # unchanged lines around the change

    page.get_by_role("button", name="Overwrite").click()
    page.get_by_text("Choice recorded.").wait_for()
    assert page.locator("table.sync-diff").count() == 0
    run_jobs()  # the sync that settling the last conflict started
    head = git.head(OWNER, NAME)
    assert git.files(OWNER, NAME)["infra/main.tf"][0] == IN_GANTRY.encode()
    assert head.message.startswith("Move the network") and head.sha != first_head.sha
    assert git.history(OWNER, NAME)[1].message == "Widen the network"  # GitHub's commit kept in history

    page.get_by_role("link", name="← infra").click()
    assert status.locator(".badge").inner_text() == "succeeded"
    assert head.sha[:10] in status.inner_text()
