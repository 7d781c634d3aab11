"""Sandbox mode's world (sandbox/world.py) for tests: the GitHub simulator and moto as `make run` starts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from sandbox import world as sandbox_world
from sandbox.github import events
from tests.conftest import Browser
from tests.core.conftest import build_app  # noqa: F401  (fixture)
from webapp.config import read_environment

SANDBOX_BASE_URL = "http://gantry.test"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[sandbox_world.Sandbox]:
    started = sandbox_world.start(SANDBOX_BASE_URL, watch_runners=False)
    yield started
    started.stop()


def app_settings(settings: dict[str, str]) -> dict[str, Any]:
    """The environment settings of the sandbox, parsed as Gantry parses its environment."""
    parsed = read_environment(settings)
    values = {name: parsed[name] for name in settings if name in parsed}
    values["SANDBOX"] = settings["SANDBOX"] == "1"
    return values


@pytest.fixture
def sandbox_app(build_app: Callable[..., Flask], sandbox: sandbox_world.Sandbox,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> Flask:
    """A Gantry app with the sandbox's settings (AWS credentials in the environment, where boto3 reads them)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, sandbox.settings[name])
    return build_app(**app_settings(sandbox.settings))


@pytest.fixture
def live_gantry(sandbox_app: Flask, sandbox: sandbox_world.Sandbox) -> Iterator[str]:
    """The sandbox app served over HTTP, and the simulator's webhooks sent to its intake."""
    import threading

    httpd = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    events.set_target(sandbox.github.state, url + sandbox_world.WEBHOOK_PATH)
    sandbox.runners.job_seconds = 0
    try:
        yield url
    finally:
        events.set_target(sandbox.github.state, None)
        httpd.shutdown()


@pytest.fixture
def signed_in(sandbox_app: Flask, make_user: Callable[..., Any]) -> Callable[..., Browser]:
    """Sign in as a new user of `role` with `permission` on gantry-demo/engine (the demo repositories seeded)."""
    from webapp.repos.demo import seed_repositories

    with sandbox_app.app_context():
        seed_repositories(None)

    def sign_in(role: str, permission: str = "write") -> Browser:
        from webapp.extensions import db
        from webapp.repos.models import RepositoryAccess

        user = make_user(role)
        with sandbox_app.app_context():
            db.session.add(RepositoryAccess(user_id=user.id, repository_id=900103, permission=permission))
            db.session.commit()
            db.session.remove()
        browser = Browser(sandbox_app.test_client())
        assert browser.login(user.username).status_code in (302, 303)
        return browser

    return sign_in
