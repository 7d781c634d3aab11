"""GitHub sign-in for API clients and front ends: one service every front door uses.

Two flows, both with a `state` kept server-side (Redis, OAUTH_STATE_TTL_SECONDS) and usable once:

- JSON: `begin(redirect_uri)` answers `{authorization_url, state}`; the client sends the person to
  GitHub, GitHub sends them back to `redirect_uri` with `?code&state`, and the client posts both to
  `finish()`, which exchanges the code, signs the person in (or links GitHub to the signed-in user)
  and returns who it was; the caller then issues Gantry tokens or answers the profile.
- Redirect, for a front end at FRONTEND_URL: the same, with Gantry's own callback as `redirect_uri`;
  that callback ends in `frontend_redirect(user)`, which sends the browser to FRONTEND_URL with a
  one-time code in the URL fragment (never the query string: fragments are not sent to servers nor
  logged). The front end trades the code once for its tokens with `redeem_handoff()`.

The page sign-in (`webapp.auth.github`, Authlib, state in the session) stays as it is; both end in
`accounts.sign_in_with_github`, the one place that creates or links users.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from webapp.auth import tokens
from webapp.auth.models import User
from webapp.core.errors import GantryError, Unavailable, ValidationFailed
from webapp.core.jobs import redis_connection
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos import accounts
from webapp.repos.app_config import get_app_settings

log = logging.getLogger(__name__)

STATE_KEY = "gantry:oauth:state:"
HANDOFF_KEY = "gantry:oauth:handoff:"
MIN_CLIENT_STATE = 8
MAX_CLIENT_STATE = 200


class OAuthRefused(GantryError):
    """The sign-in cannot go on: unknown, expired or used state; a code GitHub refused."""

    status = 400
    code = "oauth_refused"


@dataclass(frozen=True)
class SignedIn:
    user: User
    created: bool
    profile: dict[str, Any]
    scopes: list[str]


def _ttl() -> int:
    return int(current_app.config["OAUTH_STATE_TTL_SECONDS"])


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@contextmanager
def _state_store() -> Iterator[Redis]:
    """Redis, where states and one-time codes live; Unavailable (503) when it cannot be reached.

    Nothing is spent when it fails: a state or code not read stays usable, and GitHub's code is
    exchanged only after the state is, so the person can try the same step again shortly.
    """
    try:
        yield redis_connection()
    except RedisError as exc:
        log.error("GitHub sign-in: Redis unavailable (%s)", type(exc).__name__)
        raise Unavailable("Signing in with GitHub is unavailable for a moment (its store cannot be reached); "
                          "try again shortly.", code="sign_in_unavailable") from exc


def _settings() -> Any:
    settings = get_app_settings()
    if settings is None or not settings.can_sign_in:
        raise Unavailable("Signing in with GitHub is not set up: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET.",
                          code="github_sign_in_not_configured")
    return settings


def allowed_redirect(uri: str) -> bool:
    """Only Gantry itself or the configured front end may receive GitHub's code."""
    bases = [current_app.config["BASE_URL"], current_app.config.get("FRONTEND_URL") or ""]
    return any(base and (uri == base or uri.startswith(base.rstrip("/") + "/")) for base in bases)


def client_redirect_uri(requested: str | None) -> str:
    """Where GitHub sends the person back in a JSON flow: the client's `redirect_uri`, else FRONTEND_URL."""
    uri = (requested or "").strip() or str(current_app.config.get("FRONTEND_URL") or "")
    if not uri:
        raise ValidationFailed("Send redirect_uri (your page that receives GitHub's code), or set FRONTEND_URL.",
                               errors={"redirect_uri": ["required when FRONTEND_URL is not set"]})
    return uri


def begin(redirect_uri: str, *, purpose: str, client_state: str | None = None,
          user_id: int | None = None) -> dict[str, str]:
    """Start a sign-in: GitHub's authorization URL and its one-time `state` (the client's own, if it sent one).

    `purpose` names the flow ("json", "frontend", a front door's name) so a state started for one
    cannot finish another; `user_id` links GitHub to that user instead of signing someone in.
    """
    settings = _settings()
    if not allowed_redirect(redirect_uri):
        raise ValidationFailed("redirect_uri must be under BASE_URL or FRONTEND_URL.",
                               errors={"redirect_uri": ["not under BASE_URL or FRONTEND_URL"]})
    if client_state is not None and not MIN_CLIENT_STATE <= len(client_state) <= MAX_CLIENT_STATE:
        raise ValidationFailed(f"state must be {MIN_CLIENT_STATE} to {MAX_CLIENT_STATE} characters.",
                               errors={"state": [f"{MIN_CLIENT_STATE} to {MAX_CLIENT_STATE} characters"]})
    state = client_state or secrets.token_urlsafe(32)
    record = json.dumps({"redirect_uri": redirect_uri, "purpose": purpose, "user_id": user_id})
    with _state_store() as store:
        stored = store.set(STATE_KEY + _digest(state), record, ex=_ttl(), nx=True)
    if not stored:
        raise ValidationFailed("That state is already in use; send another.", errors={"state": ["already in use"]})
    query = {"client_id": settings.client_id, "redirect_uri": redirect_uri, "state": state}
    if settings.oauth_scopes:
        query["scope"] = settings.oauth_scopes
    return {"authorization_url": f"{current_app.config['GITHUB_URL']}/login/oauth/authorize?{urlencode(query)}",
            "state": state}


