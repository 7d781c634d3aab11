"""Request and response shapes of the releases and environments API."""

from __future__ import annotations

import marshmallow as ma

from webapp.auth.models import ROLES
from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.releases.environments import approver_names
from webapp.releases.models import DEPLOYMENT_STATUSES, RELEASE_STATUSES


class FreezeWindowSchema(ma.Schema):
    cron = ma.fields.String(required=True, metadata={"description": "Five-field cron, e.g. '0 18 * * 5'"})
    duration_minutes = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    timezone = ma.fields.String(load_default="UTC", metadata={"description": "IANA zone, e.g. Europe/London"})
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class EnvironmentSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    repository_id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    position = ma.fields.Integer()
    required_approvals = ma.fields.Integer()
    approver_role = ma.fields.String(allow_none=True)
    approvers = ma.fields.Method("_approvers", metadata={"description": "Named approvers (usernames)"})
    freeze_windows = ma.fields.List(ma.fields.Nested(FreezeWindowSchema))
    auto_promote = ma.fields.Boolean()
    url = ma.fields.String(allow_none=True)

    def _approvers(self, env: object) -> list[str]:
        return approver_names(env)  # type: ignore[arg-type]


class EnvironmentWriteSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    position = ma.fields.Integer(allow_none=True)
    required_approvals = ma.fields.Integer(validate=ma.validate.Range(min=0, max=20))
    approver_role = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(ROLES))
    approvers = ma.fields.List(ma.fields.String(), metadata={"description": "Usernames allowed to approve"})
    freeze_windows = ma.fields.List(ma.fields.Nested(FreezeWindowSchema))
    auto_promote = ma.fields.Boolean()
    url = ma.fields.String(allow_none=True)


class EnvironmentCreateSchema(EnvironmentWriteSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class ApprovalSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    comment = ma.fields.String()
    via = ma.fields.String()
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()


class DeploymentSchema(ma.Schema):
    id = ma.fields.Integer()
    release_id = ma.fields.Integer()
    version = ma.fields.Function(lambda d: d.release.version)
    environment_id = ma.fields.Integer()
    environment = ma.fields.Function(lambda d: d.environment.name)
    kind = ma.fields.String(metadata={"enum": ["deploy", "rollback"]})
    trigger = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(DEPLOYMENT_STATUSES)})
    waiting_reason = ma.fields.String(allow_none=True)
    required_approvals = ma.fields.Function(lambda d: d.environment.required_approvals if d.kind == "deploy" else 0)
    approvals = ma.fields.List(ma.fields.Nested(ApprovalSchema))
    scheduled_for = ma.fields.DateTime(allow_none=True)
    freeze_override_reason = ma.fields.String(allow_none=True)
    replaces_id = ma.fields.Integer(allow_none=True)
    github_deployment_id = ma.fields.Integer(allow_none=True)
    github_state = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    queued_at = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)


class ReleaseSchema(ma.Schema):
    id = ma.fields.Integer()
    repository_id = ma.fields.Integer()
    version = ma.fields.String()
    tag_name = ma.fields.String()
    title = ma.fields.String()
    target = ma.fields.String()
    target_sha = ma.fields.String()
    base_sha = ma.fields.String(allow_none=True)
    previous_version = ma.fields.String(allow_none=True)
    notes = ma.fields.String(metadata={"description": "Markdown"})
    sections = ma.fields.Function(lambda r: (r.notes_data or {}).get("sections", []))
    # only the builds the reader may see (releases.service.shown_to); left out when not worked out
    build_uuids = ma.fields.List(ma.fields.String(), attribute="visible_build_uuids")
    status = ma.fields.String(metadata={"enum": list(RELEASE_STATUSES)})
    publish_error = ma.fields.String(allow_none=True)
    github_release_id = ma.fields.Integer(allow_none=True)
    github_release_url = ma.fields.String(allow_none=True)
    published_at = ma.fields.DateTime(allow_none=True)
    created_by = ma.fields.Function(lambda r: r.created_by.username if r.created_by else None)
    created_at = ma.fields.DateTime()


ReleasePageSchema = page_schema(ReleaseSchema, "ReleasePage")


class ReleaseListArgs(PageArgsSchema):
    repository_id = ma.fields.Integer(load_default=None)


class ReleaseCreateSchema(ma.Schema):
    repository_id = ma.fields.Integer(required=True)
    target = ma.fields.String(load_default="", metadata={"description": "Branch, tag or SHA (default branch)"})
    version = ma.fields.String(load_default=None, allow_none=True,
                               metadata={"description": "Semantic version; the suggested one when omitted"})
    title = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    build_uuids = ma.fields.List(ma.fields.String(), load_default=list)


class PreviewSchema(ma.Schema):
    repository_id = ma.fields.Integer()
    target = ma.fields.String()
    target_sha = ma.fields.String()
    base_sha = ma.fields.String(allow_none=True)
    previous_version = ma.fields.String(allow_none=True)
    commit_count = ma.fields.Integer()
    version = ma.fields.String()
    tag_name = ma.fields.String()
    suggested_version = ma.fields.String()
    bump = ma.fields.String()
    release_as = ma.fields.String(allow_none=True)
    releasable = ma.fields.Boolean()
    reason = ma.fields.String()
    sections = ma.fields.List(ma.fields.Dict())
    markdown = ma.fields.String()
    compare_url = ma.fields.String(allow_none=True)


class BuildLinksSchema(ma.Schema):
    build_uuids = ma.fields.List(ma.fields.String(), required=True)


class DeploymentCreateSchema(ma.Schema):
    environment_id = ma.fields.Integer(required=True)
    scheduled_for = ma.fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)
    override_freeze = ma.fields.Boolean(load_default=False, metadata={"description": "Admins only, with a reason"})
    override_reason = ma.fields.String(load_default=None, allow_none=True)


class ApproveSchema(ma.Schema):
    comment = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))


class OverrideSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class StatusReportSchema(ma.Schema):
    state = ma.fields.String(required=True, validate=ma.validate.OneOf(["in_progress", "succeeded", "failed"]))
    description = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=140))


class RollbackSchema(ma.Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))


class FiguresArgs(ma.Schema):
    environment_id = ma.fields.Integer(load_default=None)


class FiguresSchema(ma.Schema):
    environment_id = ma.fields.Function(lambda f: f["environment"].id if f["environment"] else None)
    weeks = ma.fields.List(ma.fields.String())
    series = ma.fields.Dict()
    totals = ma.fields.Dict()
