"""The Build State API's front door (seed 003) under /compat/build-state.

Builds, states, failures and dashboards answer from webapp.builds' services; sign-in from
webapp.auth's; health, readiness and status from webapp.ops'. Only the request and answer shapes
are this system's: `current_state` is the state's number (`jq -r '.current_state'` prints 25), and
`id` is the build's UUID, the `{build-uuid}` of every URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView

from webapp.auth import tokens
from webapp.auth.access import api_requires, public
from webapp.auth.api import LOGIN_LIMITS
from webapp.auth.schemas import TokenRequestSchema
from webapp.builds import api as builds_api
from webapp.builds import service
from webapp.builds.api import WRITE
from webapp.builds.schemas import (
    BuildCreateSchema,
    BuildListArgs,
    BuildSchema,
    FailureReportSchema,
    FailureSchema,
    StateReportSchema,
)
from webapp.compat.blueprint import FrontDoorBlueprint as Blueprint
from webapp.core.pagination import MAX_PAGE_SIZE
from webapp.ops import service as ops

blp = Blueprint("compat-build-state", __name__, url_prefix="/compat/build-state",
                description="Build State API (seed 003): machine-image builds, states, failures, dashboards")

# The Build State API's pipelines end on state 25 ("Packer build completed successfully"), so a build
# created here ends there as a success unless its request names another final state (README).
SEED_FINAL_STATE = 25


class BuildStateTokenSchema(ma.Schema):
    access_token = ma.fields.String()
    token_type = ma.fields.String(metadata={"example": "bearer"})
    expires_in = ma.fields.Integer()
    refresh_token = ma.fields.String()


class BuildStateStateSchema(ma.Schema):
    """Where a build is now, with the state as its number."""

    id = ma.fields.UUID(attribute="uuid")
    build_id = ma.fields.String()
    current_state = ma.fields.Integer(attribute="current_state_code", metadata={"example": 25})
    state_name = ma.fields.Function(lambda b: b.current_state.name)
    message = ma.fields.String(attribute="current_message")
    result = ma.fields.String()
    in_flight = ma.fields.Boolean()
    final_state = ma.fields.Integer(attribute="final_state_code", allow_none=True)
    updated_at = ma.fields.DateTime(attribute="current_state_at")
    finished_at = ma.fields.DateTime(allow_none=True)


class BuildStateBuildSchema(BuildSchema):
    """A build as Gantry's API shows it, with `id` and a numeric `current_state` as this system's clients read."""

    id = ma.fields.Function(lambda b: str(b.uuid), metadata={"description": "The build's UUID"})
    current_state = ma.fields.Integer(attribute="current_state_code",  # type: ignore[assignment]
                                      metadata={"example": 25})
    state_name = ma.fields.Function(lambda b: b.current_state.name)


class BuildStateListArgs(BuildListArgs):
    class Meta:
        exclude = ("cursor",)


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
        return _status()


@blp.route("/", strict_slashes=False)
class RootView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, BuildStateStatusSchema)
    def get(self) -> Any:
        """The same status as /status (the old status server's and containers' root)"""
        return _status()


blp.documentation_at("/docs", "/redoc")


def _status() -> dict[str, Any]:
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


@blp.route("/token")
class TokenView(MethodView):
    decorators = LOGIN_LIMITS

    @public
    @blp.doc(security=[])
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, BuildStateTokenSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Exchange a username and password for a bearer token"""
        pair = tokens.sign_in(body["username"], body["password"])
        return {"access_token": pair.access_token, "token_type": "bearer", "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token}


@blp.route("/builds")
class BuildsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(BuildStateListArgs, location="query")
    @blp.response(200, BuildStateBuildSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """List builds, newest first (filters: build_id, platform, os_version, image_type, state, result)"""
        limit = min(args.pop("limit"), MAX_PAGE_SIZE)
        return service.list_builds(args, g.principal, cursor=None, limit=limit).items

    @api_requires(*WRITE)
    @blp.arguments(BuildCreateSchema)
    @blp.response(201, BuildStateBuildSchema)
    @blp.alt_response(200, schema=BuildStateBuildSchema, description="The build_id exists with the same values")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a build (idempotent by build_id)"""
        if body.get("final_state") is None:
            body["final_state"] = SEED_FINAL_STATE
        build, created = service.create_build(body, g.principal)
        return build, 201 if created else 200


@blp.route("/builds/<build_uuid>")
class BuildView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, BuildStateBuildSchema)
    def get(self, build_uuid: str) -> Any:
        """Get a build's details"""
        return service.get_build(build_uuid, g.principal)


@blp.route("/builds/<build_uuid>/state")
class BuildStateView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, BuildStateStateSchema)
    def get(self, build_uuid: str) -> Any:
        """Get a build's current state"""
        return service.get_build(build_uuid, g.principal)

    @api_requires(*WRITE)
    @blp.arguments(StateReportSchema)
    @blp.response(201, BuildStateStateSchema)
    @blp.alt_response(200, schema=BuildStateStateSchema, description="This exact report was recorded before")
    def post(self, body: dict[str, Any], build_uuid: str) -> Any:
        """Update a build's state"""
        build, _, appended = service.record_state(build_uuid, body, g.principal)
        return build, 201 if appended else 200


@blp.route("/builds/<build_uuid>/failure")
class BuildFailureView(MethodView):
    @api_requires(*WRITE)
    @blp.arguments(FailureReportSchema)
    @blp.response(201, FailureSchema)
    def post(self, body: dict[str, Any], build_uuid: str) -> Any:
        """Record a build failure"""
        return service.record_failure(build_uuid, body, g.principal)


# The dashboards answer as /api/v1's do (the old service documented no shapes for them): the same views.
blp.route("/dashboard/summary", endpoint="dashboard_summary")(builds_api.SummaryView)
blp.route("/dashboard/recent", endpoint="dashboard_recent")(builds_api.RecentView)
blp.route("/dashboard/platform/<slug>", endpoint="dashboard_platform")(builds_api.PlatformDashboardView)
