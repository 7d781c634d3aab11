"""Short-lived signed tokens for clients that sign in with a password.

An access token lives ACCESS_TOKEN_MINUTES; a refresh token REFRESH_TOKEN_DAYS. Each refresh
rotates the refresh token; presenting one that was already used revokes its whole family (the
login it came from), because only a thief or a replay would do that.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select, update

from webapp.auth import service
from webapp.auth.models import RefreshToken, User
from webapp.core import audit
from webapp.core.errors import Unauthorized
from webapp.core.models import utcnow
from webapp.extensions import db

ISSUER = "gantry"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


def _key() -> OctKey:
    secret = current_app.config["SECRET_KEY"].encode()
    return OctKey.import_key(hmac.new(secret, b"gantry-jwt-signing", hashlib.sha256).digest())


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": ALGORITHM}, claims, _key(), algorithms=[ALGORITHM])


def _decode(token: str, kind: str) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, _key(), algorithms=[ALGORITHM])
        JWTClaimsRegistry(
            exp={"essential": True}, sub={"essential": True}, iss={"essential": True, "value": ISSUER},
            typ={"essential": True, "value": kind}, fam={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized(f"The {kind} token is invalid or expired.", code="invalid_token") from exc
    return dict(decoded.claims)


def _family_revoked(family_id: str) -> bool:
    revoked = select(RefreshToken.id).where(
        RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None)
    )
    return db.session.scalar(revoked.limit(1)) is not None


def _issue(user: User, family_id: str) -> TokenPair:
    now = int(time.time())
    access_ttl = int(timedelta(minutes=current_app.config["ACCESS_TOKEN_MINUTES"]).total_seconds())
    refresh_ttl = int(timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"]).total_seconds())
    jti = uuid.uuid4().hex
    base = {"iss": ISSUER, "sub": str(user.id), "iat": now, "fam": family_id}
    access = _encode({**base, "typ": "access", "exp": now + access_ttl, "jti": uuid.uuid4().hex})
    refresh = _encode({**base, "typ": "refresh", "exp": now + refresh_ttl, "jti": jti})
    expires_at = utcnow() + timedelta(seconds=refresh_ttl)
    db.session.add(RefreshToken(jti=jti, family_id=family_id, user_id=user.id, expires_at=expires_at))
    return TokenPair(access, refresh, access_ttl)


def sign_in(username: str, password: str) -> TokenPair:
    """A login with a password (every front door's token endpoint): new tokens, or 401."""
    user = service.authenticate(username, password)
    if user is None:
        raise Unauthorized("Wrong username or password.", code="invalid_credentials")
    service.record_login(user)
    return issue_tokens(user)


def issue_tokens(user: User) -> TokenPair:
    """A new login: a new token family."""
    pair = _issue(user, uuid.uuid4().hex)
    audit.record("auth.token", "user", user.id, actor=user)
    db.session.commit()
    return pair


def refresh_tokens(refresh_token: str) -> TokenPair:
    """Swap a refresh token for a new pair; a reused one revokes its family."""
    claims = _decode(refresh_token, "refresh")
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == claims["jti"]).with_for_update())
    if row is None or row.revoked_at is not None:
        db.session.rollback()
        raise Unauthorized("The refresh token has been revoked.", code="invalid_token")
    if row.used_at is not None:
        _revoke_family(row.family_id)
        audit.record("auth.refresh_reuse", "user", row.user_id, actor="system", details={"family": row.family_id})
        db.session.commit()
        raise Unauthorized("This refresh token was already used; the whole login has been revoked.",
                           code="token_reused")
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        db.session.rollback()
        raise Unauthorized("The account is not active.", code="invalid_token")
    row.used_at = utcnow()
    pair = _issue(user, row.family_id)
    db.session.commit()
    return pair


def _revoke_family(family_id: str) -> None:
    db.session.execute(
        update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def user_id_of(token: str) -> int:
    """Whose signed, unexpired access or refresh token this is (revoked or not): for logging out."""
    for kind in ("refresh", "access"):
        try:
            return int(_decode(token, kind)["sub"])
        except (Unauthorized, ValueError):
            continue
    raise Unauthorized("The token is invalid or expired.", code="invalid_token")


def user_for_access_token(token: str) -> User | None:
    try:
        claims = _decode(token, "access")
    except Unauthorized:
        return None
    if _family_revoked(claims["fam"]):
        return None
    user = db.session.get(User, int(claims["sub"]))
    if user is None or not user.active:
        return None
    return user
