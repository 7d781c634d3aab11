"""The App's webhook delivery log in the fake GitHub: list it (cursor pages), ask for a redelivery.

State lives in `state.extra["deliveries"]`:

    log = fake_github.state.extra["deliveries"]
    add_log_entry(fake_github.state, guid="...", status_code=503, event="push")   # newest first
    log["attempts"]          # ids of log entries a redelivery was asked for, in order

Shapes come from ../shared/github/rest/apps/list-webhook-deliveries.json. Pages follow GitHub:
`per_page` (max 100) and an opaque `cursor`, with the next page's URL in the Link header. Asking for
a redelivery (POST /app/hook/deliveries/{id}/attempts) answers 202 (404 for an unknown id) and
records the id; tests decide what GitHub then delivers (fail it with `fake_github.fail(...)`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, request

from sandbox.github.server import json_response, not_found, require_app
from sandbox.github.state import FakeState, rest_example

AREA = "deliveries"
_lock = threading.Lock()  # events are sent from several threads at once (runners, requests, tests)


def reset(state: FakeState) -> None:
    state.extra[AREA] = {"entries": [], "attempts": [], "ids": itertools.count(9_000_000)}


def _log(state: FakeState) -> dict[str, Any]:
    if AREA not in state.extra:
        reset(state)
    return state.extra[AREA]


def add_log_entry(state: FakeState, *, guid: str, status_code: int = 200, event: str = "push",
                  action: str | None = None, redelivery: bool = False, age: timedelta = timedelta(0),
                  installation_id: int | None = 101, repository_id: int | None = 1001) -> dict[str, Any]:
    """Record one delivery attempt in the App's log (the newest so far, unless `age` says otherwise)."""
    log = _log(state)
    entry = rest_example("apps/list-webhook-deliveries")[0]
    entry.update({
        "guid": guid,
        "delivered_at": (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "redelivery": redelivery,
        "status": "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}",
        "status_code": status_code,
        "event": event,
        "action": action,
        "installation_id": installation_id,
        "repository_id": repository_id,
        "throttled_at": None,
    })
    with _lock:  # ids only grow, so the newest entry goes first
        entry["id"] = next(log["ids"])
        log["entries"].insert(0, entry)
    return entry


def register(app: Flask, state_ref: Callable[[], FakeState]) -> None:
    @app.get("/app/hook/deliveries")
    def list_app_hook_deliveries() -> Any:
        require_app()
        entries = _log(state_ref())["entries"]
        try:
            per_page = min(max(int(request.args.get("per_page", 30)), 1), 100)
        except ValueError:
            return json_response({"message": "per_page must be a number"}, 422)
        start = 0
        cursor = request.args.get("cursor")
        if cursor:
            # GitHub's cursors are opaque; this one names the first entry id of the page.
            try:
                first_id = int(cursor.removeprefix("v1_"))
            except ValueError:
                return json_response({"message": "Invalid cursor"}, 400)
            start = next((i for i, e in enumerate(entries) if e["id"] <= first_id), len(entries))
        page = entries[start:start + per_page]
        response = json_response(page)
        if start + per_page < len(entries):
            next_id = entries[start + per_page]["id"]
            url = f"{request.host_url.rstrip('/')}/app/hook/deliveries?per_page={per_page}&cursor=v1_{next_id}"
            response.headers["Link"] = f'<{url}>; rel="next"'
        return response

    @app.post("/app/hook/deliveries/<int:log_id>/attempts")
    def redeliver_app_hook_delivery(log_id: int) -> Any:
        require_app()
        log = _log(state_ref())
        if not any(e["id"] == log_id for e in log["entries"]):
            return not_found()
        log["attempts"].append(log_id)
        return json_response({}, 202)
