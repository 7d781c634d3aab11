"""Request and response shapes of the projects and sync API."""

from __future__ import annotations

import base64

import marshmallow as ma

from webapp.core.pagination import page_schema
from webapp.sync.models import RUN_STATES
from webapp.sync.plan import is_text

ACTIONS = ["write", "delete", "keep_remote", "conflict", "unchanged"]


class ProjectSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    description = ma.fields.String()
    owner = ma.fields.Function(lambda p: p.owner.username if p.owner else None)
    repository_id = ma.fields.Integer()
    repository = ma.fields.Function(lambda p: p.repository.full_name if p.repository else None)
    branch = ma.fields.String()
    base_path = ma.fields.String()
    use_pull_request = ma.fields.Boolean()
    files = ma.fields.Function(lambda p: len(p.files))
    last_synced_at = ma.fields.DateTime(allow_none=True)
    last_commit_sha = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class ProjectCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    repository_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    branch = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=255))
    base_path = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    use_pull_request = ma.fields.Boolean(load_default=False)


class ProjectUpdateSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))
    repository_id = ma.fields.Integer(validate=ma.validate.Range(min=1))
    branch = ma.fields.String(validate=ma.validate.Length(min=1, max=255))
    base_path = ma.fields.String(validate=ma.validate.Length(max=500))
    use_pull_request = ma.fields.Boolean()


class ProjectListArgs(ma.Schema):
    repository_id = ma.fields.Integer(load_default=None)


class FileInfoSchema(ma.Schema):
    path = ma.fields.String()
    size = ma.fields.Integer()
    executable = ma.fields.Boolean()
    sha = ma.fields.String(attribute="blob_sha", metadata={"description": "git blob id of the content"})
    updated_at = ma.fields.DateTime()


def _encoding(file: object) -> str:
    return "utf-8" if is_text(file.content) else "base64"  # type: ignore[attr-defined]


def _content(file: object) -> str:
    data: bytes = file.content  # type: ignore[attr-defined]
    return data.decode("utf-8") if is_text(data) else base64.b64encode(data).decode()


class FileSchema(FileInfoSchema):
    encoding = ma.fields.Function(_encoding, metadata={"enum": ["utf-8", "base64"]})
    content = ma.fields.Function(_content)


class FileWriteSchema(ma.Schema):
    content = ma.fields.String(required=True)
    encoding = ma.fields.String(load_default="utf-8", validate=ma.validate.OneOf(["utf-8", "base64"]))
    executable = ma.fields.Boolean(load_default=None, allow_none=True,
                                   metadata={"description": "Omit to keep the current bit (new files: false)"})


class SyncRequestSchema(ma.Schema):
    project_id = ma.fields.Integer(required=True)
    message = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    overwrite = ma.fields.Boolean(load_default=False, metadata={
        "description": "Write this project's files even where GitHub changed them too"})


class ManualTriggerSchema(SyncRequestSchema):
    paths = ma.fields.List(ma.fields.String(), required=True, validate=ma.validate.Length(min=1, max=5000))


class CheckConflictsSchema(ma.Schema):
    project_id = ma.fields.Integer(required=True)
    paths = ma.fields.List(ma.fields.String(), load_default=None, allow_none=True)
    overwrite = ma.fields.Boolean(load_default=False)


class RetrySchema(ma.Schema):
    run_id = ma.fields.Integer(required=True)


class ResolveSchema(ma.Schema):
    path = ma.fields.String(required=True)
    choice = ma.fields.String(required=True, validate=ma.validate.OneOf(["keep_github", "overwrite"]))


class MetricsArgs(ma.Schema):
    project_id = ma.fields.Integer(load_default=None)


class FilesMapSchema(ma.Schema):
    repository_id = ma.fields.Integer(required=True)
    branch = ma.fields.String(load_default=None, allow_none=True)
    base_path = ma.fields.String(load_default="")
    project_name = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    message = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    overwrite = ma.fields.Boolean(load_default=False)
    files = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(), required=True,
                           validate=ma.validate.Length(min=1), metadata={
                               "description": "path -> text, or {content, encoding (utf-8|base64), executable}"})


class VersionSchema(ma.Schema):
    sha = ma.fields.String()
    mode = ma.fields.String()


class FilePlanSchema(ma.Schema):
    path = ma.fields.String()
    action = ma.fields.String(metadata={"enum": ACTIONS})
    detail = ma.fields.String()
    forced = ma.fields.Boolean()
    here = ma.fields.Nested(VersionSchema, allow_none=True)
    there = ma.fields.Nested(VersionSchema, allow_none=True)
    base = ma.fields.Nested(VersionSchema, allow_none=True)
    resolution = ma.fields.String(allow_none=True)


class SyncRunSchema(ma.Schema):
    id = ma.fields.Integer()
    project_id = ma.fields.Integer()
    sync_id = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(RUN_STATES)})
    trigger = ma.fields.String()
    branch = ma.fields.String()
    paths = ma.fields.List(ma.fields.String(), allow_none=True)
    overwrite = ma.fields.Boolean()
    requested_by = ma.fields.Function(lambda r: r.requested_by.username if r.requested_by else None)
    base_commit_sha = ma.fields.String(allow_none=True)
    commit_sha = ma.fields.String(allow_none=True)
    pull_request_url = ma.fields.String(allow_none=True)
    files_written = ma.fields.Integer()
    files_deleted = ma.fields.Integer()
    conflicts = ma.fields.Integer()
    api_calls = ma.fields.Integer()
    attempts = ma.fields.Integer()
    ref_retries = ma.fields.Integer()
    duration_ms = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    files = ma.fields.List(ma.fields.Nested(FilePlanSchema))
    created_at = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)


SyncRunPageSchema = page_schema(SyncRunSchema, "SyncRunPage")


class SyncStatusSchema(ma.Schema):
    project_id = ma.fields.Integer()
    state = ma.fields.String()
    active = ma.fields.Boolean()
    last_synced_at = ma.fields.DateTime(allow_none=True)
    last_commit_sha = ma.fields.String(allow_none=True)
    files = ma.fields.Integer()
    run = ma.fields.Nested(SyncRunSchema, allow_none=True)


class PlanCountsSchema(ma.Schema):
    write = ma.fields.Integer()
    delete = ma.fields.Integer()
    keep_remote = ma.fields.Integer()
    conflict = ma.fields.Integer()
    unchanged = ma.fields.Integer()


class PlanSchema(ma.Schema):
    head = ma.fields.String()
    protected = ma.fields.Boolean()
    counts = ma.fields.Nested(PlanCountsSchema)
    files = ma.fields.List(ma.fields.Nested(FilePlanSchema))
    api_calls = ma.fields.Integer()


class SyncMetricsSchema(ma.Schema):
    syncs = ma.fields.Integer()
    successes = ma.fields.Integer()
    failures = ma.fields.Integer()
    files = ma.fields.Integer()
    conflicts = ma.fields.Integer()
    average_duration_ms = ma.fields.Float(allow_none=True)
    last_sync = ma.fields.DateTime(allow_none=True)
    api_calls = ma.fields.Integer()
