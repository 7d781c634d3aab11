"""The DevOps Release Manager's front door (seed 001) under /compat/release-manager.

Sign-in and users answer from webapp.auth's services, health from webapp.ops'.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from webapp.auth import api as auth_api
from webapp.auth.access import public
from webapp.compat.blueprint import FrontDoorBlueprint as Blueprint

blp = Blueprint("compat-release-manager", __name__, url_prefix="/compat/release-manager",
                description="DevOps Release Manager (seed 001): sign-in, users, health")
blp.documentation_at("/api/v1/docs", "/api/v1/redoc")


class ReleaseManagerHealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "healthy"})
    service = ma.fields.String()
    environment = ma.fields.String()


def _health() -> dict[str, Any]:
    return {"status": "healthy", "service": "release-manager", "environment": current_app.config["ENVIRONMENT"]}


@blp.route("/", strict_slashes=False)
class RootView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, ReleaseManagerHealthSchema)
    def get(self) -> Any:
        """The service is alive (the base path answers like /health)"""
        return _health()


@blp.route("/health")
class HealthView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, ReleaseManagerHealthSchema)
    def get(self) -> Any:
        """The service is alive; touches nothing else"""
        return _health()


# Its documented API is Gantry's own sign-in and user administration under the same /api/v1 paths:
# the same views, access rules, rate limits and answers, mounted below this base path.
blp.route("/api/v1/auth/login", endpoint="login")(auth_api.TokenView)
blp.route("/api/v1/auth/refresh", endpoint="refresh")(auth_api.RefreshView)
blp.route("/api/v1/auth/logout", endpoint="logout")(auth_api.LogoutView)
blp.route("/api/v1/users", endpoint="users")(auth_api.UsersView)
blp.route("/api/v1/users/<int:user_id>", endpoint="user")(auth_api.UserView)
