"""BlazeCI's front door (seed 000) under /compat/blazeci.

Repositories answer from webapp.repos' services, runners and pools from webapp.runners',
health from webapp.ops'. The GitHub OAuth endpoints are the shared sign-in service's JSON flow
(webapp.auth.oauth); the callback answers Gantry's bearer token, BlazeCI's "JWT".
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

blp = Blueprint("compat-blazeci", __name__, url_prefix="/compat/blazeci",
                description="BlazeCI (seed 000): repositories, runner pools and runners, health")


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


@blp.route("/auth/github/callback")
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
