"""API_KEYS: static keys for CI pipelines moving from the Build State API, which configured keys this way.

The keys exist only as SHA-256 hashes (config.py hashes them as it reads them). Each one is an
API key row of one service user, created the first time the key is used, so it shows on the API
keys page, records when it was last used, and can be revoked like any other key; requests made
with it are logged and audited as that user. Removing a key from API_KEYS stops it at once.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.auth.models import ApiKey, User
from webapp.core import audit
from webapp.core.crypto import hash_token
from webapp.core.models import utcnow
from webapp.extensions import db

log = logging.getLogger(__name__)

SERVICE_USERNAME = "api-keys"
SERVICE_ROLE = "maintainer"  # the least role that holds builds:write
SCOPES = ["read", "builds:write"]


def init_app(app: Flask) -> None:
    """Say at start-up that static keys are accepted, and as whom (never the keys)."""
    count = len(app.config["API_KEY_HASHES"])
    if count:
        log.warning("API_KEYS: %d static API key(s) accepted in %s, acting as service user %r with scopes %s",
                    count, app.config["ENVIRONMENT"], SERVICE_USERNAME, ",".join(SCOPES))


def user_for_static_key(secret: str) -> tuple[User, ApiKey] | None:
    """The service user and key row for a secret listed in API_KEYS, or None."""
    digest = hash_token(secret)
    if digest not in current_app.config["API_KEY_HASHES"]:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest)) or _register(digest)
    if not key.is_usable(utcnow()) or not key.user.active:
        return None  # revoked by an admin, or the service user deactivated
    return key.user, key


def _register(digest: str) -> ApiKey:
    """The key's row (and the service user, the first time); a concurrent first use finds the other's row."""
    try:
        user = db.session.scalar(select(User).where(User.username == SERVICE_USERNAME))
        if user is None:
            user = User(username=SERVICE_USERNAME, email=None, role=SERVICE_ROLE, password_hash=None,
                        display_name="Static API keys (API_KEYS)")
            db.session.add(user)
            db.session.flush()
            audit.record("user.create", "user", user.id, actor=None,
                         details={"username": SERVICE_USERNAME, "role": SERVICE_ROLE, "source": "API_KEYS"})
        key = ApiKey(user_id=user.id, name="API_KEYS", prefix="API_KEYS", key_hash=digest, scopes=SCOPES)
        db.session.add(key)
        db.session.flush()
        audit.record("api_key.create", "api_key", key.id, actor=None,
                     details={"name": key.name, "owner": SERVICE_USERNAME, "scopes": SCOPES, "source": "API_KEYS"})
        db.session.commit()
        log.info("API_KEYS: first use of a static key (api key %s, service user %r)", key.id, SERVICE_USERNAME)
        return key
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if existing is None:
            raise
        return existing
