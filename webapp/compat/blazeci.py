"""BlazeCI's front door (seed 000) under /compat/blazeci.

Repositories answer from webapp.repos' services, runners and pools from webapp.runners',
health from webapp.ops'. The GitHub OAuth endpoints are the shared sign-in service's JSON flow
(webapp.auth.oauth); the callback answers Gantry's bearer token, BlazeCI's "JWT".
`/webhooks/github` is Gantry's webhook intake, at the path BlazeCI's GitHub App was pointed at.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from webapp.auth import oauth, tokens
from webapp.auth.access import public
from webapp.compat.blueprint import FrontDoorBlueprint as Blueprint
from webapp.extensions import limiter
from webapp.ops import service as ops
from webapp.repos import api as repos_api
from webapp.runners import api as runners_api

blp = Blueprint("compat-blazeci", __name__, url_prefix="/compat/blazeci",
                description="BlazeCI (seed 000): GitHub sign-in, repositories, runner pools and runners, "
                            "webhooks, health")
blp.documentation_at()


class BlazeciHealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "healthy"})


@blp.route("/health")
class HealthView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BlazeciHealthSchema)
    def get(self) -> Any:
        """The service is alive; touches nothing else"""
        return {"status": "healthy"}


class BlazeciDatabaseHealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "healthy"})
    database = ma.fields.String(metadata={"example": "postgresql"})


@blp.route("/health/db")
class DatabaseHealthView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BlazeciDatabaseHealthSchema)
    @blp.alt_response(503, schema=BlazeciDatabaseHealthSchema, description="The database does not answer")
    def get(self) -> Any:
        """Database connectivity"""
        check = ops.check_database()
        body = {"status": "healthy" if check["ok"] else "unhealthy", "database": check.get("dialect", "unknown")}
        return body, 200 if check["ok"] else 503


# Repositories, runner pools and runners are Gantry's /api/v1 views mounted at BlazeCI's paths: the
# same access rules, services and answers. A pool needs only {"labels", "max_runners"}: the name
# and the ECS launch settings default from ECS_CLUSTER, ECS_TASK_DEFINITION, ... (webapp.runners.pools).
blp.route("/health/github", endpoint="health_github")(repos_api.HealthView)
blp.route("/repos", endpoint="repos")(repos_api.RepositoriesView)
blp.route("/repos/<int:repo_id>/runners", endpoint="repo_runners")(runners_api.RepoRunnersView)
blp.route("/runners", endpoint="runners")(runners_api.RunnersView)
blp.route("/runners/<int:runner_id>", endpoint="runner")(runners_api.RunnerView)

blp.webhook_intake_at("/webhooks/github")


# --- GitHub OAuth (the shared sign-in service, webapp.auth.oauth) -------------------------------

OAUTH_PURPOSE = "blazeci"


class BlazeciAuthorizeArgs(ma.Schema):
    redirect_uri = ma.fields.String(load_default=None, metadata={"description": "default: FRONTEND_URL"})


class BlazeciAuthorizationSchema(ma.Schema):
    authorization_url = ma.fields.String()
    state = ma.fields.String()


class BlazeciCallbackSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    state = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=500),
                             metadata={"description": "the state /auth/github/authorize gave: checked and spent "
                                                      "when sent (send it: it protects the sign-in)"})


class BlazeciUserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    github_login = ma.fields.String(allow_none=True)
    role = ma.fields.String()


class BlazeciTokenSchema(ma.Schema):
    access_token = ma.fields.String()
    token_type = ma.fields.String()
    expires_in = ma.fields.Integer()
    refresh_token = ma.fields.String()
    user = ma.fields.Nested(BlazeciUserSchema)


@blp.route("/auth/github/authorize")
class AuthorizeView(MethodView):
    decorators = [limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))]

    @public
    @blp.doc(security=[])
    @blp.arguments(BlazeciAuthorizeArgs, location="query")
    @blp.response(200, BlazeciAuthorizationSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Get the GitHub authorization URL (and its one-time state)"""
        return oauth.begin(oauth.client_redirect_uri(args["redirect_uri"]), purpose=OAUTH_PURPOSE)


# BlazeCI listed `POST /auth/github` ("GitHub OAuth authentication") beside the callback it documented:
# both exchange GitHub's code for the token.
@blp.route("/auth/github/callback")
@blp.route("/auth/github", endpoint="auth_github")
class CallbackView(MethodView):
    decorators = [limiter.limit(lambda: str(current_app.config["RATELIMIT_LOGIN"]))]

    @public
    @blp.doc(security=[])
    @blp.arguments(BlazeciCallbackSchema)
    @blp.response(200, BlazeciTokenSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Exchange GitHub's code for a JWT (Gantry's bearer token)"""
        signed = oauth.finish(body["code"], body["state"], purpose=OAUTH_PURPOSE)
        pair = tokens.issue_tokens(signed.user)
        return {"access_token": pair.access_token, "token_type": "bearer", "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token,
                "user": {"id": signed.user.id, "username": signed.user.username,
                         "github_login": signed.profile.get("login"), "role": signed.user.role}}
