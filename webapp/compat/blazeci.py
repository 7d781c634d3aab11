"""BlazeCI's front door (seed 000) under /compat/blazeci.

Repositories answer from webapp.repos' services, runners and pools from webapp.runners',
health from webapp.ops'. The GitHub OAuth endpoints join here over the shared OAuth service.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from webapp.auth.access import public

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
