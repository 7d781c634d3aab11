"""Credentials of every kind the API meets, for the access-rule tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import PASSWORD

ALL_WRITE = ("builds:write", "runners:write", "releases:write", "sync:write", "webhooks:write")

# kind -> (role of the user behind it, scopes the request carries); None: refused with 401
CALLERS: dict[str, tuple[str, frozenset[str]] | None] = {
    "anonymous": None,
    "garbage_key": None,
    "garbage_bearer": None,
    "expired_key": None,
    "revoked_key": None,
    "deactivated_owner_key": None,
    "deactivated_owner_token": None,
    "viewer_key": ("viewer", frozenset({"read"})),
    "viewer_token": ("viewer", frozenset({"read"})),
    "maintainer_key": ("maintainer", frozenset({"read", *ALL_WRITE})),
    "admin_key_read": ("admin", frozenset({"read"})),
    "admin_key": ("admin", frozenset({"admin"})),
    "admin_bearer_key": ("admin", frozenset({"admin"})),
    "admin_token": ("admin", frozenset({"admin"})),
}


def key_row(headers: dict[str, str]) -> Any:
    """The api_keys row of a key sent in headers."""
    from webapp.auth.models import ApiKey
    from webapp.core.crypto import hash_token
    from webapp.extensions import db

    return db.session.query(ApiKey).filter_by(key_hash=hash_token(headers["X-API-Key"])).one()


@pytest.fixture
def api_token(client: Any) -> Callable[..., dict[str, Any]]:
    """Sign in through /api/v1/auth/token and return the token pair."""

    def issue(username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.json
        return dict(response.json)

    return issue


@pytest.fixture
def credentials(make_user: Any, make_key: Any, api_token: Any, db: Any) -> Callable[[str], tuple[dict[str, str], Any]]:
    """Headers for a named kind of caller, and the user behind them (None for no one).

    Every kind that must be refused outright is built so that it *would* pass if the refusal were
    missing: the expired, revoked and deactivated credentials belong to admins with the admin scope.
    """
    from webapp.core.models import utcnow

    def bearer(user: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_token(user.username)['access_token']}"}

    def make(kind: str) -> tuple[dict[str, str], Any]:
        if kind == "anonymous":
            return {}, None
        if kind == "garbage_key":
            return {"X-API-Key": "gty_this-key-was-never-issued"}, None
        if kind == "garbage_bearer":
            return {"Authorization": "Bearer not-a-token"}, None
        if kind in ("viewer_key", "maintainer_key", "admin_key_read", "admin_key"):
            role, scopes = CALLERS[kind]  # type: ignore[misc]
            user = make_user(role)
            return make_key(user, *sorted(scopes)), user
        if kind == "admin_bearer_key":
            user = make_user("admin")
            return {"Authorization": f"Bearer {make_key(user, 'admin')['X-API-Key']}"}, user
        if kind in ("admin_token", "viewer_token"):
            user = make_user(kind.split("_")[0])
            return bearer(user), user
        if kind in ("expired_key", "revoked_key"):
            user = make_user("admin")
            headers = make_key(user, "admin")
            if kind == "expired_key":
                key_row(headers).expires_at = utcnow() - timedelta(seconds=1)
            else:
                key_row(headers).revoked_at = utcnow()
            db.session.commit()
            return headers, user
        if kind in ("deactivated_owner_key", "deactivated_owner_token"):
            make_user("admin")  # someone else stays admin, so the owner may be deactivated
            owner = make_user("admin")
            headers = make_key(owner, "admin") if kind.endswith("key") else bearer(owner)
            owner.active = False
            db.session.commit()
            return headers, owner
        raise AssertionError(f"unknown caller kind {kind}")

    return make
