"""Helpers for tests that need an app built with other settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask


@pytest.fixture
def build_app(app: Flask) -> Iterator[Callable[..., Flask]]:
    """make_test_app(**overrides), leaving the session app's shared extensions as they were.

    Flask-Limiter keeps one storage per extension object, so binding it to another app re-points
    it; the session app's limiter state is put back once the other app is built.
    """
    from tests.conftest import make_test_app
    from webapp.extensions import limiter

    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        saved = dict(vars(limiter))
        try:
            other = make_test_app(**overrides)
        finally:
            vars(limiter).update(saved)
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            from webapp.extensions import db

            db.session.remove()
            db.engine.dispose()
