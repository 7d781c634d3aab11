"""/api/v1/forwarding: targets, their delivery log, recovery and re-sends."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth.access import api_requires
from webapp.core.pagination import PageArgsSchema
from webapp.extensions import Blueprint
from webapp.forwarding import outbox, service
from webapp.forwarding.schemas import (
    ForwardDeliveryDetailSchema,
    ForwardDeliveryListArgs,
    ForwardDeliveryPageSchema,
    ForwardDeliverySchema,
    ForwardRecoveredSchema,
    ForwardRecoverSchema,
    ForwardRotateSecretSchema,
    ForwardTargetCreateSchema,
    ForwardTargetPageSchema,
    ForwardTargetSchema,
    ForwardTargetUpdateSchema,
    ForwardTargetWithSecretSchema,
)

blp = Blueprint("forwarding_api", __name__, url_prefix="/api/v1/forwarding",
                description="Forward selected GitHub events to deployment platforms")


@blp.route("/targets")
class TargetsView(MethodView):
    @api_requires("maintainer", "read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ForwardTargetPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List forward targets you can manage (newest first)"""
        return service.page_targets(g.principal, cursor=args["cursor"], limit=args["limit"])

    @api_requires("maintainer", "webhooks:write")
    @blp.arguments(ForwardTargetCreateSchema)
    @blp.response(201, ForwardTargetWithSecretSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a forward target; the signing secret is in this answer only"""
        target, _ = service.create_target(g.principal, body, actor=g.principal.user)
        return target


@blp.route("/targets/<int:target_id>")
class TargetView(MethodView):
    @api_requires("maintainer", "read")
    @blp.response(200, ForwardTargetSchema)
    def get(self, target_id: int) -> Any:
        """Get a forward target"""
        return service.get_target(g.principal, target_id)

    @api_requires("maintainer", "webhooks:write")
    @blp.arguments(ForwardTargetUpdateSchema)
    @blp.response(200, ForwardTargetSchema)
    def patch(self, body: dict[str, Any], target_id: int) -> Any:
        """Change a forward target; `active: true` re-enables a disabled one"""
        return service.update_target(g.principal, target_id, body, actor=g.principal.user)

    @api_requires("maintainer", "webhooks:write")
    @blp.response(204)
    def delete(self, target_id: int) -> None:
        """Delete a forward target and its delivery log"""
        service.delete_target(g.principal, target_id, actor=g.principal.user)


@blp.route("/targets/<int:target_id>/rotate-secret")
class RotateSecretView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.arguments(ForwardRotateSecretSchema)
    @blp.response(200, ForwardTargetWithSecretSchema)
    def post(self, body: dict[str, Any], target_id: int) -> Any:
        """Rotate the signing secret; the old one keeps signing too for 24 hours"""
        target, _ = service.rotate_secret(g.principal, target_id, actor=g.principal.user,
                                          new_secret=body.get("secret"))
        return target


@blp.route("/targets/<int:target_id>/recover")
class RecoverView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.arguments(ForwardRecoverSchema)
    @blp.response(202, ForwardRecoveredSchema)
    def post(self, body: dict[str, Any], target_id: int) -> Any:
        """Re-send every failed delivery of the target created since a time"""
        ids = service.recover_failed_since(g.principal, target_id, body["since"], actor=g.principal.user)
        return {"recovered": len(ids), "delivery_ids": ids}


@blp.route("/targets/<int:target_id>/deliveries")
class TargetDeliveriesView(MethodView):
    @api_requires("maintainer", "read")
    @blp.arguments(ForwardDeliveryListArgs, location="query")
    @blp.response(200, ForwardDeliveryPageSchema)
    def get(self, args: dict[str, Any], target_id: int) -> Any:
        """The target's delivery log, newest first"""
        return outbox.page_deliveries(g.principal, target_id, status=args["status"], cursor=args["cursor"],
                                      limit=args["limit"])


@blp.route("/deliveries/<int:delivery_id>")
class DeliveryView(MethodView):
    @api_requires("maintainer", "read")
    @blp.response(200, ForwardDeliveryDetailSchema)
    def get(self, delivery_id: int) -> Any:
        """A delivery with every attempt: request, response, latency, next attempt"""
        return outbox.get_delivery(g.principal, delivery_id)


@blp.route("/deliveries/<int:delivery_id>/resend")
class ResendView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.response(202, ForwardDeliverySchema)
    def post(self, delivery_id: int) -> Any:
        """Send a delivery again now"""
        return outbox.resend(g.principal, delivery_id, actor=g.principal.user)
