"""'Push a commit' on a sandbox repository's page: a real commit on the simulator, and the push webhook Gantry keeps."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sandbox import world as sandbox_world
from sandbox.github import events
from tests.conftest import Browser

PAGE = "/repos/gantry-demo/engine"
ACTION = PAGE + "/sandbox/push"


def _git(sandbox: sandbox_world.Sandbox) -> Any:
    return sandbox.github.state.extra["git"]


def _blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def test_a_maintainer_pushes_a_commit_and_gantry_stores_the_push_webhook(
        signed_in: Callable[..., Browser], sandbox: sandbox_world.Sandbox, sandbox_app: Flask,
        live_gantry: str) -> None:
    from webapp.core.audit import AuditEvent
    from webapp.extensions import db
    from webapp.webhooks.models import WebhookDelivery

    before = _git(sandbox).head("gantry-demo", "engine")
    browser = signed_in("maintainer")
    page = browser.get(PAGE).get_data(as_text=True)
    assert "Push a commit" in page and 'name="csrf_token"' in page
    answer = browser.post(ACTION, {"path": "docs/notes.md", "content": "# Notes\r\nline two\r\n",
                                   "message": "Add the notes"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(PAGE)

    head = _git(sandbox).head("gantry-demo", "engine")
    assert head.parents == [before.sha] and head.message == "Add the notes"
    assert head.author["name"].startswith("maintainer")
    files = _git(sandbox).files("gantry-demo", "engine")
    assert files["docs/notes.md"] == (b"# Notes\nline two\n", "100644")
    repo = _git(sandbox).repo("gantry-demo", "engine")
    assert _blob_sha(b"# Notes\nline two\n") in repo.blobs and set(files) >= {"README.md", "docs/notes.md"}
    assert events.sent(sandbox.github.state)[-1] | {"guid": None} == {
        "event": "push", "action": None, "guid": None, "status": 202}
    shown = browser.get(PAGE).get_data(as_text=True)
    assert f"Pushed {head.sha[:7]} to main on Sandbox GitHub" in shown
    assert "Add the notes" in shown  # the repository's recent commits, read from the simulator, newest first

    with sandbox_app.app_context():
        delivery = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.event == "push")).one()
        payload = delivery.payload
        audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sandbox.push")).one()
        assert (audit.details["path"], audit.details["after"]) == ("docs/notes.md", head.sha)
        db.session.remove()
    assert delivery.installation_id == 900001 and delivery.repository_id == 900103
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", before.sha, head.sha)
    assert payload["head_commit"]["id"] == head.sha and payload["head_commit"]["tree_id"] == head.tree
    assert payload["head_commit"]["added"] == ["docs/notes.md"] and payload["head_commit"]["modified"] == []
    assert payload["repository"]["full_name"] == "gantry-demo/engine"
    assert payload["organization"]["login"] == "gantry-demo" and not payload["forced"]


def test_changing_a_file_that_exists_is_a_modification(signed_in: Callable[..., Browser],
                                                       sandbox: sandbox_world.Sandbox, live_gantry: str,
                                                       sandbox_app: Flask) -> None:
    from webapp.extensions import db
    from webapp.webhooks.models import WebhookDelivery

    browser = signed_in("admin")
    assert browser.post(ACTION, {"path": "README.md", "content": "# engine\n", "message": "Shorter"}).status_code == 302
    assert _git(sandbox).files("gantry-demo", "engine")["README.md"][0] == b"# engine\n"
    with sandbox_app.app_context():
        payload = db.session.scalars(select(WebhookDelivery.payload).where(WebhookDelivery.event == "push")).one()
        db.session.remove()
    assert (payload["head_commit"]["added"], payload["head_commit"]["modified"]) == ([], ["README.md"])


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"path": "", "content": "x", "message": "m"}, "path", "Name the file to change"),
    ({"path": "../etc/passwd", "content": "x", "message": "m"}, "path", "A path inside the repository"),
    ({"path": "/abs.txt", "content": "x", "message": "m"}, "path", "A path inside the repository"),
    ({"path": ".git/config", "content": "x", "message": "m"}, "path", "A path inside the repository"),
    ({"path": "a.txt", "content": "x", "message": "  "}, "message", "Say what the commit changes."),
    ({"path": "a.txt", "content": "x" * 100_001, "message": "m"}, "content", "At most 100 kB."),
])
def test_bad_input_is_said_next_to_its_field_and_pushes_nothing(signed_in: Callable[..., Browser],
                                                                sandbox: sandbox_world.Sandbox,
                                                                form: dict[str, str], field: str,
                                                                message: str) -> None:
    head = _git(sandbox).head("gantry-demo", "engine").sha
    browser = signed_in("maintainer")
    answer = browser.post(ACTION, form)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert f'id="f-{field}-error">{message}' in page
    assert 'aria-invalid="true"' in page
    if form["path"] and field != "path":
        assert f'value="{form["path"]}"' in page  # what was typed stays
    assert _git(sandbox).head("gantry-demo", "engine").sha == head


def test_read_access_viewers_and_missing_csrf_push_nothing(signed_in: Callable[..., Browser],
                                                           sandbox: sandbox_world.Sandbox) -> None:
    head = _git(sandbox).head("gantry-demo", "engine").sha
    form = {"path": "a.txt", "content": "x", "message": "m"}
    reader = signed_in("maintainer", "read")
    assert "Push a commit" not in reader.get(PAGE).get_data(as_text=True)
    assert reader.post(ACTION, form).status_code == 302
    assert "Pushing a commit needs write access" in reader.get(PAGE).get_data(as_text=True)
    viewer = signed_in("viewer")
    assert "Push a commit" not in viewer.get(PAGE).get_data(as_text=True)
    assert viewer.post(ACTION, form).status_code == 403
    assert signed_in("maintainer").client.post(ACTION, data=form).status_code == 400
    assert _git(sandbox).head("gantry-demo", "engine").sha == head


def test_outside_sandbox_mode_there_is_no_such_action(app: Flask, login_as: Callable[..., Any], client: Any) -> None:
    login_as("admin")
    assert Browser(client).post(ACTION, {"path": "a.txt", "content": "x", "message": "m"}).status_code == 404


def test_the_simulators_door_takes_only_the_apps_jwt_and_refuses_what_git_would(
        sandbox_app: Flask, sandbox: sandbox_world.Sandbox) -> None:
    import httpx

    from webapp.integrations.github import GitHubError, github

    door = "/_sandbox/repos/gantry-demo/engine/pushes"
    body = {"path": "a.txt", "content": "x", "message": "m"}
    assert httpx.post(sandbox.github.url + door, json=body).status_code == 401
    head = _git(sandbox).head("gantry-demo", "engine").sha
    with sandbox_app.app_context():
        for bad in ({**body, "path": "a/../b"}, {**body, "path": ".github"}, {**body, "message": ""}):
            with pytest.raises(GitHubError) as refused:
                github().app_request("POST", door, json=bad)
            assert refused.value.status == 422
    assert _git(sandbox).head("gantry-demo", "engine").sha == head
