"""'Run a workflow' on a sandbox repository's page: maintainers and admins, CSRF, sandbox mode only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sandbox import world as sandbox_world
from sandbox.github import events
from tests.conftest import Browser

PAGE = "/repos/gantry-demo/engine"
ACTION = PAGE + "/sandbox/run-workflow"


@pytest.fixture
def queued(sandbox: sandbox_world.Sandbox) -> Iterator[list[dict[str, Any]]]:
    """The simulator's queue of workflow jobs (no webhooks sent: no Gantry listens in these tests)."""
    state = sandbox.github.state
    events.set_target(state, None)
    queue: list[dict[str, Any]] = state.extra["jobs"]["queued"]
    queue.clear()
    yield queue
    queue.clear()


def test_read_access_is_not_enough(signed_in: Callable[..., Browser], queued: list[dict[str, Any]]) -> None:
    browser = signed_in("maintainer", "read")
    assert "Run a workflow" not in browser.get(PAGE).get_data(as_text=True)
    assert browser.post(ACTION, {"labels": "linux", "outcome": "success"}).status_code == 302
    assert "needs write access" in browser.get(PAGE).get_data(as_text=True)
    assert queued == []


def test_a_maintainer_runs_a_workflow_and_the_simulator_queues_it(signed_in: Callable[..., Browser],
                                                                  queued: list[dict[str, Any]],
                                                                  sandbox_app: Flask) -> None:
    from webapp.core.audit import AuditEvent
    from webapp.extensions import db

    browser = signed_in("maintainer")
    page = browser.get(PAGE).get_data(as_text=True)
    assert "Run a workflow" in page and 'name="csrf_token"' in page
    answer = browser.post(ACTION, {"labels": "self-hosted, linux gpu", "outcome": "failure"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(PAGE)
    assert [(r["job"]["labels"], r["outcome"], r["job"]["status"]) for r in queued] == [
        (["self-hosted", "linux", "gpu"], "failure", "queued")]
    assert "Sandbox GitHub queued job" in browser.get(PAGE).get_data(as_text=True)
    with sandbox_app.app_context():
        audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sandbox.workflow_run")).all()
        assert [(a.details["labels"], a.details["outcome"]) for a in audit] == [(["self-hosted", "linux", "gpu"],
                                                                                  "failure")]
        db.session.remove()


@pytest.mark.parametrize(("labels", "outcome", "message"), [
    ("", "success", "Name at least one runner label."),
    ("linux; rm -rf", "success", "Labels are up to 10 names"),
    ("linux", "maybe", "The outcome is success or failure."),
])
def test_bad_input_is_said_on_the_page_and_queues_nothing(signed_in: Callable[..., Browser],
                                                          queued: list[dict[str, Any]], labels: str, outcome: str,
                                                          message: str) -> None:
    browser = signed_in("admin")
    answer = browser.post(ACTION, {"labels": labels, "outcome": outcome})
    assert answer.status_code == 302
    assert message in browser.get(PAGE).get_data(as_text=True)
    assert queued == []


def test_viewers_may_not_and_see_no_form(signed_in: Callable[..., Browser], queued: list[dict[str, Any]]) -> None:
    browser = signed_in("viewer")
    assert "Run a workflow" not in browser.get(PAGE).get_data(as_text=True)
    assert browser.post(ACTION, {"labels": "linux", "outcome": "success"}).status_code == 403
    assert queued == []


def test_a_post_without_the_csrf_token_is_refused(signed_in: Callable[..., Browser],
                                                  queued: list[dict[str, Any]]) -> None:
    browser = signed_in("maintainer")
    assert browser.client.post(ACTION, data={"labels": "linux", "outcome": "success"}).status_code == 400
    assert queued == []


def test_outside_sandbox_mode_there_is_no_such_action(app: Flask, login_as: Callable[..., Any],
                                                      client: Any) -> None:
    login_as("admin")
    answer = Browser(client).post(ACTION, {"labels": "linux", "outcome": "success"})
    assert answer.status_code == 404
