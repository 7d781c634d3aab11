"""Infrajet's request and answer shapes, as its OpenAPI document states them (seed 002)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from webapp.repos.schemas import GitHubRepositorySchema
from webapp.sync.schemas import SyncRunSchema


class ProjectReference(ma.fields.String):
    """Infrajet's `project_id`: its own id (a string, e.g. a UUID) or a Gantry project's number."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class InfrajetLoginArgs(ma.Schema):
    state = ma.fields.String(load_default=None, validate=ma.validate.Length(min=8, max=200))
    redirect_uri = ma.fields.String(load_default=None, metadata={"description": "default: FRONTEND_URL"})


class InfrajetCallbackSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    state = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class InfrajetDisconnectSchema(ma.Schema):
    revoke_token = ma.fields.Boolean(load_default=False)


class InfrajetPageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=30, validate=ma.validate.Range(min=1, max=100))


class InfrajetProjectSyncSchema(ma.Schema):
    project_id = ProjectReference(required=True, validate=ma.validate.Length(min=1, max=200))
    repository_full_name = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[^/\s]+/[^/\s]+$"))
    branch = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=255))
    commit_message = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    check_conflicts = ma.fields.Boolean(load_default=True)


class InfrajetManualTriggerSchema(InfrajetProjectSyncSchema):
    sync_all_files = ma.fields.Boolean(load_default=True)
    file_paths = ma.fields.List(ma.fields.String(), load_default=None, validate=ma.validate.Length(max=5000))


class InfrajetConflictCheckSchema(ma.Schema):
    project_id = ProjectReference(required=True, validate=ma.validate.Length(min=1, max=200))
    repository_full_name = ma.fields.String(load_default=None)
    branch = ma.fields.String(load_default=None)
    file_paths = ma.fields.List(ma.fields.String(), load_default=None)


class InfrajetRetrySchema(ma.Schema):
    sync_id = ma.fields.String(load_default=None, metadata={"description": "the run's sync_id (or id)"})
    project_id = ProjectReference(load_default=None, metadata={"description": "retry its latest failed run"})


class InfrajetInstallationTokenSchema(ma.Schema):
    installation_id = ma.fields.Integer(required=True)


class InfrajetCreateRepositorySchema(ma.Schema):
    installation_id = ma.fields.Integer(load_default=None)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    description = ma.fields.String(load_default=None, allow_none=True)
    private = ma.fields.Boolean(load_default=True)
    owner = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class InfrajetFilesSchema(ma.Schema):
    installation_id = ma.fields.Integer(load_default=None)
    repo_owner = ma.fields.String(required=True)
    repo_name = ma.fields.String(required=True)
    files = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True,
                           validate=ma.validate.Length(min=1))
    commit_message = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    branch = ma.fields.String(load_default=None)


class InfrajetValidateAccessSchema(ma.Schema):
    user_access_token = ma.fields.String(load_default=None, load_only=True,
                                         metadata={"description": "ignored: Gantry uses the caller's own GitHub "
                                                                  "connection"})
    installation_id = ma.fields.Integer(load_default=None)
    repo_owner = ma.fields.String(required=True)
    repo_name = ma.fields.String(required=True)


class InfrajetInstallArgs(ma.Schema):
    state = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    suggested_target_id = ma.fields.Integer(load_default=None)


class InfrajetAuthorizationSchema(ma.Schema):
    authorization_url = ma.fields.String()
    state = ma.fields.String()


class InfrajetConnectionStatusSchema(ma.Schema):
    connected = ma.fields.Boolean()
    username = ma.fields.String(allow_none=True)
    connected_at = ma.fields.DateTime(allow_none=True)
    repositories_count = ma.fields.Integer()
    permissions = ma.fields.List(ma.fields.String())


class InfrajetRepositoryListSchema(ma.Schema):
    repositories = ma.fields.List(ma.fields.Nested(GitHubRepositorySchema))
    total_count = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class InfrajetSyncResponseSchema(ma.Schema):
    success = ma.fields.Boolean()
    sync_id = ma.fields.String()
    status = ma.fields.String()
    message = ma.fields.String()
    project_id = ma.fields.String()
    repository = ma.fields.String()
    branch = ma.fields.String()
    commit_sha = ma.fields.String(allow_none=True)
    files_synced = ma.fields.Integer()
    conflicts = ma.fields.List(ma.fields.Dict())


class InfrajetSyncHistorySchema(ma.Schema):
    project_id = ma.fields.String()
    syncs = ma.fields.List(ma.fields.Nested(SyncRunSchema))
    total = ma.fields.Integer()


class InfrajetSyncStatusSchema(ma.Schema):
    project_id = ma.fields.String()
    status = ma.fields.String()
    repository = ma.fields.String()
    last_sync_at = ma.fields.DateTime(allow_none=True)
    last_commit_sha = ma.fields.String(allow_none=True)
    total_syncs = ma.fields.Integer()
    last_successful_sync = ma.fields.DateTime(allow_none=True)


class InfrajetConflictCheckResponseSchema(ma.Schema):
    project_id = ma.fields.String()
    has_conflicts = ma.fields.Boolean()
    conflicts = ma.fields.List(ma.fields.Dict())
    files = ma.fields.List(ma.fields.Dict())
    head_sha = ma.fields.String(allow_none=True)


class InfrajetMetricsSchema(ma.Schema):
    user_id = ma.fields.Integer()
    total_syncs = ma.fields.Integer()
    successful_syncs = ma.fields.Integer()
    failed_syncs = ma.fields.Integer()
    total_files_synced = ma.fields.Integer()
    total_conflicts_resolved = ma.fields.Integer()
    average_sync_duration = ma.fields.Float(allow_none=True, metadata={"description": "seconds"})
    last_sync_at = ma.fields.DateTime(allow_none=True)
    connected_repositories = ma.fields.Integer()


class InfrajetTokenSchema(ma.Schema):
    token = ma.fields.String()
    expires_at = ma.fields.String(allow_none=True)
    permissions = ma.fields.Dict()
    repositories = ma.fields.List(ma.fields.String())
    installation_id = ma.fields.Integer()


class InfrajetPushResponseSchema(ma.Schema):
    success = ma.fields.Boolean()
    commit_sha = ma.fields.String(allow_none=True)
    files_pushed = ma.fields.Integer()
    repository_url = ma.fields.String()
    commit_url = ma.fields.String(allow_none=True)
    branch = ma.fields.String()
    status = ma.fields.String()
    sync_id = ma.fields.String()
    conflicts = ma.fields.List(ma.fields.Dict())
    error = ma.fields.String(allow_none=True)


class InfrajetValidateAccessResponseSchema(ma.Schema):
    has_access = ma.fields.Boolean()
    repository = ma.fields.String()
    permission = ma.fields.String(allow_none=True)
    app_installed = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)


class InfrajetInstallUrlSchema(ma.Schema):
    installation_url = ma.fields.String()
    app_name = ma.fields.String(allow_none=True)
    state = ma.fields.String(allow_none=True)
    github_app_url = ma.fields.String(allow_none=True)


class InfrajetHealthSchema(ma.Schema):
    service = ma.fields.String()
    status = ma.fields.String()
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
