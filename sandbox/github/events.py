"""Webhooks from the GitHub simulator: events signed with the App's secret, POSTed to the App's webhook URL.

State lives in `state.extra["events"]`: `target` (the App's webhook URL; None sends nothing) and
`sent` (every delivery: event, guid, status code). Each delivery is also written to the App's delivery
log (sandbox/github/deliveries.py), as GitHub does, so Gantry's redelivery check sees it.

    events.set_target(state, "http://127.0.0.1:5000/webhooks/github")
    events.send(state, "workflow_job", {"action": "queued", ...}, installation_id=900001)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from sandbox.github.deliveries import add_log_entry
from sandbox.github.state import DEFAULT_APP_ID, FakeState

AREA = "events"


def reset(state: FakeState) -> None:
    state.extra[AREA] = {"target": None, "sent": []}


def _area(state: FakeState) -> dict[str, Any]:
    if AREA not in state.extra:
        reset(state)
    return state.extra[AREA]


def set_target(state: FakeState, url: str | None) -> None:
    """Where the App's webhooks go (GitHub App settings -> Webhook URL)."""
    _area(state)["target"] = url


def sent(state: FakeState) -> list[dict[str, Any]]:
    return list(_area(state)["sent"])


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(state: FakeState, event: str, payload: dict[str, Any], *, installation_id: int | None = None,
         app_id: int = DEFAULT_APP_ID, timeout: float = 10) -> int | None:
    """Deliver one event as GitHub would; the HTTP status Gantry answered (None: no target or unreachable)."""
    area = _area(state)
    target = area["target"]
    if not target:
        return None
    body = dict(payload)
    if installation_id is not None:
        body.setdefault("installation", {"id": installation_id, "node_id": f"I_{installation_id}"})
    raw = json.dumps(body).encode()
    guid = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/sandbox",
               "X-GitHub-Event": event, "X-GitHub-Delivery": guid,
               "X-GitHub-Hook-Installation-Target-Type": "integration",
               "X-GitHub-Hook-Installation-Target-ID": str(app_id),
               "X-Hub-Signature-256": sign(state.apps[app_id]["webhook_secret"], raw)}
    try:
        status: int | None = httpx.post(target, content=raw, headers=headers, timeout=timeout).status_code
    except httpx.HTTPError:
        status = None
    repository = body.get("repository") or {}
    add_log_entry(state, guid=guid, status_code=status or 502, event=event, action=body.get("action"),
                  installation_id=installation_id, repository_id=repository.get("id"))
    area["sent"].append({"event": event, "action": body.get("action"), "guid": guid, "status": status})
    return status
