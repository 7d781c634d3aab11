"""The Build State API's front door (seed 003) under /compat/build-state.

Builds, states, failures and dashboards answer from webapp.builds' services; health, readiness
and status from webapp.ops'. Only the request and answer shapes are this system's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from webapp.auth.access import public
from webapp.ops import service as ops

blp = Blueprint("compat-build-state", __name__, url_prefix="/compat/build-state",
                description="Build State API (seed 003): machine-image builds, states, failures, dashboards")


class BuildStateHealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"example": "healthy"})


class BuildStateReadySchema(ma.Schema):
    database = ma.fields.Boolean()
    redis = ma.fields.Boolean()
    overall = ma.fields.Boolean()


class BuildStateComponentSchema(ma.Schema):
    name = ma.fields.String()
    status = ma.fields.String(metadata={"description": "healthy or unhealthy"})
    details = ma.fields.String()


class BuildStateStatusSchema(ma.Schema):
    overall_status = ma.fields.String(metadata={"description": "healthy or unhealthy"})
    timestamp = ma.fields.String(metadata={"description": "ISO 8601, UTC"})
    components = ma.fields.List(ma.fields.Nested(BuildStateComponentSchema))


@blp.route("/health")
class HealthView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BuildStateHealthSchema)
    def get(self) -> Any:
        """The process is alive; touches nothing else"""
        return {"status": "healthy"}


@blp.route("/ready")
class ReadyView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BuildStateReadySchema)
    @blp.alt_response(503, schema=BuildStateReadySchema, description="PostgreSQL or Redis does not answer")
    def get(self) -> Any:
        """Ready to serve: PostgreSQL and Redis both answer"""
        ok, checks = ops.readiness()
        body = {"database": checks["database"]["ok"], "redis": checks["redis"]["ok"], "overall": ok}
        return body, 200 if ok else 503


@blp.route("/status")
class StatusView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BuildStateStatusSchema)
    def get(self) -> Any:
        """Health of every part Gantry depends on, one component each"""
        status = ops.system_status()
        components = [{"name": "api-local", "status": "healthy", "details": "OK"}]
        for name, check in status["components"].items():
            components.append({"name": name, "status": "healthy" if check.get("ok") else "unhealthy",
                               "details": _status_details(name, check)})
        return {"overall_status": "healthy" if status["ok"] else "unhealthy",
                "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
                "components": components}


def _status_details(name: str, check: dict[str, Any]) -> str:
    if not check.get("ok"):
        return "unavailable"
    if name == "database":
        return "PostgreSQL connection" if check.get("dialect") == "postgresql" else f"{check.get('dialect')} connection"
    if name == "redis":
        return "Redis cache"
    return "OK"
