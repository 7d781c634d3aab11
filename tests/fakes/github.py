"""The GitHub simulator (sandbox/github) for tests: one server per session, reset around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.github import FakeGitHub, FakeServer, default_app, default_state


@pytest.fixture(scope="session")
def fake_github_server() -> Iterator[FakeServer]:
    app = default_app()
    server = FakeServer(lambda: default_state(app))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_github(fake_github_server: FakeServer) -> Iterator[FakeGitHub]:
    fake_github_server.reset()
    yield FakeGitHub(fake_github_server)
    fake_github_server.reset()