def _take_state(state: str, purpose: str) -> dict[str, Any]:
    with _state_store() as store:
        raw = store.getdel(STATE_KEY + _digest(state))
    if not raw:
        raise OAuthRefused("The state is unknown, expired or already used: start the sign-in again.",
                           code="invalid_state")
    record = cast(dict[str, Any], json.loads(cast(bytes, raw)))
    if record.get("purpose") != purpose:
        raise OAuthRefused("The state belongs to another sign-in: start the sign-in again.", code="invalid_state")
    return record


def finish(code: str, state: str | None, *, purpose: str, link_to: User | None = None) -> SignedIn:
    """Exchange GitHub's code (its state checked and spent) and sign the person in, or link them to `link_to`.

    `state` None is accepted only where a documented client sends none (BlazeCI posts the code
    alone); the code then still has to be GitHub's, for this client, and unused.
    """
    _settings()
    if not code:
        raise ValidationFailed("code is required.", errors={"code": ["Missing data for required field."]})
    record = _take_state(state, purpose) if state is not None else {"redirect_uri": None, "user_id": None}
    if link_to is None and record.get("user_id"):
        link_to = db.session.get(User, int(record["user_id"]))
    try:
        token = github().exchange_oauth_code(code, record.get("redirect_uri"))
    except GitHubError as exc:
        if exc.status == 400:
            raise OAuthRefused(f"GitHub refused the code: {exc.message}", code="invalid_code") from exc
        raise
    result = accounts.sign_in_with_github(token, link_to=link_to)
    account = accounts.account_for(result.user)
    profile = dict(account.profile or {}) if account is not None else {}
    scopes = [s for s in str(token.get("scope") or "").replace(" ", ",").split(",") if s]
    return SignedIn(result.user, result.created, profile, scopes)


def issue_handoff(user: User) -> str:
    """A one-time code a front end trades for the user's tokens (lives OAUTH_STATE_TTL_SECONDS)."""
    handoff = secrets.token_urlsafe(32)
    with _state_store() as store:
        store.set(HANDOFF_KEY + _digest(handoff), str(user.id), ex=_ttl())
    return handoff


def redeem_handoff(handoff: str) -> tokens.TokenPair:
    """The tokens behind a one-time code, once."""
    with _state_store() as store:
        raw = store.getdel(HANDOFF_KEY + _digest(handoff or ""))
    user = db.session.get(User, int(cast(bytes, raw))) if raw else None
    if user is None or not user.active:
        raise OAuthRefused("The code is unknown, expired or already used: sign in again.", code="invalid_code")
    return tokens.issue_tokens(user)


def frontend_redirect(user: User) -> str:
    """Where the browser goes after a redirect sign-in: FRONTEND_URL with a one-time code in the fragment."""
    target = current_app.config.get("FRONTEND_URL") or current_app.config["BASE_URL"]
    return f"{target}#{urlencode({'code': issue_handoff(user), 'token_type': 'handoff'})}"


def frontend_callback_error(message: str) -> str:
    """Where the browser goes when a redirect sign-in fails: FRONTEND_URL with the reason in the fragment."""
    target = current_app.config.get("FRONTEND_URL") or current_app.config["BASE_URL"]
    return f"{target}#{urlencode({'error': message})}"


def redirect_sign_in_result(code: str, state: str, *, purpose: str) -> str:
    """Finish a redirect sign-in and say where the browser goes: the front end with its one-time code,
    or with the reason it failed (never a Gantry error page the front end cannot read)."""
    try:
        return frontend_redirect(finish(code, state or "", purpose=purpose).user)
    except GantryError as exc:
        return frontend_callback_error(exc.message)
    except GitHubError as exc:
        log.warning("GitHub sign-in for a front end failed: %s", exc.message)
        return frontend_callback_error(f"GitHub did not answer as expected: {exc.message}")
