"""How repositories join the app: pages, API, webhook handlers, GitHub sign-in and errors, status, metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from prometheus_client import Metric

from webapp.auth import github as github_signin
from webapp.cli import add_seeder
from webapp.core.errors import error_response
from webapp.core.metrics import add_scrape_collector, gauge
from webapp.core.nav import NavItem, add_nav
from webapp.core.overview import add_setup_step
from webapp.extensions import api
from webapp.integrations.github import GitHubError, GitHubNotConfigured, GitHubRateLimited, github, set_settings_source
from webapp.ops.service import add_status_check
from webapp.repos import api as repos_api
from webapp.repos import (
    demo,
    mirror,
    models,  # noqa: F401  (tables known to migrations)
    setup,
    views,
)
from webapp.repos.app_config import get_app_settings
from webapp.repos.service import github_health


def _github_error_response(error: Any) -> Any:
    """GitHub's failures as clear answers: 429 with Retry-After, 409 not configured, 502 otherwise."""
    if isinstance(error, GitHubRateLimited):
        wait = int(error.retry_after or 60)
        return error_response(429, "github_rate_limited", f"GitHub's rate limit was reached; try again in {wait}s.",
                              headers={"Retry-After": str(wait)})
    if isinstance(error, GitHubNotConfigured):
        return error_response(409, "github_not_configured", error.message)
    return error_response(502, "github_error", f"GitHub answered {error.status or 'nothing'}: {error.message}")


def _status_check() -> dict[str, Any]:
    health = github_health()
    return {"ok": health["ok"], "configured": health["configured"], "app_slug": health["app_slug"],
            "error": health["error"], "quota": {q["identity"]: q["remaining"] for q in health["quota"]}}


def _quota_metrics() -> Iterable[Metric]:
    quotas = github().quotas()
    yield gauge("gantry_github_rate_limit_remaining", "Requests GitHub still allows, per identity "
                "(app, installation:<id>, user)", ["identity"], [([q.identity], q.remaining) for q in quotas])
    yield gauge("gantry_github_rate_limit_limit", "GitHub's request quota per hour, per identity", ["identity"],
                [([q.identity], q.limit) for q in quotas])


def init_app(app: Flask) -> None:
    """Register pages, API, webhook handlers, GitHub sign-in, status check, metrics and demo data."""
    set_settings_source(app, get_app_settings)
    app.register_blueprint(views.bp)
    api.register_blueprint(repos_api.blp)
    github_signin.init_app(app)
    mirror.register_webhook_handlers(app)
    app.register_error_handler(GitHubError, _github_error_response)
    add_nav(app, NavItem("Repositories", "repos.repository_list", group="GitHub", order=10, icon="book"))
    add_nav(app, NavItem("Connection", "repos.connection", group="GitHub", order=5, icon="brand-github"))
    add_nav(app, NavItem("Repository webhooks", "repos.hook_list", role="maintainer", group="GitHub", order=40,
                         icon="webhook"))
    add_nav(app, NavItem("GitHub App", "repos.app_setup_page", role="admin", group="GitHub", order=41, icon="settings"))
    if app.config.get("SANDBOX"):
        add_nav(app, NavItem("Sandbox GitHub", "repos.sandbox_github_page", group="GitHub", order=50,
                             icon="git-branch"))
    add_status_check(app, "github", _status_check)
    add_setup_step(app, setup.github_app_step, order=10)
    add_setup_step(app, setup.sign_in_step, order=20)
    add_scrape_collector(app, _quota_metrics)
    add_seeder(app, "repositories", demo.seed_repositories)
