"""A maintainer previews, cuts and publishes a release and promotes it to dev; the deployer's
`deployment_status` webhooks move it on; production waits for another maintainer's approval; the
pipeline on the release page shows every state."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.github.releases import deployments_of, make_history, releases_of
from tests.journeys.conftest import INSTALLATION_ID, NAME, OWNER, REPO_ID, deliver, sign_in, sign_out
from tests.releases.helpers import environment
from tests.shared_data import webhook_payload

pytestmark = pytest.mark.journey


def _deployer_reports(server: str, github_deployment_id: int, state: str, environment_name: str) -> None:
    """The deployer (a CI job) tells GitHub how the deployment went; GitHub sends Gantry the webhook."""
    payload = webhook_payload("deployment_status", "created.with-installation")
    payload["deployment_status"].update({"state": state, "environment": environment_name,
                                         "description": f"{environment_name}: {state}"})
    payload["deployment"].update({"id": github_deployment_id, "environment": environment_name})
    payload["repository"].update({"id": REPO_ID, "name": NAME, "full_name": f"{OWNER}/{NAME}"})
    payload["installation"] = {"id": INSTALLATION_ID}
    deliver(server, "deployment_status", payload)


def test_publish_approve_and_promote_a_release(journey: Any, member: Any, fake_github: Any, run_jobs: Any,
                                               server: str) -> None:
    member("maintainer", username="author")
    member("maintainer", username="approver")
    make_history(fake_github, OWNER, NAME, ["feat(ui): dark mode", "fix: crash on start"])
    dev_id = environment("dev", 0).id
    production_id = environment("production", 1, required_approvals=1).id
    page = journey.page

    sign_in(journey, "author")
    journey.goto(f"/repos/{REPO_ID}/releases")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    preview.wait_for()
    assert "v0.1.0" in preview.inner_text() and "dark mode" in preview.inner_text()
    assert not fake_github.calls("POST", r"^/repos/")  # a preview writes nothing
    page.get_by_role("button", name=re.compile(r"^Cut 0\.1\.0")).click()
    page.wait_for_url(re.compile(r"/releases/\d+$"))
    publishing = page.locator("#publishing")
    assert publishing.locator(".badge").inner_text() == "draft"

    page.get_by_role("button", name="Publish to GitHub").click()
    publishing.get_by_text("publishing", exact=True).wait_for()
    run_jobs()
    publishing.get_by_text("published", exact=True).wait_for(timeout=9_000)  # polled every 3 s
    assert [r["tag_name"] for r in releases_of(fake_github, OWNER, NAME)] == ["v0.1.0"]

    dev = page.locator(f"#stage-{dev_id}")
    production = page.locator(f"#stage-{production_id}")
    assert production.get_by_role("button").count() == 0  # dev comes first
    dev.get_by_role("button", name="Promote to dev").click()
    dev.locator(".badge").get_by_text("queued").wait_for()
    run_jobs()  # mirrored to a GitHub Deployment
    [github_dev] = deployments_of(fake_github, OWNER, NAME)
    assert github_dev["environment"] == "dev"
    _deployer_reports(server, github_dev["id"], "success", "dev")
    run_jobs()
    dev.locator(".badge").get_by_text("succeeded").wait_for(timeout=12_000)  # the pipeline polls every 5 s

    production.get_by_role("button", name="Promote to production").click()
    production.locator(".badge").get_by_text("pending approval").wait_for()
    assert "Approvals 0 / 1" in production.inner_text()
    assert production.get_by_role("button", name="Approve").count() == 0  # never the release's author

    release_path = journey.page.url.removeprefix(journey.base_url)
    sign_out(journey)
    sign_in(journey, "approver")
    journey.goto(release_path)
    production.get_by_label("Approval comment").fill("Checked on dev")
    production.get_by_role("button", name="Approve").click()
    production.locator(".badge").get_by_text("queued").wait_for()
    assert "Approvals 1 / 1: approver" in production.inner_text()
    run_jobs()
    github_production = next(d for d in deployments_of(fake_github, OWNER, NAME) if d["environment"] == "production")
    _deployer_reports(server, github_production["id"], "in_progress", "production")
    run_jobs()
    page.reload()
    assert production.locator(".badge").first.inner_text() == "in progress"
    _deployer_reports(server, github_production["id"], "success", "production")
    run_jobs()
    page.reload()
    assert production.locator(".badge").first.inner_text() == "succeeded"
    assert dev.locator(".badge").first.inner_text() == "succeeded"
    assert "card-ok" in (production.get_attribute("class") or "")
