"""Request and response shapes of the builds, catalogue and dashboard API."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import marshmallow as ma

from webapp.builds.catalog_service import PHASES
from webapp.builds.models import RESULTS, Build, ImageType, OsVersion, Platform, StateCode
from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.core.schemas import ColumnSizedSchema

COMMIT_RE = r"^[0-9a-fA-F]{0,64}$"


class RepositoryRef(ma.fields.Field):
    """A repository named by full name (`owner/name`) or by GitHub id."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ma.ValidationError("a repository full name (owner/name) or its id")
        if isinstance(value, int) and not 0 < value < 2**63:
            raise ma.ValidationError("a repository id is a positive 64-bit number")
        if isinstance(value, str) and len(value) > 400:
            raise ma.ValidationError("at most 400 characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class InputSchema(ColumnSizedSchema):
    """Request bodies and arguments: NUL characters are refused (PostgreSQL text and JSONB cannot hold them)."""

    @ma.pre_load
    def refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        if _has_nul(dict(data) if hasattr(data, "keys") else data):
            raise ma.ValidationError("Text may not contain NUL characters.")
        return data


def _when(**kwargs: Any) -> ma.fields.AwareDateTime:
    return ma.fields.AwareDateTime(default_timezone=UTC, **kwargs)


# --- catalogue -----------------------------------------------------------------------------


class PlatformSchema(InputSchema):
    class Meta:
        model = Platform

    slug = ma.fields.String(required=True, metadata={"example": "aws-commercial"})
    name = ma.fields.String(required=True)
    cloud = ma.fields.String(required=True, metadata={"example": "aws"})
    aliases = ma.fields.List(ma.fields.String(), load_default=list,
                             metadata={"description": "Other names builds may use for it", "example": ["aws"]})


class OsVersionSchema(InputSchema):
    class Meta:
        model = OsVersion

    slug = ma.fields.String(required=True, metadata={"example": "rhel-8.8"})
    name = ma.fields.String(required=True)
    family = ma.fields.String(required=True, metadata={"example": "rhel"})
    aliases = ma.fields.List(ma.fields.String(), load_default=list,
                             metadata={"description": "Other names builds may use for it", "example": ["aws"]})


class ImageTypeSchema(InputSchema):
    class Meta:
        model = ImageType

    slug = ma.fields.String(required=True, metadata={"example": "sap-hana"})
    name = ma.fields.String(required=True)
    description = ma.fields.String(load_default="")
    aliases = ma.fields.List(ma.fields.String(), load_default=list,
                             metadata={"description": "Other names builds may use for it", "example": ["aws"]})


class StateCodeSchema(InputSchema):
    class Meta:
        model = StateCode

    code = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=9999), metadata={"example": 25})
    name = ma.fields.String(required=True, metadata={"example": "Packer build completed"})
    description = ma.fields.String(load_default="")
    phase = ma.fields.String(required=True, validate=ma.validate.OneOf(PHASES))
    terminal = ma.fields.Boolean(load_default=False)
    failure = ma.fields.Boolean(load_default=False)
    result = ma.fields.String(dump_only=True, metadata={"enum": list(RESULTS)})


class StateCodeUpdateSchema(InputSchema):
    class Meta:
        model = StateCode

    name = ma.fields.String()
    description = ma.fields.String()
    phase = ma.fields.String(validate=ma.validate.OneOf(PHASES))
    terminal = ma.fields.Boolean()
    failure = ma.fields.Boolean()


class GithubMappingSchema(InputSchema):
    id = ma.fields.Integer(dump_only=True)
    repository = RepositoryRef(required=True, metadata={"description": "owner/name or repository id"})
    workflow_name = ma.fields.String(load_default="", metadata={"description": "Empty: every workflow"})
    platform = ma.fields.String(required=True)
    os_version = ma.fields.String(required=True)
    image_type = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(dump_only=True)


# --- builds --------------------------------------------------------------------------------


class BuildCreateSchema(InputSchema):
    class Meta:
        model = Build

    build_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                                metadata={"description": "The pipeline's own id; repeats are answered idempotently"})
    platform = ma.fields.String(required=True, metadata={"example": "aws-commercial"})
    os_version = ma.fields.String(required=True, metadata={"example": "rhel-8.8"})
    image_type = ma.fields.String(required=True, metadata={"example": "base"})
    pipeline_url = ma.fields.Url(load_default="", validate=ma.validate.Length(max=2000),
                                 schemes={"http", "https"})
    commit_hash = ma.fields.String(load_default="", validate=ma.validate.Regexp(COMMIT_RE, error="hex, up to 64"))
    repository = RepositoryRef(load_default=None, allow_none=True)
    metadata = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    final_state = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=0, max=9999),
                                    metadata={"description": "The state at which this pipeline is done: reaching it "
                                              "ends the build as succeeded (default: only terminal states end it)"})


