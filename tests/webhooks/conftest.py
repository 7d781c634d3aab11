"""Fixtures for webhook tests: handlers registered for one test only, stored deliveries, repositories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.webhooks.helpers import post_webhook
from webapp.webhooks.router import EXTENSION_KEY, register_handler

TEST_EVENT = "gantry_test"  # an event no capability handles, so tests choose its handlers


@pytest.fixture
def handlers(app: Flask) -> Iterator[Callable[..., None]]:
    """Only the handlers this test registers: handlers("gantry_test", fn, actions={"x"}).

    The capabilities' own handlers (some listen to every event) are set aside until the test ends.
    """
    registry = app.extensions.setdefault(EXTENSION_KEY, {})
    saved = {event: list(items) for event, items in registry.items()}
    registry.clear()

    def add(event: str, fn: Callable[..., Any], **kwargs: Any) -> None:
        register_handler(app, event, fn, **kwargs)

    yield add
    registry.clear()
    registry.update(saved)


@pytest.fixture
def deliver(client: Any, db: Any) -> Callable[..., Any]:
    """POST a signed delivery and return its stored row: deliver(payload, event="gantry_test")."""
    from webapp.webhooks.models import WebhookDelivery

    def send(payload: dict[str, Any] | None = None, event: str = TEST_EVENT, delivery_id: str | None = None) -> Any:
        delivery_id = delivery_id or str(uuid.uuid4())
        response = post_webhook(client, event, payload or {"action": "poked"}, DEFAULT_WEBHOOK_SECRET, delivery_id)
        assert response.status_code == 202, response.get_data(as_text=True)
        db.session.expire_all()
        row = db.session.scalar(db.select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
        # Ids only: a worker run in this thread ends the session, detaching loaded rows.
        return SimpleNamespace(id=row.id, delivery_id=row.delivery_id)

    return send


@pytest.fixture
def repositories(db: Any) -> dict[str, Any]:
    """Installation 101 with acme/infrajet (1001) and acme/widgets (1002)."""
    from webapp.repos.models import Installation, Repository

    db.session.add(Installation(id=101, account_login="acme"))
    infrajet = Repository(id=1001, installation_id=101, owner="acme", name="infrajet", full_name="acme/infrajet")
    widgets = Repository(id=1002, installation_id=101, owner="acme", name="widgets", full_name="acme/widgets")
    db.session.add_all([infrajet, widgets])
    db.session.commit()
    return {"infrajet": infrajet, "widgets": widgets}


def grant(db: Any, user: Any, repository_id: int, permission: str = "write") -> None:
    from webapp.repos.models import RepositoryAccess

    db.session.add(RepositoryAccess(user_id=user.id, repository_id=repository_id, permission=permission))
    db.session.commit()


def repo_payload(repository_id: int, full_name: str, action: str = "poked") -> dict[str, Any]:
    return {"action": action, "repository": {"id": repository_id, "full_name": full_name},
            "installation": {"id": 101}}
