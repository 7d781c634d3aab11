"""/api/v1 for builds, their states and failures, the catalogue, and dashboards."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView

from webapp.auth.access import api_requires
from webapp.builds import catalog_service, dashboard, service
from webapp.builds.catalog_service import KINDS
from webapp.builds.schemas import (
    BuildCreateSchema,
    BuildHistorySchema,
    BuildListArgs,
    BuildPageSchema,
    BuildSchema,
    BuildStateSchema,
    DashboardFailuresSchema,
    DashboardPlatformSchema,
    DashboardRecentSchema,
    DashboardSummarySchema,
    FailureReportSchema,
    FailureSchema,
    GithubMappingSchema,
    ImageTypeSchema,
    OsVersionSchema,
    PlatformSchema,
    StateCodeSchema,
    StateCodeUpdateSchema,
    StateRecordedSchema,
    StateReportSchema,
)
from webapp.extensions import Blueprint

blp = Blueprint("builds_api", __name__, url_prefix="/api/v1",
                description="Builds reported by CI pipelines, their states and failures, the catalogue, dashboards")

WRITE = ("maintainer", "builds:write")
ADMIN = ("admin", "admin")


class _StateRecorded:
    """The build's new state with the report that was recorded (serialised by StateRecordedSchema)."""

    def __init__(self, build: Any, event: Any, appended: bool) -> None:
        self.build, self.event, self.appended = build, event, appended

    def __getattr__(self, name: str) -> Any:
        return getattr(self.build, name)


@blp.route("/builds")
class BuildsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(BuildListArgs, location="query")
    @blp.response(200, BuildPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List builds, newest first, with filters and cursor pagination"""
        cursor, limit = args.pop("cursor"), args.pop("limit")
        return service.list_builds(args, g.principal, cursor=cursor, limit=limit)

    @api_requires(*WRITE)
    @blp.arguments(BuildCreateSchema)
    @blp.response(201, BuildSchema)
    @blp.alt_response(200, schema=BuildSchema, description="The build_id exists with the same values")
    @blp.alt_response(409, description="The build_id exists with other values (errors say which)")
    def post(self, body: dict[str, Any]) -> Any:
        """Register a build (idempotent by build_id)"""
        build, created = service.create_build(body, g.principal)
        return build, 201 if created else 200


@blp.route("/builds/<build_uuid>")
class BuildView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, BuildSchema)
    def get(self, build_uuid: str) -> Any:
        """Get a build"""
        return service.get_build(build_uuid, g.principal)


@blp.route("/builds/<build_uuid>/state")
class BuildStateView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, BuildStateSchema)
    def get(self, build_uuid: str) -> Any:
        """A build's current state"""
        return service.get_build(build_uuid, g.principal)

    @api_requires(*WRITE)
    @blp.arguments(StateReportSchema)
    @blp.response(201, StateRecordedSchema)
    @blp.alt_response(200, schema=StateRecordedSchema, description="This exact report was recorded before")
    @blp.alt_response(409, description="The build has ended: a terminal state is final")
    def post(self, body: dict[str, Any], build_uuid: str) -> Any:
        """Report a build's state (appended to its history)"""
        build, event, appended = service.record_state(build_uuid, body, g.principal)
        return _StateRecorded(build, event, appended), 201 if appended else 200


@blp.route("/builds/<build_uuid>/history")
class BuildHistoryView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, BuildHistorySchema)
    def get(self, build_uuid: str) -> Any:
        """A build's state history, oldest first"""
        build, events = service.history(build_uuid, g.principal)
        return {"uuid": build.uuid, "build_id": build.build_id, "current_state": build.current_state,
                "events": events}


@blp.route("/builds/<build_uuid>/failure")
class BuildFailureView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, FailureSchema(many=True))
    def get(self, build_uuid: str) -> Any:
        """A build's recorded failures"""
        return service.failures_of(service.get_build(build_uuid, g.principal))

    @api_requires(*WRITE)
    @blp.arguments(FailureReportSchema)
    @blp.response(201, FailureSchema)
    def post(self, body: dict[str, Any], build_uuid: str) -> Any:
        """Record a failure of a build (component, error code, message, details)"""
        return service.record_failure(build_uuid, body, g.principal)


# --- dashboards ----------------------------------------------------------------------------


@blp.route("/dashboard/summary")
class SummaryView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DashboardSummarySchema)
    def get(self) -> Any:
        """Counts by state and phase, in flight, success rates, median duration by platform"""
        return dashboard.summary(g.principal)


@blp.route("/dashboard/recent")
class RecentView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DashboardRecentSchema)
    def get(self) -> Any:
        """The newest builds and the builds in flight"""
        return dashboard.recent(g.principal)


@blp.route("/dashboard/platform/<slug>")
class PlatformDashboardView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DashboardPlatformSchema)
    def get(self, slug: str) -> Any:
        """One platform over 30 days"""
        return dashboard.platform(slug, g.principal)


