"""Request and response shapes of the webhook delivery log API."""

from __future__ import annotations

import marshmallow as ma

from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.webhooks.models import STATUSES


class DeliveryListArgs(PageArgsSchema):
    event = ma.fields.String(load_default=None, metadata={"description": "X-GitHub-Event, e.g. workflow_job"})
    action = ma.fields.String(load_default=None, metadata={"description": "The payload's action, e.g. queued"})
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STATUSES),
                              metadata={"description": "Processing status"})
    repository = ma.fields.String(load_default=None,
                                  metadata={"description": "Repository full name (owner/name) or numeric id"})


class DeliverySummarySchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "Gantry's id for the stored delivery"})
    delivery_id = ma.fields.String(metadata={"description": "GitHub's X-GitHub-Delivery GUID"})
    event = ma.fields.String()
    action = ma.fields.String(allow_none=True)
    hook_id = ma.fields.Integer(allow_none=True)
    installation_id = ma.fields.Integer(allow_none=True)
    repository_id = ma.fields.Integer(allow_none=True)
    repository_full_name = ma.fields.String(allow_none=True)
    verified_with = ma.fields.String(metadata={"description": "Which secret signed it: app or hook"})
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    attempts = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    received_at = ma.fields.DateTime()
    processed_at = ma.fields.DateTime(allow_none=True)


class DeliverySchema(DeliverySummarySchema):
    payload = ma.fields.Dict(metadata={"description": "The payload exactly as GitHub sent it ({} once retention "
                                                      "removed it: see payload_purged_at)"})
    payload_purged_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When retention removed the payload of this handled delivery (RETENTION_DELIVERY_PAYLOAD_DAYS)"})
    result = ma.fields.Dict(allow_none=True, metadata={"description": "What each handler returned"})


DeliveryPageSchema = page_schema(DeliverySummarySchema, "WebhookDeliveryPage")
