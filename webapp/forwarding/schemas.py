"""Request and response shapes of the forwarding API."""

from __future__ import annotations

import marshmallow as ma

from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.forwarding.models import DELIVERY_STATUSES

_EVENTS_HELP = "Event filters: 'push', 'release.published' (event.action) or '*'; empty means every event"


class ForwardTargetSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String(), metadata={"description": _EVENTS_HELP})
    repository_ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "Empty means every repository"})
    branch_patterns = ma.fields.List(ma.fields.String())
    tag_patterns = ma.fields.List(ma.fields.String())
    github_signature = ma.fields.Boolean(metadata={"description": "Also send X-Hub-Signature-256"})
    active = ma.fields.Boolean()
    disabled_reason = ma.fields.String(allow_none=True)
    disabled_at = ma.fields.DateTime(allow_none=True)
    failing_since = ma.fields.DateTime(allow_none=True)
    previous_secret_expires_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "Until when the secret before the last rotation also signs"}
    )
    owner = ma.fields.Function(lambda t: t.owner.username if t.owner else None)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ForwardTargetWithSecretSchema(ForwardTargetSchema):
    """Only in the answers to create and rotate: the secret is never shown again."""

    secret = ma.fields.String(metadata={"description": "The signing secret. Shown once: store it now."})


class ForwardTargetFields(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    url = ma.fields.String(validate=ma.validate.Length(min=1, max=2000))
    events = ma.fields.List(ma.fields.String(), metadata={"description": _EVENTS_HELP})
    repository_ids = ma.fields.List(ma.fields.Integer(strict=True))
    branch_patterns = ma.fields.List(ma.fields.String(), metadata={"description": "Globs such as 'release/*'"})
    tag_patterns = ma.fields.List(ma.fields.String(), metadata={"description": "Globs such as 'v*'"})
    github_signature = ma.fields.Boolean()


class ForwardTargetCreateSchema(ForwardTargetFields):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    secret = ma.fields.String(load_only=True, metadata={"description": "Optional; generated when omitted"})


class ForwardTargetUpdateSchema(ForwardTargetFields):
    active = ma.fields.Boolean(metadata={"description": "false pauses; true re-enables a disabled target"})


class ForwardRotateSecretSchema(ma.Schema):
    secret = ma.fields.String(load_default=None, allow_none=True, load_only=True,
                              metadata={"description": "Optional; generated when omitted"})


class ForwardRecoverSchema(ma.Schema):
    since = ma.fields.AwareDateTime(required=True, metadata={"description": "Re-send failed deliveries since"})


class ForwardRecoveredSchema(ma.Schema):
    recovered = ma.fields.Integer()
    delivery_ids = ma.fields.List(ma.fields.Integer())


class ForwardDeliveryListArgs(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUSES))


class ForwardAttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    started_at = ma.fields.DateTime()
    url = ma.fields.String()
    address = ma.fields.String(allow_none=True)
    outcome = ma.fields.String()
    error = ma.fields.String(allow_none=True)
    latency_ms = ma.fields.Integer(allow_none=True)
    request_headers = ma.fields.Dict()
    request_body = ma.fields.String()
    response_status = ma.fields.Integer(allow_none=True)
    response_headers = ma.fields.Dict()
    response_body = ma.fields.String(allow_none=True, metadata={"description": "Truncated at 64 KB"})
    next_attempt_at = ma.fields.DateTime(allow_none=True)


class ForwardDeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    message_id = ma.fields.String(metadata={"description": "The webhook-id header, the same on every attempt"})
    target_id = ma.fields.Integer()
    github_delivery_id = ma.fields.String()
    event = ma.fields.String()
    action = ma.fields.String(allow_none=True)
    repository_id = ma.fields.Integer(allow_none=True)
    repository_full_name = ma.fields.String(allow_none=True)
    received_at = ma.fields.DateTime()
    status = ma.fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempt_count = ma.fields.Integer()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    last_attempt_at = ma.fields.DateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    succeeded_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class ForwardDeliveryDetailSchema(ForwardDeliverySchema):
    attempts = ma.fields.List(ma.fields.Nested(ForwardAttemptSchema))


ForwardTargetPageSchema = page_schema(ForwardTargetSchema, "ForwardTargetPage")
ForwardDeliveryPageSchema = page_schema(ForwardDeliverySchema, "ForwardDeliveryPage")
