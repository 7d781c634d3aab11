"""Post GitHub webhooks to Gantry the way GitHub does: signed body, event and delivery headers.

    from tests.webhooks.helpers import post_webhook, payload_files
    from tests.shared_data import webhook_payload
    from sandbox.github import DEFAULT_WEBHOOK_SECRET

    response = post_webhook(client, "workflow_job", webhook_payload("workflow_job", "queued"),
                            DEFAULT_WEBHOOK_SECRET)
    assert response.status_code == 202
    run_jobs()   # processes it: the router calls the handlers registered for workflow_job
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.shared_data import WEBHOOKS_DIR

__all__ = ["WEBHOOKS_DIR", "payload_files", "post_webhook", "signature", "webhook_request"]


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_request(event: str, payload: dict[str, Any] | bytes, secret: str | None, delivery_id: str | None = None,
                    *, form: bool = False, hook_id: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub would send (JSON, or form-encoded with `payload=` when `form`)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if form:
        body = urlencode({"payload": raw.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body = raw
        content_type = "application/json"
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    if hook_id is not None:
        headers["X-GitHub-Hook-ID"] = str(hook_id)
    if secret is not None:
        headers["X-Hub-Signature-256"] = signature(secret, body)
    return body, headers


def post_webhook(client: Any, event: str, payload: dict[str, Any] | bytes, secret: str | None,
                 delivery_id: str | None = None, *, form: bool = False, hook_id: int | None = None,
                 headers: dict[str, str] | None = None) -> Any:
    """POST a signed delivery to /webhooks/github (no signature when `secret` is None)."""
    body, sent = webhook_request(event, payload, secret, delivery_id, form=form, hook_id=hook_id)
    sent.update(headers or {})
    return client.post("/webhooks/github", data=body, headers=sent)


def payload_files() -> list[Path]:
    """Every real payload in ../shared/github/webhooks (event = the folder's name)."""
    return sorted(p for p in WEBHOOKS_DIR.glob("*/*.json"))
