"""Domain exceptions, and the one place each front door turns them into HTTP answers.

Services raise these; the API and webhook endpoints answer them as JSON
(`{"code", "message", "errors"}`), pages as an inline message or an error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/webhooks/")
ERROR_STYLES_KEY = "gantry.error_styles"

# (status, code, message, errors) -> the JSON response a front door answers errors with.
ErrorStyle = Callable[[int, str, str, dict[str, Any] | None], Response]


class GantryError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:
            self.code = code
        self.headers = headers or {}


class ValidationFailed(GantryError):
    status = 422
    code = "validation_error"


class Unauthorized(GantryError):
    status = 401
    code = "unauthorized"


class Forbidden(GantryError):
    status = 403
    code = "forbidden"


class NotFound(GantryError):
    status = 404
    code = "not_found"


class Conflict(GantryError):
    status = 409
    code = "conflict"


class PayloadTooLarge(GantryError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(GantryError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(GantryError):
    status = 429
    code = "rate_limited"


class Unavailable(GantryError):
    status = 503
    code = "unavailable"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def add_error_style(app: Flask, prefix: str, style: ErrorStyle) -> None:
    """Answer every error under `prefix` with `style` (a front door that speaks another system's JSON)."""
    app.extensions.setdefault(ERROR_STYLES_KEY, {})[prefix] = style


def _error_style() -> ErrorStyle | None:
    for prefix, style in current_app.extensions.get(ERROR_STYLES_KEY, {}).items():
        if request.path.startswith(prefix):
            return style
    return None


def wants_json() -> bool:
    """API and webhook paths always answer JSON; pages answer HTML."""
    return request.path.startswith(JSON_PREFIXES) or request.path in ("/api", "/webhooks")


def error_response(
    status: int,
    code: str,
    message: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response | tuple[Any, int, dict[str, str]]:
    headers = dict(headers or {})
    style = _error_style()
    if style is not None:
        response = style(status, code, message, errors)
        response.headers.update(headers)
        return response
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            body["errors"] = errors
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response
    if request.headers.get("HX-Request"):
        # An HTMX swap shows the message inline where the request was made.
        html = render_template("errors/inline.html", status=status, message=message, errors=errors or {})
        headers.setdefault("HX-Reswap", "innerHTML")
        return html, status, headers
    return render_template("errors/error.html", status=status, message=message), status, headers


def handle_gantry_error(error: GantryError) -> Any:
    return error_response(error.status, error.code, error.message, error.errors, error.headers)


def handle_http_exception(error: HTTPException) -> Any:
    status = error.code or 500
    code = HTTP_CODES.get(status, "error")
    message = error.description or error.name
    errors: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    data = getattr(error, "data", None)
    if isinstance(data, dict):
        message = data.get("message", message)
        errors = data.get("errors") or data.get("messages")
        headers = data.get("headers") or {}
        if status == 422 and errors and "message" not in data:
            message = "The request did not pass validation."
        if status == 400 and isinstance(errors, dict) and "json" in errors:
            message = "The request body is not valid JSON."
    if isinstance(error, CSRFError):
        code = "csrf_failed"
        message = "The form expired or was not sent by Gantry; reload the page and try again."
    if status == 405:
        valid = getattr(error, "valid_methods", None)
        if valid:
            headers["Allow"] = ", ".join(sorted(valid))
    if status == 413:
        message = "The request body is too large."
    if status == 429:
        message = f"Too many requests: {error.description}"
        retry = getattr(error, "retry_after", None)
        if retry:
            headers["Retry-After"] = str(retry)
    if status >= 500 and isinstance(error, InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled error", exc_info=original)
        message = "Something went wrong on our side; it has been logged."
    return error_response(status, code, message, errors, headers)


def _end_transaction() -> None:
    """Roll back the failed transaction, so that rendering the answer (a page's nav) can query again."""
    current_app.extensions["sqlalchemy"].session.rollback()


def handle_data_error(error: DataError) -> Any:
    """A value the database refuses (too long for its column, out of range): the caller's input, 422.

    Schemas bound what they know of; this is the net under every column they do not.
    """
    _end_transaction()
    log.warning("value refused by the database: %s", type(error.orig).__name__)
    return error_response(422, "validation_error", "A value is too long or out of range for what Gantry stores.")


def handle_integrity_error(error: IntegrityError) -> Any:
    """A unique constraint lost to a concurrent request: 409, as the service's own check would have said."""
    _end_transaction()
    if getattr(error.orig, "pgcode", None) == "23505" or "UNIQUE constraint failed" in str(error.orig):
        log.warning("unique constraint refused a write: %s", getattr(getattr(error.orig, "diag", None),
                                                                      "constraint_name", None))
        return error_response(409, "conflict", "That conflicts with something that exists already; reload "
                                               "and try again.")
    log.error("integrity error", exc_info=error)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(GantryError, handle_gantry_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
