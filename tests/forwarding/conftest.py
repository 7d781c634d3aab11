"""Forwarding fixtures: a local receiver, a controllable clock, targets, and events from real payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.shared_data import WEBHOOKS_DIR

PAYLOADS = WEBHOOKS_DIR


# --- a Standard Webhooks verifier, written from the specification ---------------------------


class VerificationError(Exception):
    pass


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, *, now: float,
                            tolerance: int = 300) -> None:
    """Verify like a receiver following standardwebhooks.com: id, timestamp window, any v1 signature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing headers")
    if abs(now - int(timestamp)) > tolerance:
        raise VerificationError("timestamp outside tolerance")
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise VerificationError("no matching signature")


# --- the receiver --------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
                reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                if reply.delay:
                    receiver.release.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_receiver() -> Iterator[Callable[[], Receiver]]:
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


# --- settings and clock --------------------------------------------------------------------


@pytest.fixture
def forwarding_settings(app: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Let the tests forward to receivers on 127.0.0.1 over http, with short timeouts."""
    monkeypatch.setitem(app.config, "FORWARDING_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", ["127.0.0.1/32"])
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_HOSTS", [])
    monkeypatch.setitem(app.config, "FORWARDING_TOTAL_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "FORWARDING_CONNECT_TIMEOUT", 1.0)
    return app.config


def purge_forwarded() -> int:
    """Run retention's purge of forward deliveries now (as the test clock has it); how many went."""
    from webapp.ops.retention import purge

    return int(purge(only={"forward_deliveries"})["kinds"]["forward_deliveries"]["rows"])


# --- targets and events --------------------------------------------------------------------


@pytest.fixture
def make_repo(app: Any) -> Callable[..., Any]:
    from webapp.extensions import db
    from webapp.repos.models import Repository

    def make(repo_id: int, full_name: str | None = None) -> Any:
        full_name = full_name or f"octo/repo{repo_id}"
        owner, name = full_name.split("/")
        repo = Repository(id=repo_id, owner=owner, name=name, full_name=full_name)
        db.session.add(repo)
        db.session.commit()
        return repo

    return make


@pytest.fixture
def grant(app: Any) -> Callable[[Any, int], None]:
    from webapp.extensions import db
    from webapp.repos.models import RepositoryAccess

    def give(user: Any, repo_id: int) -> None:
        db.session.add(RepositoryAccess(user_id=user.id, repository_id=repo_id, permission="write"))
        db.session.commit()

    return give


@pytest.fixture
def make_target(app: Any, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """Insert a target directly (no URL check at creation: the send-time check is what is tested)."""
    from webapp.extensions import db
    from webapp.forwarding import signing
    from webapp.forwarding.models import ForwardTarget, ForwardTargetRepository

    owner_holder: list[Any] = []

    def make(url: str, *, repository_ids: tuple[int, ...] = (), owner: Any = None, **fields: Any) -> Any:
        if owner is None:
            if not owner_holder:
                owner_holder.append(make_user("maintainer"))
            owner = owner_holder[0]
        fields.setdefault("name", "deploy")
        fields.setdefault("secret", signing.new_secret())
        target = ForwardTarget(url=url, owner_id=owner.id, **fields)
        target.repositories = [ForwardTargetRepository(repository_id=r) for r in repository_ids]
        db.session.add(target)
        db.session.commit()
        # Loaded and detached: running jobs ends the test's session as a worker does, and the
        # returned object must stay readable after that.
        db.session.refresh(target)
        target.repositories  # noqa: B018
        db.session.expunge(target)
        return target

    return make


def load_payload(event: str, name: str = "default") -> dict[str, Any]:
    return json.loads((PAYLOADS / event / f"{name}.json").read_text())


_counter = iter(range(1, 1_000_000))


def webhook_event(event: str, name: str = "default", *, payload: dict[str, Any] | None = None,
                  delivery_id: str | None = None) -> Any:
    from webapp.webhooks.router import WebhookEvent

    payload = payload if payload is not None else load_payload(event, name)
    repo = payload.get("repository") or {}
    n = next(_counter)
    return WebhookEvent(
        delivery_pk=n,
        delivery_id=delivery_id or f"d{n:06d}-0000-4000-8000-000000000000",
        event=event,
        action=payload.get("action"),
        payload=payload,
        installation_id=(payload.get("installation") or {}).get("id"),
        repository_id=repo.get("id"),
        received_at=datetime.now(UTC),
    )


@pytest.fixture
def process(app: Any) -> Callable[[Any], str | None]:
    """Do what the intake's processing task does: call the handler, commit (which queues its sends)."""
    from webapp.extensions import db
    from webapp.forwarding.outbox import on_event

    def run(event: Any) -> str | None:
        result = on_event(event)
        db.session.commit()
        return result

    return run
