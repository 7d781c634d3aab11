"""/api/v1/webhooks: the delivery log, one delivery with its payload and result, re-processing."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth.access import api_requires
from webapp.extensions import Blueprint
from webapp.webhooks import service
from webapp.webhooks.schemas import DeliveryListArgs, DeliveryPageSchema, DeliverySchema

blp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks",
                description="GitHub webhook deliveries: log, payloads, results, re-processing")


@blp.route("/deliveries")
class DeliveriesView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List stored deliveries, newest first (cursor pagination; filter by event, action, status, repository)"""
        return service.list_deliveries(g.principal, **args)


@blp.route("/deliveries/<int:delivery_pk>")
class DeliveryView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DeliverySchema)
    def get(self, delivery_pk: int) -> Any:
        """One delivery with its payload and each handler's result"""
        return service.get_delivery(g.principal, delivery_pk)


@blp.route("/deliveries/<int:delivery_pk>/reprocess")
class ReprocessView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.response(202, DeliverySchema)
    @blp.alt_response(409, description="Retention removed the payload (payload_purged): nothing to process")
    def post(self, delivery_pk: int) -> Any:
        """Run a delivery's handlers again (audited); it is queued and its status reset to received"""
        return service.reprocess(g.principal, delivery_pk, actor=g.principal.user)
