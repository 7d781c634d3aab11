"""Structured logs with a request id that follows a request into the jobs it enqueues."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The client's address, set by the front door for the length of a request: services (the audit log)
# read it from here, never from Flask's request.
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"


def current_client_address() -> str | None:
    return client_address_var.get()


def current_request_id() -> str | None:
    if has_request_context() and getattr(g, "request_id", None):
        return str(g.request_id)
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    def __init__(self, environment: str = "development") -> None:
        super().__init__()
        self.environment = environment

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        record.environment = self.environment
        return True


def configure_logging(level: str, fmt: str, environment: str = "development") -> None:
    """Send every log record to stderr, as JSON lines (naming the environment, so staging's lines are
    never taken for production's) or as readable text, with its request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter(environment))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(environment)s", timestamp=True))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_gantry", False):
            root.removeHandler(existing)
    handler._gantry = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], app.config["ENVIRONMENT"])

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.client_address_token = client_address_var.set(request.remote_addr)

    @app.teardown_request
    def forget_client_address(exc: BaseException | None = None) -> None:
        token = g.pop("client_address_token", None)
        if token is not None:
            client_address_var.reset(token)

    @app.after_request
    def return_request_id(response: Response) -> Response:
        if getattr(g, "request_id", None):
            response.headers["X-Request-ID"] = g.request_id
        return response
