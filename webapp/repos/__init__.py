"""GitHub installations and repositories mirrored into Gantry, and who may see which."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register pages, API, webhook handlers and periodic reconcile for repositories."""
    from webapp.repos import models  # noqa: F401  (tables known to migrations)
