"""The builds pages in a real browser: filters that follow typing into the URL, a build page that
updates itself while the build runs, charts on the dashboard, and no accessibility violations."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.journey


def _sign_in(journey: Any, username: str) -> None:
    journey.goto("/login")
    journey.page.get_by_label("Username").fill(username)
    journey.page.get_by_label("Password").fill(PASSWORD)
    journey.page.get_by_role("button", name="Sign in", exact=True).click()
    journey.page.wait_for_url(lambda url: "/login" not in url)
    journey.page.wait_for_load_state("networkidle")  # let the page finish (favicon) before moving on


@pytest.fixture
def two_builds(create_build: Any, client: Any, writer: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    running = create_build("rhel-sap-1042", platform="aws-govcloud")
    done = create_build("ubuntu-web-77", platform="azure", os_version="ubuntu-22.04", image_type="web-server")
    client.post(f"/api/v1/builds/{done['uuid']}/state", json={"state_code": 100}, headers=writer)
    client.post(f"/api/v1/builds/{running['uuid']}/failure", headers=writer,
                json={"error_message": "SSH timeout, retried", "component": "packer"})
    return running, done


def test_filters_follow_typing_and_the_build_page_updates_itself(journey: Any, make_user: Any, two_builds: Any,
                                                                 client: Any, writer: dict[str, str]) -> None:
    running, _ = two_builds
    _sign_in(journey, make_user("viewer").username)
    page = journey.page
    journey.goto("/builds")
    rows = page.locator("#build-results tbody tr")
    assert rows.count() == 2

    page.get_by_label("Search").fill("sap")
    page.wait_for_url(re.compile(r"/builds\?text=sap$"))
    assert rows.count() == 1 and "rhel-sap-1042" in rows.first.inner_text()

    page.get_by_label("Platform").select_option("azure")
    page.wait_for_url(re.compile(r"text=sap&platform=azure$"))
    page.get_by_text("No builds match these filters.").wait_for()

    page.get_by_label("Platform").select_option("")
    page.get_by_label("Search").fill("web")
    page.wait_for_url(re.compile(r"/builds\?text=web$"))
    page.get_by_text("ubuntu-web-77").wait_for()
    assert rows.count() == 1
    page.wait_for_load_state("networkidle")

    journey.goto(f"/builds/{running['uuid']}")
    assert page.locator("#build-live .figure").first.inner_text() == "10"
    client.post(f"/api/v1/builds/{running['uuid']}/state", json={"state_code": 25, "message": "AMI captured"},
                headers=writer)
    page.locator("#build-live").get_by_text("AMI captured").wait_for(timeout=8_000)  # polls every 5 s
    assert page.locator("#build-live .figure").first.inner_text() == "25"


def test_dashboard_draws_charts(journey: Any, make_user: Any, two_builds: Any) -> None:
    _sign_in(journey, make_user("viewer").username)
    journey.goto("/builds/dashboard")
    page = journey.page
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart rect.bar-succeeded").count() >= 1


def test_builds_pages_have_no_accessibility_violations(audit_page: Any, make_user: Any, two_builds: Any,
                                                       login_as: Any) -> None:
    running, _ = two_builds
    _sign_in(audit_page, make_user("admin").username)
    problems = {}
    for path in ("/builds", "/builds/dashboard", f"/builds/{running['uuid']}", "/admin/catalog"):
        audit_page.goto(path)
        violations = audit_page.accessibility_violations()
        if violations:
            problems[path] = violations
    assert problems == {}