@blp.route("/dashboard/failures")
class FailuresDashboardView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DashboardFailuresSchema)
    def get(self) -> Any:
        """Top failing components and error codes over 7 and 30 days"""
        return dashboard.failures(g.principal)


# --- catalogue -----------------------------------------------------------------------------


def _catalog_routes(key: str, schema: type[ma.Schema]) -> None:
    """Collection and item views for one slug-keyed part of the catalogue."""
    label = KINDS[key].label
    fields = schema().fields  # bound: their lengths come from the columns (ColumnSizedSchema)
    update_schema = ma.Schema.from_dict(
        {n: ma.fields.List(ma.fields.String()) if n == "aliases" else ma.fields.String(validate=list(f.validators))
         for n, f in fields.items() if n != "slug"},
        name=f"{schema.__name__.removesuffix('Schema')}Update")

    class Collection(MethodView):
        @api_requires("viewer", "read")
        @blp.response(200, schema(many=True))
        def get(self) -> Any:
            return catalog_service.list_entries(key)

        @api_requires(*ADMIN)
        @blp.arguments(schema)
        @blp.response(201, schema)
        def post(self, body: dict[str, Any]) -> Any:
            return catalog_service.create_entry(key, body, actor=g.principal.user)

    class Item(MethodView):
        @api_requires("viewer", "read")
        @blp.response(200, schema)
        def get(self, slug: str) -> Any:
            return catalog_service.get_entry(key, slug)

        @api_requires(*ADMIN)
        @blp.arguments(update_schema)
        @blp.response(200, schema)
        def patch(self, body: dict[str, Any], slug: str) -> Any:
            return catalog_service.update_entry(key, slug, body, actor=g.principal.user)

        @api_requires(*ADMIN)
        @blp.response(204)
        def delete(self, slug: str) -> None:
            catalog_service.delete_entry(key, slug, actor=g.principal.user)

    Collection.get.__doc__ = f"List {label}s"
    Collection.post.__doc__ = f"Add a {label} (admins)"
    Item.get.__doc__ = f"Get a {label}"
    Item.patch.__doc__ = f"Change a {label}'s name or details (admins)"
    Item.delete.__doc__ = f"Delete a {label} no build uses (admins)"
    endpoint = key.replace("-", "_")
    blp.route(f"/catalog/{key}", endpoint=f"catalog_{endpoint}")(Collection)
    blp.route(f"/catalog/{key}/<slug>", endpoint=f"catalog_{endpoint}_item")(Item)


_catalog_routes("platforms", PlatformSchema)
_catalog_routes("os-versions", OsVersionSchema)
_catalog_routes("image-types", ImageTypeSchema)


@blp.route("/catalog/state-codes")
class StateCodesView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, StateCodeSchema(many=True))
    def get(self) -> Any:
        """List state codes"""
        return catalog_service.list_state_codes()

    @api_requires(*ADMIN)
    @blp.arguments(StateCodeSchema)
    @blp.response(201, StateCodeSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Add a state code (admins)"""
        return catalog_service.create_state_code(body, actor=g.principal.user)


@blp.route("/catalog/state-codes/<int:code>")
class StateCodeView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, StateCodeSchema)
    def get(self, code: int) -> Any:
        """Get a state code"""
        return catalog_service.get_state_code(code)

    @api_requires(*ADMIN)
    @blp.arguments(StateCodeUpdateSchema)
    @blp.response(200, StateCodeSchema)
    def patch(self, body: dict[str, Any], code: int) -> Any:
        """Change a state code (admins; meaning is fixed once builds use it)"""
        return catalog_service.update_state_code(code, body, actor=g.principal.user)

    @api_requires(*ADMIN)
    @blp.response(204)
    def delete(self, code: int) -> None:
        """Delete a state code no build uses (admins)"""
        catalog_service.delete_state_code(code, actor=g.principal.user)


def _mapping_out(mapping: Any) -> dict[str, Any]:
    return {"id": mapping.id, "repository": mapping.repository.full_name, "workflow_name": mapping.workflow_name,
            "platform": mapping.platform.slug, "os_version": mapping.os_version.slug,
            "image_type": mapping.image_type.slug, "created_at": mapping.created_at}


@blp.route("/catalog/github-mappings")
class GithubMappingsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GithubMappingSchema(many=True))
    def get(self) -> Any:
        """List repository -> catalogue mappings for GitHub Actions runs (of repositories you can see)"""
        return [_mapping_out(m) for m in catalog_service.list_mappings(g.principal)]

    @api_requires(*ADMIN)
    @blp.arguments(GithubMappingSchema)
    @blp.response(201, GithubMappingSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Map a repository (optionally one workflow) to a catalogue entry (admins)"""
        return _mapping_out(catalog_service.create_mapping(body, actor=g.principal.user))


@blp.route("/catalog/github-mappings/<int:mapping_id>")
class GithubMappingView(MethodView):
    @api_requires(*ADMIN)
    @blp.response(204)
    def delete(self, mapping_id: int) -> None:
        """Remove a mapping (admins)"""
        catalog_service.delete_mapping(mapping_id, actor=g.principal.user)
