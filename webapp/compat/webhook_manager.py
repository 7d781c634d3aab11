"""The GitHub Webhook Manager's front door (seed 004) under /compat/webhook-manager.

Sign-in is the shared OAuth service's redirect flow (webapp.auth.oauth): `/auth/login` sends the
browser to GitHub, `/auth/callback` lands it on FRONTEND_URL with a one-time code in the fragment,
which the front end trades at `POST /api/v1/auth/github/handoff` for a bearer token. Profile,
repositories, commits and webhook set-up answer from webapp.repos' services (which pick the GitHub
credential that can do it, or say why none can); `/api/webhook` is the webhook intake itself.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, g, redirect, request
from flask.views import MethodView

from webapp.auth import oauth
from webapp.auth.access import api_requires, public
from webapp.compat.blueprint import FrontDoorBlueprint as Blueprint
from webapp.repos import accounts, hooks, service
from webapp.repos.schemas import GitHubCommitSchema, GitHubHookSchema, GitHubProfileSchema, GitHubRepositorySchema

blp = Blueprint("compat-webhook-manager", __name__, url_prefix="/compat/webhook-manager",
                description="GitHub Webhook Manager (seed 004): sign-in, profile, repositories, commits, "
                            "repository webhook set-up, webhook intake")
blp.documentation_at()

PURPOSE = "webhook-manager"


class WebhookManagerPagingArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=100))


class WebhookManagerCommitArgs(ma.Schema):
    sha = ma.fields.String(load_default=None, validate=ma.validate.Length(max=255),
                           metadata={"description": "branch or commit to list from (GitHub's name)"})
    per_page = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=100))


def _callback_url() -> str:
    return f"{current_app.config['BASE_URL']}{blp.url_prefix}/auth/callback"


@blp.route("/auth/login")
class LoginView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(302, description="To GitHub's authorization page")
    def get(self) -> Any:
        """Initiates GitHub OAuth login flow"""
        return redirect(oauth.begin(_callback_url(), purpose=PURPOSE)["authorization_url"])


@blp.route("/auth/callback")
class CallbackView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(302, description="To FRONTEND_URL#code=<one-time code>&token_type=handoff (or #error=...)")
    def get(self) -> Any:
        """Handles GitHub OAuth callback"""
        return redirect(oauth.redirect_sign_in_result(request.args.get("code", ""), request.args.get("state", ""),
                                                      purpose=PURPOSE))


@blp.route("/user/profile")
class ProfileView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubProfileSchema)
    def get(self) -> Any:
        """Retrieves GitHub user profile"""
        return accounts.github_profile(g.principal.user)


@blp.route("/user/repos")
class RepositoriesView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(WebhookManagerPagingArgs, location="query")
    @blp.response(200, GitHubRepositorySchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Lists user's GitHub repositories (those GitHub says they can reach), by name"""
        items, _ = service.numbered_page_of_repositories(g.principal, page=args["page"], per_page=args["per_page"])
        return items


@blp.route("/api/repos/<owner>/<repo>/commits")
class CommitsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(WebhookManagerCommitArgs, location="query")
    @blp.response(200, GitHubCommitSchema(many=True))
    def get(self, args: dict[str, Any], owner: str, repo: str) -> Any:
        """Retrieves repository commits, newest first"""
        return service.recent_commits(g.principal, owner, repo, branch=args["sha"], limit=args["per_page"])


@blp.route("/api/repos/<owner>/<repo>/setup-webhook")
class SetupWebhookView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.response(200, GitHubHookSchema)
    def post(self, owner: str, repo: str) -> Any:
        """Sets up repository webhook (pointing at Gantry's intake), then asks GitHub to ping it"""
        return hooks.hook_view(hooks.set_up_hook(g.principal, f"{owner}/{repo}"))


blp.webhook_intake_at("/api/webhook")
