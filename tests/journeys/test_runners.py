"""A maintainer creates a runner pool in the editor; GitHub queues a job for its labels; the pool page
shows the runner launch on ECS (moto), take the job and finish, without a reload."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.journeys.conftest import REPO_ID, deliver, field, sign_in
from tests.runners.conftest import new_job_id, workflow_job

pytestmark = pytest.mark.journey

LABELS = ["self-hosted", "linux", "x64-journey"]


def test_pool_editor_queued_job_runner_launches_and_finishes(journey: Any, member: Any, fake_aws: Any,
                                                             fake_github: Any, run_jobs: Any, server: str) -> None:
    sign_in(journey, member("maintainer").username)
    page = journey.page

    journey.goto("/runners/")
    page.get_by_role("button", name="New pool").click()  # a link styled as a button
    page.get_by_label("Repository or organisation").select_option(label="acme/infrajet")
    field(page, "Name").fill("journey")
    field(page, "Labels").fill(", ".join(LABELS))
    field(page, "Cap (max runners alive)").fill("2")
    field(page, "Region").fill(fake_aws.region)
    field(page, "Cluster").fill(fake_aws.cluster)
    field(page, "Task definition").fill(fake_aws.task_definition)
    field(page, "Runner container").fill(fake_aws.container)
    field(page, "Subnets").fill(fake_aws.subnet_id)
    field(page, "Security groups").fill(fake_aws.security_group_id)
    page.get_by_role("button", name="Create pool").click()
    page.wait_for_url(re.compile(r"/runners/pools/\d+$"))
    assert page.get_by_role("heading", name="Pool journey").is_visible()
    assert page.get_by_text("Pool journey created.").is_visible()
    live = page.locator("#pool-live")
    assert live.get_by_text("No runner alive.").is_visible()

    job_id = new_job_id()
    deliver(server, "workflow_job", workflow_job("queued", job_id, labels=LABELS, repo_id=REPO_ID))
    assert run_jobs() >= 2  # the delivery, then the launch it queued
    [task_arn] = fake_aws.running_tasks()

    # the pool page polls every 5 s: the runner appears without a reload, with its ECS task
    runner_row = live.locator("tbody tr[id^=runner-]")
    runner_row.wait_for(timeout=12_000)  # polled every 5 s; a busy machine gets some slack
    assert runner_row.locator(".badge").inner_text() == "launching"
    assert task_arn.rsplit("/", 1)[-1][:12] in runner_row.inner_text()
    runner_name = runner_row.get_by_role("link").inner_text()
    assert runner_name.startswith("gantry-journey-")
    assert live.locator("#count-launching").inner_text() == "1"

    deliver(server, "workflow_job", workflow_job("in_progress", job_id, labels=LABELS, repo_id=REPO_ID,
                                                 runner_name=runner_name))
    run_jobs()
    page.reload()
    assert runner_row.locator(".badge").inner_text() == "busy"
    assert live.locator("#count-busy").inner_text() == "1"

    deliver(server, "workflow_job", workflow_job("completed", job_id, labels=LABELS, repo_id=REPO_ID,
                                                 runner_name=runner_name))
    run_jobs()
    live.get_by_text("No runner alive.").wait_for(timeout=12_000)
    assert live.locator("#count-finished").inner_text() == "1"
    assert live.get_by_text("No job waiting.").is_visible()

    page.reload()
    recent = page.locator("li", has=page.get_by_role("link", name=runner_name))
    assert "finished" in recent.inner_text()
    page.get_by_role("link", name=runner_name).click()
    page.get_by_role("heading", name=runner_name).wait_for()
    assert task_arn in page.content()
    timeline = [kind.inner_text() for kind in page.locator(".timeline li strong").all()]
    assert timeline == ["requested", "launching", "busy", "finished"]
