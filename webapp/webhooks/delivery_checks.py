"""Checking a delivery before it is stored: its signature and secret, size, content type, headers and payload."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from flask import current_app

from webapp.core.crypto import constant_time_equals
from webapp.core.errors import Forbidden, GantryError, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from webapp.core.inputs import loads_json
from webapp.repos.app_config import get_app_settings
from webapp.repos.service import hook_covers, webhook_secret_for_hook

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_PREFIX = "sha256="
DELIVERY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")
EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
SECRET_CACHE_KEY = "gantry.webhook_secret"
SECRET_CACHE_SECONDS = 60


class BadDelivery(GantryError):
    status = 400
    code = "bad_delivery"


def app_webhook_secret(*, refresh: bool = False) -> str | None:
    """The GitHub App's webhook secret: GITHUB_WEBHOOK_SECRET, else what the manifest flow stored.

    The stored secret is kept in memory for SECRET_CACHE_SECONDS so that the intake does not read
    (and decrypt) it for every delivery; a signature that does not match reads it again.
    """
    configured = current_app.config.get("GITHUB_WEBHOOK_SECRET")
    if configured:  # the environment overrides the stored App settings (webapp/repos/app_config.py)
        return str(configured)
    cache: dict[str, Any] = current_app.extensions.setdefault(SECRET_CACHE_KEY, {})
    if not refresh and cache and time.monotonic() - cache["read_at"] < SECRET_CACHE_SECONDS:
        return cache["secret"]

    settings = get_app_settings()
    secret = settings.webhook_secret if settings is not None and settings.webhook_secret else None
    cache.update(secret=secret, read_at=time.monotonic())
    return secret


def hook_webhook_secret(hook_id: int) -> str | None:
    """The secret of a repository hook Gantry created, if `hook_id` is one of them."""
    return webhook_secret_for_hook(hook_id)


def check_hook_scope(hook_id: int | None, repository_id: int | None, installation_id: int | None) -> None:
    """Refuse a delivery a repository hook's secret signed that names another repository or installation.

    The App's secret speaks for every installation; a hook's only for the repository it was set
    up on, so a leaked hook secret cannot forge events for the rest of the organisation.
    """
    if hook_id is None or not hook_covers(hook_id, repository_id, installation_id):
        raise Forbidden("This repository hook's secret only verifies deliveries about its own repository.",
                        code="hook_scope_mismatch")


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body` signed with `secret`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _signed_with(secret: str | None, body: bytes, signature: str) -> bool:
    return bool(secret) and constant_time_equals(sign(str(secret), body), signature)


UNSIGNED = "unsigned"


def unsigned_allowed(hook_id: int | None = None) -> bool:
    """Development without any webhook secret: deliveries are taken unsigned (Infrajet's documented
    development mode). Never in production, and never once a secret exists to check against."""
    if current_app.config["ENVIRONMENT"] != "development" or app_webhook_secret():
        return False
    return hook_id is None or hook_webhook_secret(hook_id) is None


def verify_signature(body: bytes, signature: str | None, hook_id: int | None) -> str:
    """Which secret signed `body` ("app" or "hook"; "unsigned" where `unsigned_allowed`); Unauthorized when none did.

    Most deliveries come from the App, so its secret is tried first, without touching the
    database; a repository hook Gantry set up (X-GitHub-Hook-ID) has its own secret, looked up
    only when the App's does not match. Every comparison is constant-time.
    """
    if not signature and unsigned_allowed(hook_id):
        log.warning("webhook delivery accepted UNSIGNED: no webhook secret is configured (development only; "
                    "set GITHUB_WEBHOOK_SECRET)")
        return UNSIGNED
    if not signature or not signature.startswith(SIGNATURE_PREFIX):
        raise Unauthorized("Missing or malformed X-Hub-Signature-256 header.", code="signature_missing")
    app_secret = app_webhook_secret()
    if _signed_with(app_secret, body, signature):
        return "app"
    hook_secret = hook_webhook_secret(hook_id) if hook_id is not None else None
    if _signed_with(hook_secret, body, signature):
        return "hook"
    fresh = app_webhook_secret(refresh=True)  # the stored secret may have changed since it was cached
    if fresh != app_secret and _signed_with(fresh, body, signature):
        return "app"
    if not fresh and not hook_secret:
        raise Unauthorized("No webhook secret is configured, so no signature can be checked.",
                           code="signature_unverifiable")
    raise Unauthorized("The signature does not match the body.", code="signature_mismatch")


def check_size(content_length: int | None) -> None:
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"Deliveries larger than {limit // (1024 * 1024)} MB are refused.")


def read_bounded(stream: Any, chunk_size: int = 64 * 1024) -> bytes:
    """A body sent without a length (chunked), read while counting: PayloadTooLarge once over the limit.

    Werkzeug's own bound cuts such a body at the limit without saying so; the cut body would then
    fail its signature (401) instead of being refused for its size.
    """
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(min(chunk_size, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Deliveries larger than {limit // (1024 * 1024)} MB are refused.")
        parts.append(chunk)
    return b"".join(parts)


def check_content_type(mimetype: str) -> None:
    if mimetype not in (JSON_TYPE, FORM_TYPE):
        raise UnsupportedMediaType(
            f"Content type {mimetype or '(none)'!r} is not one GitHub sends: use {JSON_TYPE} or {FORM_TYPE}."
        )


def parse_payload(body: bytes, mimetype: str) -> tuple[dict[str, Any], str]:
    """The delivery's JSON object, from a JSON body or the form field `payload`, and its JSON text.

    The text is what is stored: the body as GitHub sent it, so it is not serialized a second time,
    unless it holds NUL characters (which PostgreSQL cannot hold once the JSON is decoded) or is not
    UTF-8.
    """
    raw: bytes | str = body
    if mimetype == FORM_TYPE:
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadDelivery("The form body could not be read.") from exc
        values = fields.get("payload")
        if not values:
            raise BadDelivery("A form-encoded delivery needs a `payload` field.")
        raw = values[0]
    try:
        payload = orjson.loads(raw)  # several times faster than json; refuses NaN, Infinity and lone surrogates
    except orjson.JSONDecodeError:
        try:  # UTF-16 or UTF-32 JSON, which json reads (and its reasons for what is not JSON or nests too deep)
            payload = loads_json(raw, refuse_nul=False)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadDelivery(f"The payload is not valid JSON: {exc}", code="bad_json") from exc
    if not isinstance(payload, dict):
        raise BadDelivery("The payload must be a JSON object.", code="bad_json")
    has_nul = b"\\u0000" in raw if isinstance(raw, bytes) else "\\u0000" in raw
    if has_nul:  # PostgreSQL's text and jsonb cannot hold NUL characters
        payload = _without_nul(payload)
        return payload, json.dumps(payload)
    if isinstance(raw, bytes):
        try:
            return payload, raw.decode("utf-8")
        except UnicodeDecodeError:  # UTF-16 or UTF-32 JSON, which json.loads reads too
            return payload, json.dumps(payload)
    return payload, raw


def _without_nul(value: Any) -> Any:
    """`value` with every NUL character in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def check_headers(event: str | None, delivery_id: str | None) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    if not event or not EVENT_RE.match(event):
        errors["X-GitHub-Event"] = ["required: the event name GitHub sends"]
    if not delivery_id or not DELIVERY_ID_RE.match(delivery_id):
        errors["X-GitHub-Delivery"] = ["required: the delivery GUID GitHub sends"]
    if errors:
        raise BadDelivery("The GitHub delivery headers are missing or malformed.", errors=errors)
    assert event is not None and delivery_id is not None
    return event, delivery_id


def parse_hook_id(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        hook_id = int_or_none(int(raw))
    except ValueError as exc:
        raise BadDelivery("X-GitHub-Hook-ID must be a number.") from exc
    if hook_id is None:
        raise BadDelivery("X-GitHub-Hook-ID is out of range.")
    return hook_id


def int_or_none(value: Any) -> int | None:
    """A whole number that fits a BIGINT column, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def nested_id(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return int_or_none(value.get("id")) if isinstance(value, dict) else None
