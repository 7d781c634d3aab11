"""The Blueprint of a front door: its operations document FastAPI's error body, which is what they answer.

Gantry's own API documents `{"code", "message", "errors"}` as every operation's default error; a
front door answers `{"detail", "code"}` (webapp.compat.fastapi_error), so its OpenAPI operations
say so, and clients (and the schema fuzz test) read the shape they get.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import redirect, url_for
from flask.views import MethodView

from webapp.auth.access import public
from webapp.extensions import Blueprint
from webapp.webhooks.endpoint import github_webhook


class FastAPIErrorSchema(ma.Schema):
    """An error as FastAPI answers it."""

    detail = ma.fields.Raw(metadata={"description": "What went wrong: a sentence, or on 422 a list of "
                                                    "{loc, msg, type} per field"})
    code = ma.fields.String(metadata={"description": "Gantry's stable machine-readable error code"})


class _WithoutGantryDefaultError:
    """The Api, as seen by smorest's response documentation, minus Gantry's default error response."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, api: Any) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class FrontDoorBlueprint(Blueprint):
    """A Blueprint whose operations' default error response is FastAPI's `{"detail", "code"}`."""

    def documentation_at(self, swagger_ui: str = "/docs", redoc: str = "/redoc") -> None:
        """Answer the old service's interactive documentation paths (FastAPI's /docs and /redoc).

        They lead to Gantry's Swagger UI and ReDoc, opened at this front door's tag.
        """
        for path, name, target, anchor in ((swagger_ui, "docs", "api-docs.openapi_swagger_ui", "#/"),
                                           (redoc, "redoc", "api-docs.openapi_redoc", "#tag/")):
            self.route(path, endpoint=name)(self._documentation_view(target, anchor))

    def webhook_intake_at(self, path: str) -> None:
        """Answer GitHub's deliveries at the path the old service's webhook URL named: Gantry's intake itself."""
        blp = self

        class WebhookIntakeView(MethodView):
            @public  # authenticated by the delivery's signature, as at /webhooks/github
            @blp.doc(security=[])
            @blp.response(202, description="Stored and queued; 200 when this delivery id was received before")
            def post(self) -> Any:
                """Receives GitHub webhook events (the same intake as /webhooks/github)"""
                return github_webhook()

        self.route(path, endpoint="webhook")(WebhookIntakeView)

    def _documentation_view(self, endpoint: str, anchor: str) -> type[MethodView]:
        blp = self

        class DocumentationView(MethodView):
            @public
            @blp.doc(security=[])
            @blp.response(302, description="To Gantry's interactive API documentation, at this front door's tag")
            def get(self) -> Any:
                """The interactive API documentation (Gantry's, at this front door's tag)"""
                return redirect(url_for(endpoint) + anchor + blp.name, code=302)

        return DocumentationView

    @staticmethod
    def _prepare_response_doc(doc: Any, doc_info: Any, *, api: Any, spec: Any, **kwargs: Any) -> Any:
        operation = doc_info.setdefault("response", {})
        operation.setdefault("responses", {}).setdefault("default", []).append(
            {"description": "Error (FastAPI's shape)", "schema": FastAPIErrorSchema, "content_type": None})
        doc = Blueprint._prepare_response_doc(doc, doc_info, api=_WithoutGantryDefaultError(api), spec=spec,
                                              **kwargs)
        # @arguments documented its 422 as Gantry's error response: it is FastAPI's here too
        responses = doc.get("responses", {})
        fastapi = responses.get("default")
        for status, response in list(responses.items()):
            if fastapi and isinstance(response, str) and str(status).isdigit() and int(status) >= 400:
                responses[status] = {**fastapi, "description": HTTPStatus(int(status)).phrase}
        return doc
