"""Gantry: a self-hosted control plane for the delivery work of a GitHub organisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, session
from flask_login import user_loaded_from_cookie

from webapp import cli, compat, ops
from webapp.auth import api as auth_api
from webapp.auth import service as auth_service
from webapp.auth import setup as auth_setup
from webapp.auth import static_keys
from webapp.auth import views as auth_views
from webapp.auth.models import User
from webapp.builds import plugin as builds_plugin
from webapp.config import PROJECT_ROOT, load_settings
from webapp.core import crypto, errors, inputs, jobs, logging, metrics, migrations, nav, presentation, security, txcache
from webapp.core.models import enable_sqlite_pragmas
from webapp.core.overview import add_setup_step
from webapp.extensions import api, db, limiter, login_manager, oauth
from webapp.forwarding import plugin as forwarding_plugin
from webapp.ops import dashboard
from webapp.ops import views as ops_views
from webapp.releases import plugin as releases_plugin
from webapp.repos import plugin as repos_plugin
from webapp.runners import plugin as runners_plugin
from webapp.sync import plugin as sync_plugin
from webapp.webhooks import plugin as webhooks_plugin

# Each capability's plugin module (webapp/<capability>/plugin.py) has an init_app that registers its pages, API,
# webhook handlers, checks and figures; they run in this order. (Named *_plugin: `as runners` would rebind the
# attribute webapp.runners from the package to its plugin module.)
CAPABILITIES = (repos_plugin, webhooks_plugin, forwarding_plugin, runners_plugin, builds_plugin, releases_plugin,
                sync_plugin)


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
    migrations.init_app(app)
    logging.init_app(app)
    inputs.init_app(app)
    db.init_app(app)
    with app.app_context():
        enable_sqlite_pragmas(db.engine)
    crypto.init_app(app)
    jobs.init_app(app)
    txcache.listen_to_sessions()
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
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # A deactivated person's open sessions end at their next request, like their keys do; a
        # session from before their last logout, password or role change ends too.
        return auth_service.user_for_session(session_id)

    @user_loaded_from_cookie.connect_via(app)
    def mark_session_as_this_browsers(sender: Flask, user: User) -> None:
        # "strong" protection ends a session without the browser's identifier, and Flask-Login
        # sets it only at login: without this a remember-me sign-in lasted one request.
        session["_id"] = login_manager._session_identifier_generator()


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(ops_views.bp)
    app.register_blueprint(auth_views.bp)
    api.register_blueprint(auth_api.blp)
    static_keys.init_app(app)
    dashboard.init_app(app)
    ops.init_app(app)
    add_setup_step(app, auth_setup.api_key_step, order=50)

    for capability in CAPABILITIES:
        capability.init_app(app)
    compat.init_app(app)  # after the capabilities: the front doors sit on their services
    nav.init_app(app)
    presentation.init_app(app)


def register_cli(app: Flask) -> None:
    cli.register(app)


def register_errorhandlers(app: Flask) -> None:
    errors.register_errorhandlers(app)
