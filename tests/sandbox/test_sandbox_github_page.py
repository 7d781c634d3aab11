"""The "Sandbox GitHub" page: the simulator's side of a repository, read through GitHub's API as the App."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from sandbox import world as sandbox_world
from sandbox.github import actions, events, pushes
from tests.conftest import Browser

PAGE = "/sandbox/github"
REPO = "gantry-demo/engine"
INSTALLATION = 900001


def _as_the_app(app: Flask, method: str, path: str, body: dict[str, Any]) -> Any:
    from webapp.integrations.github import github

    with app.app_context():
        return github().installation_request(INSTALLATION, method, path, json=body)


def _section(page: str, heading_id: str) -> str:
    """The HTML of one <section> of the page, by its heading's id."""
    match = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    assert match, heading_id
    return match.group(1)


def test_commits_files_releases_tags_deployments_and_runners_are_shown(
        signed_in: Callable[..., Browser], sandbox: sandbox_world.Sandbox, sandbox_app: Flask) -> None:
    state = sandbox.github.state
    events.set_target(state, None)
    first = pushes.push_file(state, REPO, "docs/notes.md", "# Notes\n", "Add the notes")["after"]
    second = pushes.push_file(state, REPO, "deploy/app.tf", "resource {}\n", "Describe the app")["after"]
    base = f"/repos/{REPO}"
    _as_the_app(sandbox_app, "POST", f"{base}/releases", {"tag_name": "v1.4.0", "target_commitish": first,
                                                        "name": "Engine 1.4.0"})
    deployment = _as_the_app(sandbox_app, "POST", f"{base}/deployments", {"ref": "v1.4.0", "environment": "staging"})
    for status in ("in_progress", "success"):
        _as_the_app(sandbox_app, "POST", f"{base}/deployments/{deployment['id']}/statuses", {"state": status})
    actions.add_runner(state, "repo:900103", "gantry-linux-7", status="online", busy=True)
    actions.add_runner(state, "org:gantry-demo", "gantry-gpu-2", status="offline")

    browser = signed_in("viewer", "read")
    answer = browser.get(f"{PAGE}?repo={REPO}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    commits = _section(page, "sg-commits")
    order = [commits.index(m) for m in ("Describe the app", "Add the notes", "Describe the release flow",
                                        "Initial commit")]
    assert order == sorted(order)  # newest first
    assert f"<code>{second[:7]}</code>" in commits and 'aria-current="true"' in commits
    files = _section(page, "sg-files")
    assert "<code>deploy/app.tf</code>" in files and "<code>docs/notes.md</code>" in files
    assert "<code>README.md</code>" in files and f"Files at <code>{second[:7]}</code>" in page
    releases = _section(page, "sg-releases")
    assert "<code>v1.4.0</code>" in releases and "Engine 1.4.0" in releases and "published" in releases
    assert f"<code>{first[:7]}</code>" in _section(page, "sg-tags")
    deployments = _section(page, "sg-deployments")
    assert str(deployment["id"]) in deployments and "staging" in deployments
    assert 'badge-ok">success' in deployments and "success ← in_progress" in deployments
    runners = _section(page, "sg-runners")
    assert "<code>gantry-linux-7</code>" in runners and "<code>gantry-gpu-2</code>" in runners
    assert "gantry-demo/engine" in runners and 'badge-running">busy' in runners

    older = browser.get(f"{PAGE}?repo={REPO}&commit={first}").get_data(as_text=True)
    assert f"Files at <code>{first[:7]}</code>" in older
    assert "<code>docs/notes.md</code>" in _section(older, "sg-files")
    assert "deploy/app.tf" not in _section(older, "sg-files")


def test_a_files_content_is_shown_at_the_chosen_commit(signed_in: Callable[..., Browser],
                                                       sandbox: sandbox_world.Sandbox) -> None:
    state = sandbox.github.state
    events.set_target(state, None)
    first = pushes.push_file(state, REPO, "infra/main.tf", 'cidr = "10.0.0.0/16" # <first>\n', "Network")["after"]
    second = pushes.push_file(state, REPO, "infra/main.tf", 'cidr = "10.1.0.0/16"\n', "Widen it")["after"]
    browser = signed_in("viewer", "read")

    page = browser.get(f"{PAGE}?repo={REPO}").get_data(as_text=True)
    link = f'href="{PAGE}?repo={REPO}&amp;branch=main&amp;commit={second}&amp;file=infra/main.tf#sg-file"'
    assert link in _section(page, "sg-files")  # each listed file links to its content
    assert 'id="sg-file"' not in page  # none is shown until one is chosen

    newest = browser.get(f"{PAGE}?repo={REPO}&file=infra/main.tf").get_data(as_text=True)
    shown = _section(newest, "sg-file")
    assert f"<code>infra/main.tf</code> at <code>{second[:7]}</code>" in shown
    assert '<code>cidr = &#34;10.1.0.0/16&#34;\n</code></pre>' in shown
    assert 'aria-current="true" class="current">\n      <td><code>infra/main.tf</code>' in _section(newest, "sg-files")

    older = _section(browser.get(f"{PAGE}?repo={REPO}&commit={first}&file=infra/main.tf").get_data(as_text=True),
                     "sg-file")
    assert f"at <code>{first[:7]}</code>" in older
    assert "# &lt;first&gt;" in older  # the content is escaped, not rendered


def test_a_file_not_in_the_commit_or_not_text_is_said(signed_in: Callable[..., Browser],
                                                      sandbox: sandbox_world.Sandbox) -> None:
    sandbox.github.state.extra["git"].commit_files("gantry-demo", "engine", {"logo.png": b"\x89PNG\r\n\x1a\n\xff\x00"},
                                                   message="Add the logo")
    browser = signed_in("viewer", "read")

    missing = browser.get(f"{PAGE}?repo={REPO}&file=infra/nowhere.tf")
    assert missing.status_code == 200
    page = missing.get_data(as_text=True)
    assert "There is no file infra/nowhere.tf at" in page and 'id="sg-file"' not in page
    assert "<code>README.md</code>" in _section(page, "sg-files")

    binary = _section(browser.get(f"{PAGE}?repo={REPO}&file=logo.png").get_data(as_text=True), "sg-file")
    assert "10 B" in binary and "Not UTF-8 text: the content is not shown." in binary and "<pre" not in binary


def test_a_bad_commit_is_said_and_the_branch_head_shown(signed_in: Callable[..., Browser]) -> None:
    page = signed_in("viewer", "read").get(f"{PAGE}?repo={REPO}&commit=not-a-sha").get_data(as_text=True)
    assert "A commit is 7 to 40 hexadecimal characters" in page
    assert "<code>README.md</code>" in _section(page, "sg-files")


def test_the_nav_links_to_it_in_sandbox_mode_and_other_repositories_are_chosen(
        signed_in: Callable[..., Browser]) -> None:
    browser = signed_in("viewer", "read")
    home = browser.get("/").get_data(as_text=True)
    assert f'href="{PAGE}"' in home and "Sandbox GitHub" in home
    page = browser.get(PAGE).get_data(as_text=True)
    assert '<option value="gantry-demo/engine" selected>' in page  # the only repository this viewer may see
    assert browser.get(f"{PAGE}?repo=gantry-demo/web-portal").status_code == 404  # not visible to them


def test_outside_sandbox_mode_there_is_no_page_and_no_link(app: Flask, login_as: Callable[..., Any],
                                                            client: Any) -> None:
    login_as("admin")
    assert client.get(PAGE).status_code == 404
    assert f'href="{PAGE}"' not in client.get("/").get_data(as_text=True)


def test_the_page_fits_a_laptop_a_small_laptop_and_a_phone(browser_engine: Any, live_gantry: str,
                                                            signed_in: Callable[..., Browser],
                                                            make_user: Callable[..., Any],
                                                            sandbox: sandbox_world.Sandbox) -> None:
    from tests.conftest import PASSWORD
    from tests.journeys.browser import open_journey

    path = "infra/modules/network/a-rather-long-file-name-for-a-phone.tf"
    pushes.push_file(sandbox.github.state, REPO, path, "variable {}\n" + "# a line far wider than a phone " * 8 + "\n",
                     "A commit whose message is long enough to need wrapping on a phone screen")
    signed_in("viewer")  # seeds the demo repositories
    admin = make_user("admin")
    for label, (width, height) in {"laptop": (1366, 900), "small-laptop": (1024, 768), "phone": (390, 844)}.items():
        with open_journey(browser_engine, live_gantry, f"sandbox-github-{label}", width, height) as journey:
            journey.sign_in(admin.username, PASSWORD)
            journey.goto(f"{PAGE}?repo={REPO}&file={path}")
            assert journey.page.get_by_role("heading", name="Sandbox GitHub", exact=True).is_visible()
            assert journey.page.get_by_label(f"Content of {path}").is_visible()
            overflow = journey.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{label}: the page is {overflow}px wider than the window"
