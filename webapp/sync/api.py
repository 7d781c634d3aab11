"""/api/v1 for projects and their files, and the sync endpoints under /api/v1/github/."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth.access import api_requires
from webapp.core.errors import ValidationFailed
from webapp.core.pagination import PageArgsSchema
from webapp.extensions import Blueprint
from webapp.sync import runs, service
from webapp.sync.schemas import (
    CheckConflictsSchema,
    FileInfoSchema,
    FileSchema,
    FilesMapSchema,
    FileWriteSchema,
    ManualTriggerSchema,
    MetricsArgs,
    PlanSchema,
    ProjectCreateSchema,
    ProjectListArgs,
    ProjectSchema,
    ProjectUpdateSchema,
    ResolveSchema,
    RetrySchema,
    SyncMetricsSchema,
    SyncRequestSchema,
    SyncRunPageSchema,
    SyncRunSchema,
    SyncStatusSchema,
)

blp = Blueprint("sync_api", __name__, url_prefix="/api/v1", description="Projects, their files and GitHub sync")


@blp.route("/projects")
class ProjectsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(ProjectListArgs, location="query")
    @blp.response(200, ProjectSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """List the projects of repositories you can see"""
        return service.list_projects(g.principal, args["repository_id"])

    @api_requires("maintainer", "sync:write")
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a project bound to a repository, branch and base path"""
        return service.create_project(g.principal, body)


@blp.route("/projects/<int:project_id>")
class ProjectView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, ProjectSchema)
    def get(self, project_id: int) -> Any:
        """Get a project"""
        return service.get_project(g.principal, project_id)

    @api_requires("maintainer", "sync:write")
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, ProjectSchema)
    def patch(self, body: dict[str, Any], project_id: int) -> Any:
        """Change a project's name, description or binding"""
        return service.update_project(g.principal, project_id, body)

    @api_requires("maintainer", "sync:write")
    @blp.response(204)
    def delete(self, project_id: int) -> None:
        """Delete a project and its files (nothing is deleted on GitHub)"""
        service.delete_project(g.principal, project_id)


@blp.route("/projects/<int:project_id>/files")
class ProjectFilesView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, FileInfoSchema(many=True))
    def get(self, project_id: int) -> Any:
        """List a project's files (without content)"""
        return service.get_project(g.principal, project_id).files


@blp.route("/projects/<int:project_id>/files/<path:path>")
class ProjectFileView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, FileSchema)
    def get(self, project_id: int, path: str) -> Any:
        """Get one file with its content (utf-8 text, or base64 for binary files)"""
        return service.get_file(g.principal, project_id, path)

    @api_requires("maintainer", "sync:write")
    @blp.arguments(FileWriteSchema)
    @blp.response(200, FileInfoSchema)
    @blp.alt_response(201, schema=FileInfoSchema, description="Created")
    def put(self, body: dict[str, Any], project_id: int, path: str) -> Any:
        """Create or replace a file"""
        content = body["content"].encode("utf-8")
        if body["encoding"] == "base64":
            try:
                content = base64.b64decode(body["content"], validate=True)
            except (binascii.Error, ValueError):
                raise ValidationFailed("The content is not valid base64.", errors={"content": ["not base64"]}) \
                    from None
        file, created = service.put_file(g.principal, project_id, path, content, body["executable"])
        return file, 201 if created else 200

    @api_requires("maintainer", "sync:write")
    @blp.response(204)
    def delete(self, project_id: int, path: str) -> None:
        """Delete a file (the next sync deletes it on GitHub unless GitHub changed it)"""
        service.delete_file(g.principal, project_id, path)


# --- /api/v1/github/: the sync endpoints ----------------------------------------------------


@blp.route("/github/sync/project")
class SyncProjectView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(SyncRequestSchema)
    @blp.response(202, SyncRunSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a sync of all of a project's files"""
        return runs.start_sync(g.principal, body["project_id"], message=body["message"],
                                  overwrite=body["overwrite"], trigger="api")


@blp.route("/github/sync/manual-trigger")
class ManualTriggerView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(ManualTriggerSchema)
    @blp.response(202, SyncRunSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a sync of some of a project's files"""
        return runs.start_sync(g.principal, body["project_id"], paths=body["paths"], message=body["message"],
                                  overwrite=body["overwrite"], trigger="manual")


@blp.route("/github/sync/history/<int:project_id>")
class SyncHistoryView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SyncRunPageSchema)
    def get(self, args: dict[str, Any], project_id: int) -> Any:
        """A project's sync runs, newest first, with per-file outcomes"""
        return runs.run_history(g.principal, project_id, args["cursor"], args["limit"])


@blp.route("/github/sync/status/<int:project_id>")
class SyncStatusView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, SyncStatusSchema)
    def get(self, project_id: int) -> Any:
        """A project's sync state and its latest run"""
        return runs.sync_status(g.principal, project_id)


@blp.route("/github/sync/runs/<int:run_id>")
class SyncRunView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, SyncRunSchema)
    def get(self, run_id: int) -> Any:
        """One sync run"""
        return runs.get_run(g.principal, run_id)


@blp.route("/github/sync/runs/<int:run_id>/resolve")
class ResolveView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(ResolveSchema)
    @blp.response(200, SyncRunSchema)
    def post(self, body: dict[str, Any], run_id: int) -> Any:
        """Settle one conflict: keep GitHub's version, or overwrite it at the next sync"""
        return runs.resolve_conflict(g.principal, run_id, body["path"], body["choice"])


@blp.route("/github/sync/check-conflicts")
class CheckConflictsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(CheckConflictsSchema)
    @blp.response(200, PlanSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Dry run: the per-file plan against the branch as it is now (writes nothing)"""
        return runs.check_conflicts(g.principal, body["project_id"], body["paths"], body["overwrite"])


@blp.route("/github/sync/retry")
class RetryView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(RetrySchema)
    @blp.response(202, SyncRunSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Run a failed sync again under the same Sync-Id"""
        return runs.retry_run(g.principal, body["run_id"])


@blp.route("/github/sync/metrics")
class SyncMetricsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(MetricsArgs, location="query")
    @blp.response(200, SyncMetricsSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Syncs, successes, failures, files, conflicts, average duration and last sync"""
        return runs.sync_metrics(g.principal, args["project_id"])


@blp.route("/github/repositories/push")
class RepositoryPushView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(FilesMapSchema)
    @blp.response(202, SyncRunSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Store these files in the repository's project and queue a sync of them"""
        return runs.push_files_map(g.principal, body, replace_all=False)


@blp.route("/github/repositories/sync")
class RepositorySyncView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(FilesMapSchema)
    @blp.response(202, SyncRunSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Make the project exactly these files (others are deleted) and queue a full sync"""
        return runs.push_files_map(g.principal, body, replace_all=True)
