"""rq-dashboard mounted at /admin/rq for admins only."""

from __future__ import annotations

import re
from typing import Any

import rq_dashboard
from flask import Flask, redirect, request, url_for
from werkzeug.exceptions import MethodNotAllowed

from webapp.auth.access import current_principal
from webapp.core.errors import Forbidden

MOUNT = "/admin/rq"
# Endpoints that change queue state; rq-dashboard accepts GET on some of them, and Flask answers HEAD
# (and OPTIONS) on any GET route, skipping the same-origin check that guards only unsafe methods.
STATE_CHANGING = re.compile(r"/(requeue|delete|empty|compact)(/|$)")


def init_app(app: Flask) -> None:
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.config.setdefault("RQ_DASHBOARD_POLL_INTERVAL", 5000)

    @app.before_request
    def only_admins() -> Any:
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        principal = current_principal()
        if principal is None:
            return redirect(url_for("auth.login", next=request.full_path))
        if not principal.is_admin:
            raise Forbidden("The queue dashboard is for admins.")
        if request.method != "POST" and STATE_CHANGING.search(request.path):
            raise MethodNotAllowed(valid_methods=["POST"], description="Use POST to change queues.")
        return None

    app.register_blueprint(rq_dashboard.blueprint, url_prefix=MOUNT)
    rq_dashboard.web.setup_rq_connection(app)
