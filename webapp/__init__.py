"""Gantry: a self-hosted control plane for the delivery work of a GitHub organisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp.config import PROJECT_ROOT, load_settings

CAPABILITY_MODULES: tuple[str, ...] = (
    "webapp.repos",
    "webapp.webhooks",
    "webapp.forwarding",
    "webapp.runners",
    "webapp.builds",
    "webapp.releases",
    "webapp.sync",
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, CLI and error handlers, in that order."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.update(load_settings() if config is None else config)
    register_extensions(app)
    register_blueprints(app)
    register_cli(app)
    register_errorhandlers(app)
    return app


def register_extensions(app: Flask) -> None:
    from webapp.core import crypto, inputs, jobs, logging, metrics, migrations, security
    from webapp.extensions import api, db, limiter, login_manager, oauth

    migrations.init_app(app)
    logging.init_app(app)
    inputs.init_app(app)
    db.init_app(app)
    with app.app_context():
        from webapp.core.models import enable_sqlite_pragmas

        enable_sqlite_pragmas(db.engine)
    crypto.init_app(app)
    jobs.init_app(app)
    metrics.init_app(app)
    security.init_app(app)
    oauth.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2, "socket_timeout": 2})
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # Redis away must not lock people out
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")  # no burst at a window boundary
    limiter.init_app(app)
    api.init_app(app)
    _init_login(app, login_manager)


def _init_login(app: Flask, login_manager: Any) -> None:
    from webapp.auth.models import User
    from webapp.extensions import db

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            user = db.session.get(User, int(user_id))
        except ValueError:
            return None
        # A deactivated person's open sessions end at their next request, like their keys do.
        return user if user is not None and user.active else None


def register_blueprints(app: Flask) -> None:
    from webapp import compat, ops
    from webapp.auth import api as auth_api
    from webapp.auth import setup as auth_setup
    from webapp.auth import views as auth_views
    from webapp.core.overview import add_setup_step
    from webapp.extensions import api
    from webapp.ops import dashboard
    from webapp.ops import views as ops_views

    app.register_blueprint(ops_views.bp)
    app.register_blueprint(auth_views.bp)
    api.register_blueprint(auth_api.blp)
    dashboard.init_app(app)
    ops.init_app(app)
    add_setup_step(app, auth_setup.api_key_step, order=50)

    import importlib

    for name in CAPABILITY_MODULES:
        module = importlib.import_module(name)
        module.init_app(app)  # type: ignore[attr-defined]

    compat.init_app(app)  # after the capabilities: the front doors sit on their services

    from webapp.core import presentation
    from webapp.core.nav import init_app as init_nav

    init_nav(app)
    presentation.init_app(app)


def register_cli(app: Flask) -> None:
    from webapp.cli import register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from webapp.core.errors import register_errorhandlers as register

    register(app)
