"""Sandbox mode's world (sandbox/world.py) for tests: the GitHub simulator and moto as `make run` starts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from sandbox import world as sandbox_world
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
