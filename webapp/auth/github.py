"""Sign in with GitHub (Authlib): the OAuth web flow, state checked, the token stored encrypted.

`/auth/github/login` sends the browser to GitHub with a one-time state kept in the session;
`/auth/github/callback` refuses a missing, wrong or already used state, exchanges the code and
signs the user in (creating them, or linking the GitHub identity to the signed-in user when
started with `?link=1`).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from authlib.integrations.flask_client.integration import FlaskIntegration
from flask import Blueprint, Flask, current_app, redirect, request, session

from webapp.auth import oauth
from webapp.auth.access import current_principal, public
from webapp.auth.views import _safe_next, start_browser_session
from webapp.core.errors import GantryError
from webapp.core.htmx import render
from webapp.extensions import limiter
from webapp.integrations.github import GitHubError
from webapp.repos import accounts
from webapp.repos.app_config import get_app_settings

bp = Blueprint("github", __name__)


def _client() -> FlaskOAuth2App | None:
    settings = get_app_settings()
    if settings is None or not settings.can_sign_in:
        return None
    web = current_app.config["GITHUB_URL"]
    # a GitHub App's client has no scopes (the App's permissions apply); a classic OAuth App asks for them
    client_kwargs = {"token_endpoint_auth_method": "client_secret_post"}
    if settings.oauth_scopes:
        client_kwargs["scope"] = settings.oauth_scopes
    return FlaskOAuth2App(
        FlaskIntegration("github"), name="github",
        client_id=settings.client_id, client_secret=settings.client_secret,
        authorize_url=f"{web}/login/oauth/authorize", access_token_url=f"{web}/login/oauth/access_token",
        api_base_url=current_app.config["GITHUB_API_URL"], client_kwargs=client_kwargs,
    )


def _callback_url() -> str:
    return f"{current_app.config['BASE_URL']}/auth/github/callback"


def _refuse(message: str, status: int) -> Any:
    return render("auth/login.html", status_code=status, error=message, next="", github_login_enabled=True)


@bp.route("/auth/github/login")
@public
@limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))
def login() -> Any:
    client = _client()
    if client is None:
        return _refuse("Signing in with GitHub is not set up yet.", 404)
    session["github_next"] = _safe_next(request.args.get("next"))
    session["github_link"] = bool(request.args.get("link")) and current_principal() is not None
    return client.authorize_redirect(_callback_url())


@bp.route("/auth/github/callback")
@public
@limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))
def callback() -> Any:
    client = _client()
    if client is None:
        return _refuse("Signing in with GitHub is not set up yet.", 404)
    try:
        token = client.authorize_access_token()
    except OAuthError as exc:  # wrong, missing or replayed state; a bad or used code
        return _refuse(f"GitHub sign-in failed: {exc.description or exc.error}. Please try again.", 400)
    principal = current_principal()
    link_to = principal.user if session.pop("github_link", False) and principal is not None else None
    try:
        result = accounts.sign_in_with_github(token, link_to=link_to)
    except GantryError as exc:
        return _refuse(exc.message, exc.status)
    except GitHubError as exc:
        return _refuse(f"GitHub did not answer as expected: {exc.message}", 502)
    if link_to is None:
        start_browser_session(result.user)
    return redirect(session.pop("github_next", None) or "/")


@bp.route("/auth/github/frontend")
@public
@limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))
def frontend_login() -> Any:
    """Sign in for a front end at FRONTEND_URL: off to GitHub, back to frontend_callback."""
    started = oauth.begin(f"{current_app.config['BASE_URL']}/auth/github/frontend/callback", purpose="frontend")
    return redirect(started["authorization_url"])


@bp.route("/auth/github/frontend/callback")
@public
@limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))
def frontend_callback() -> Any:
    """GitHub's answer to a front end's sign-in: to FRONTEND_URL with a one-time code in the fragment."""
    return redirect(oauth.redirect_sign_in_result(request.args.get("code", ""), request.args.get("state", ""),
                                                  purpose="frontend"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def github_login_flag() -> dict[str, Any]:
        if request.endpoint != "auth.login":
            return {}
        settings = get_app_settings()
        return {"github_login_enabled": bool(settings and settings.can_sign_in)}
