"""The Blueprint of a front door: its operations document FastAPI's error body, which is what they answer.

Gantry's own API documents `{"code", "message", "errors"}` as every operation's default error; a
front door answers `{"detail", "code"}` (webapp.compat.fastapi_error), so its OpenAPI operations
say so, and clients (and the schema fuzz test) read the shape they get.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import marshmallow as ma

from webapp.extensions import Blueprint


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