class BuildStateSchema(ma.Schema):
    """Where a build is now."""

    uuid = ma.fields.UUID()
    build_id = ma.fields.String()
    current_state = ma.fields.Nested(StateCodeSchema)
    result = ma.fields.String(metadata={"enum": list(RESULTS)})
    in_flight = ma.fields.Boolean()
    message = ma.fields.String(attribute="current_message")
    updated_at = ma.fields.DateTime(attribute="current_state_at")
    finished_at = ma.fields.DateTime(allow_none=True)
    final_state = ma.fields.Integer(attribute="final_state_code", allow_none=True)


class BuildSchema(BuildStateSchema):
    platform = ma.fields.Function(lambda b: b.platform.slug)
    os_version = ma.fields.Function(lambda b: b.os_version.slug)
    image_type = ma.fields.Function(lambda b: b.image_type.slug)
    repository = ma.fields.Function(lambda b: b.repository.full_name if b.repository is not None else None)
    pipeline_url = ma.fields.String()
    commit_hash = ma.fields.String()
    metadata = ma.fields.Dict(attribute="build_metadata")
    source = ma.fields.String()
    created_at = ma.fields.DateTime()
    duration_seconds = ma.fields.Integer(allow_none=True)
    failure_count = ma.fields.Integer()


class StateReportSchema(InputSchema):
    state_code = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=9999),
                                   metadata={"example": 25})
    message = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    occurred_at = _when(load_default=None, metadata={"description": "When it happened (default: now)"})


class StateEventSchema(ma.Schema):
    state_code = ma.fields.Integer()
    name = ma.fields.Function(lambda e: e.state.name)
    phase = ma.fields.Function(lambda e: e.state.phase)
    message = ma.fields.String()
    occurred_at = ma.fields.DateTime()
    recorded_at = ma.fields.DateTime()
    applied = ma.fields.Boolean(metadata={"description": "false: older than the current state, kept in history"})
    reported_by = ma.fields.String()


class StateRecordedSchema(BuildStateSchema):
    event = ma.fields.Nested(StateEventSchema)
    appended = ma.fields.Boolean(metadata={"description": "false when this exact report was recorded before"})


class BuildHistorySchema(ma.Schema):
    uuid = ma.fields.UUID()
    build_id = ma.fields.String()
    current_state = ma.fields.Nested(StateCodeSchema)
    events = ma.fields.List(ma.fields.Nested(StateEventSchema))


class FailureReportSchema(InputSchema):
    error_message = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))
    error_code = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    component = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    details = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    occurred_at = _when(load_default=None)


class FailureSchema(ma.Schema):
    id = ma.fields.Integer()
    error_message = ma.fields.String()
    error_code = ma.fields.String()
    component = ma.fields.String()
    details = ma.fields.Dict()
    occurred_at = ma.fields.DateTime()
    reported_by = ma.fields.String()


class BuildListArgs(InputSchema, PageArgsSchema):
    build_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200),
                                metadata={"description": "The pipeline's own id (exact)"})
    platform = ma.fields.String(load_default=None)
    os_version = ma.fields.String(load_default=None)
    image_type = ma.fields.String(load_default=None)
    state = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=0, max=9999),
                              metadata={"description": "Current state code"})
    result = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RESULTS))
    commit = ma.fields.String(load_default=None, metadata={"description": "Commit hash or its prefix"})
    repository = ma.fields.String(load_default=None, metadata={"description": "owner/name"})
    since = _when(load_default=None)
    until = _when(load_default=None)
    text = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200),
                            metadata={"description": "Matches build id, commit, pipeline URL, last message"})


BuildPageSchema = page_schema(BuildSchema, "BuildPage")


# --- dashboards ----------------------------------------------------------------------------


class DashboardSummarySchema(ma.Schema):
    generated_at = ma.fields.String()
    window_days = ma.fields.Integer()
    total = ma.fields.Integer()
    in_flight = ma.fields.Integer()
    by_state = ma.fields.List(ma.fields.Dict())
    by_phase = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    success_rate = ma.fields.Dict(metadata={"description": "24h, 7d, 30d: succeeded, failed, cancelled, rate"})
    duration_by_platform = ma.fields.List(ma.fields.Dict())
    per_day = ma.fields.List(ma.fields.Dict())


class DashboardRecentSchema(ma.Schema):
    generated_at = ma.fields.String()
    builds = ma.fields.List(ma.fields.Dict())
    in_flight = ma.fields.List(ma.fields.Dict())


class DashboardPlatformSchema(ma.Schema):
    generated_at = ma.fields.String()
    platform = ma.fields.Dict()
    window_days = ma.fields.Integer()
    totals = ma.fields.Dict()
    success_rate = ma.fields.Float(allow_none=True)
    median_seconds = ma.fields.Integer(allow_none=True)
    by_os_version = ma.fields.List(ma.fields.Dict())
    by_image_type = ma.fields.List(ma.fields.Dict())
    per_day = ma.fields.List(ma.fields.Dict())
    recent = ma.fields.List(ma.fields.Dict())


class DashboardFailuresSchema(ma.Schema):
    generated_at = ma.fields.String()
    last_7d = ma.fields.Dict(data_key="7d", attribute="7d")
    last_30d = ma.fields.Dict(data_key="30d", attribute="30d")
