"""The intake on SQLite, the database `make run` uses when DATABASE_URL is not set."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from flask_migrate import upgrade

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.core.conftest import build_app  # noqa: F401  (fixture)
from tests.webhooks.helpers import WEBHOOKS_DIR, post_webhook
from webapp.extensions import db
from webapp.webhooks.models import WebhookDelivery


def test_deliveries_are_stored_once_and_read_back_on_sqlite(build_app, tmp_path):  # noqa: F811
    local = build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'gantry.db'}", SQLALCHEMY_ENGINE_OPTIONS={},
                      GITHUB_WEBHOOK_SECRET=DEFAULT_WEBHOOK_SECRET, RATELIMIT_ENABLED=False)
    with local.app_context():
        upgrade()
    client = local.test_client()
    payload = json.loads((WEBHOOKS_DIR / "workflow_job" / "queued.json").read_text())
    delivery_id = str(uuid.uuid4())

    first = post_webhook(client, "workflow_job", payload, DEFAULT_WEBHOOK_SECRET, delivery_id)
    again = post_webhook(client, "workflow_job", payload, DEFAULT_WEBHOOK_SECRET, delivery_id)
    bad = post_webhook(client, "workflow_job", b'{"n": NaN}', DEFAULT_WEBHOOK_SECRET)

    assert first.status_code == 202, first.get_data(as_text=True)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert bad.status_code == 400 and bad.json["code"] == "bad_json"
    with local.app_context():
        [row] = db.session.scalars(sa.select(WebhookDelivery)).all()
        assert (row.delivery_id, row.event, row.action, row.status) == (delivery_id, "workflow_job", "queued",
                                                                       "received")
        assert row.payload == payload
        assert row.repository_full_name == payload["repository"]["full_name"]
        assert row.received_at.tzinfo is not None
        db.session.remove()
