"""The event router: capabilities register handlers for GitHub events; processing calls them.

A handler is `fn(event: WebhookEvent) -> str | None`. It runs inside the processing
transaction: it adds and changes rows but never commits (the processing task commits the
handlers' work together with the delivery's status, so a failure leaves nothing half-done).
Background work a handler starts is `jobs.defer`red: it is queued when that commit happens.
Handlers must be idempotent: a redelivery or a retry calls them again with the same event.

    from webapp.webhooks.router import register_handler

    def init_app(app):
        register_handler(app, "workflow_job", on_workflow_job)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app

EXTENSION_KEY = "gantry.webhook_handlers"


@dataclass(frozen=True)
class WebhookEvent:
    """One stored GitHub delivery, as handlers see it."""

    delivery_pk: int  # row id in webhook_deliveries
    delivery_id: str  # GitHub's X-GitHub-Delivery
    event: str  # X-GitHub-Event
    action: str | None
    payload: dict[str, Any]
    installation_id: int | None
    repository_id: int | None
    received_at: datetime
    hook_id: int | None = None

    @property
    def repository_full_name(self) -> str | None:
        repo = self.payload.get("repository") or {}
        return repo.get("full_name")


Handler = Callable[[WebhookEvent], "str | None"]


@dataclass
class _Registration:
    name: str
    handler: Handler
    actions: frozenset[str] | None = field(default=None)


def register_handler(app: Flask, event: str, handler: Handler, *, actions: set[str] | None = None,
                     name: str | None = None) -> None:
    """Call `handler` for every `event` delivery (optionally only for some actions)."""
    registry: dict[str, list[_Registration]] = app.extensions.setdefault(EXTENSION_KEY, {})
    registry.setdefault(event, []).append(
        _Registration(name or f"{handler.__module__}.{handler.__name__}", handler,
                      frozenset(actions) if actions else None)
    )


def handlers_for(event: str, action: str | None, app: Flask | None = None) -> list[tuple[str, Handler]]:
    app = app or current_app
    registry: dict[str, list[_Registration]] = app.extensions.get(EXTENSION_KEY, {})
    return [
        (r.name, r.handler)
        for r in registry.get(event, []) + registry.get("*", [])
        if r.actions is None or (action is not None and action in r.actions)
    ]
