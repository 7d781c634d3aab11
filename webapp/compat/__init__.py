"""Front doors for the systems Gantry replaces (../shared/seeds/), one blueprint per system.

Each module maps one system's documented requests and answers onto the services that /api/v1 and
the pages use; no rule, access check or write lives here. Their errors are FastAPI's
`{"detail": ...}` (the style every seed document was written against), always JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from webapp.compat import blazeci, build_state, infrajet, release_manager, webhook_manager
from webapp.core.errors import add_error_style
from webapp.extensions import api

PREFIX = "/compat/"

# The front doors, in the order the seed documents are numbered. A module listed here exposes `blp`,
# a smorest Blueprint under /compat/<system>, whose name is its tag in the OpenAPI document.
FRONT_DOORS = (blazeci, release_manager, infrajet, build_state, webhook_manager)


def init_app(app: Flask) -> None:
    """Register every front door's blueprint and their FastAPI-style error answers."""
    for front_door in FRONT_DOORS:
        api.register_blueprint(front_door.blp)
    add_error_style(app, PREFIX, fastapi_error)


def fastapi_error(status: int, code: str, message: str, errors: dict[str, Any] | None) -> Response:
    """An error as FastAPI answers it: `{"detail": ...}`, with a list of field problems on 422.

    `code` is Gantry's stable error code, kept beside `detail` so a client can tell refusals apart
    without parsing prose; FastAPI clients read `detail` and ignore it.
    """
    detail: Any = message
    if status in (400, 422) and errors:
        detail = validation_detail(errors)
    response = jsonify({"detail": detail, "code": code})
    response.status_code = status
    return response


def validation_detail(errors: dict[str, Any]) -> list[dict[str, Any]]:
    """marshmallow's nested messages as FastAPI's `[{"loc", "msg", "type"}]` list."""
    where = {"json": "body", "query": "query", "view_args": "path", "headers": "header", "form": "body"}
    detail: list[dict[str, Any]] = []

    def walk(value: Any, loc: list[str | int]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, [*loc, key])
        elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            for msg in value:
                detail.append({"loc": loc, "msg": msg, "type": "value_error"})
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, [*loc, index])
        else:
            detail.append({"loc": loc, "msg": str(value), "type": "value_error"})

    for location, messages in errors.items():
        if location in where:
            walk(messages, [where[location]])
        else:
            walk(messages, ["body", location])
    return detail
