"""GitHub webhook intake: verify, store, queue, route to the capability that cares, never lose one."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the intake endpoint, delivery log pages and API, and the router's handlers."""
    return None
