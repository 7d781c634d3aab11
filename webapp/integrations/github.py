"""The GitHub REST client: the only code in Gantry that talks to GitHub.

Interface for every capability (import nothing else from here):

    from webapp.integrations.github import github, GitHubError, GitHubRateLimited, GitHubNotConfigured
    from webapp.integrations.github import app_configured, needs_github_app, needs_github_sign_in  # jobs

    gh = github()                                         # one per app, built from settings
    gh.app_request("GET", "/app/installations")           # as the App (JWT)
    gh.installation_request(installation_id, "POST", f"/repos/{full_name}/git/blobs", json={...})
    gh.user_request(user_token, "GET", "/user")           # as a signed-in user (OAuth token)
    gh.installation_token(installation_id, repositories=["repo"], permissions={"contents": "read"})
    gh.exchange_oauth_code(code, redirect_uri)            # OAuth code -> user token (JSON sign-in flows)
    gh.paginate_installation(installation_id, "/installation/repositories", item_key="repositories")

Every call returns the decoded JSON body (None for 204/empty) or raises:

- `GitHubError` (`.status` — None when GitHub did not answer —, `.message`, `.body`, `.retry_after`);
- `GitHubRateLimited(GitHubError)` for a primary (`x-ratelimit-remaining: 0`) or secondary (403/429
  with `Retry-After`) limit: `.retry_after` is how many seconds to wait. A waiting time of at most
  GITHUB_MAX_INLINE_WAIT seconds is slept once inside the call; anything longer is raised, so a
  task re-enqueues itself (`enqueue(..., delay=timedelta(seconds=exc.retry_after))`) instead of
  blocking a worker;
- `GitHubNotConfigured(GitHubError)` when no App (or no OAuth client) is configured.

Installation tokens are cached in Redis (encrypted), shared by every web and worker process and
minted again five minutes before they expire; a 401 drops the cached token and retries once.
Idempotent requests (GET/PUT/DELETE) are retried twice on 5xx and network errors. GETs are
conditional (ETag cached in Redis), so re-reading an unchanged list costs no quota. The remaining
quota of each identity (app, installation:<id>, user) is kept in Redis for /status and /metrics.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import httpx
from flask import Flask, current_app
from joserfc import jwt
from joserfc.jwk import RSAKey

from webapp.core.crypto import crypto
from webapp.core.jobs import redis_connection
from webapp.integrations import github_answers as answers
from webapp.integrations.github_answers import GitHubError, GitHubNotConfigured, GitHubRateLimited, Quota

log = logging.getLogger(__name__)

EXTENSION_KEY = "gantry.github"
API_VERSION = "2022-11-28"
TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which an installation token is replaced
JWT_LIFETIME = 540  # GitHub accepts at most 10 minutes
ETAG_TTL = 24 * 3600
ETAG_MAX_BODY = 512 * 1024
QUOTA_KEY = "gantry:github:quota"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
Task = TypeVar("Task", bound=Callable[..., Any])


SETTINGS_SOURCE_KEY = "gantry.github_app_settings"


def set_settings_source(app: Flask, source: Callable[[], Any]) -> None:
    """Where the App's settings come from (the repos capability stores them): integrations import no capability."""
    app.extensions[SETTINGS_SOURCE_KEY] = source


def _app_settings() -> Any:
    source = current_app.extensions.get(SETTINGS_SOURCE_KEY)
    return source() if source is not None else None


NOT_CONFIGURED = "no GitHub App is configured"
NO_SIGN_IN = "no GitHub sign-in is configured"


def app_configured() -> bool:
    """Gantry can act as its GitHub App: an App id and a private key are set (environment or database)."""
    settings = _app_settings()
    return bool(settings is not None and settings.can_authenticate_app)


def sign_in_configured() -> bool:
    """People can sign in with GitHub (an OAuth client id and secret are set), so user tokens can exist."""
    settings = _app_settings()
    return bool(settings is not None and settings.can_sign_in)


def _skipped_unless(configured: Callable[[], bool], missing: str) -> Callable[[Task], Task]:
    def decorate(task: Task) -> Task:
        @functools.wraps(task)
        def run(*args: Any, **kwargs: Any) -> Any:
            if not configured():
                log.info("%s skipped: %s", task.__name__, missing)
                return f"skipped: {missing}"
            return task(*args, **kwargs)

        return cast(Task, run)

    return decorate


# Background jobs that only make sense with GitHub set up (a fresh `make run` has none): without it they
# log one INFO line and return, instead of raising GitHubNotConfigured into RQ's retries every cycle.
# Once it is set up they run unchanged, so every real failure (a key that cannot be read, GitHub
# answering errors) still raises and is retried.
needs_github_app = _skipped_unless(app_configured, NOT_CONFIGURED)
needs_github_sign_in = _skipped_unless(sign_in_configured, NO_SIGN_IN)


class GitHubService:
    """App JWTs, installation tokens and REST calls against one GitHub (github.com or GHES)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.api_url: str = app.config["GITHUB_API_URL"]
        self.web_url: str = app.config["GITHUB_URL"]
        self.max_inline_wait: float = float(app.config["GITHUB_MAX_INLINE_WAIT"])
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=float(app.config["GITHUB_TIMEOUT"]),
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                     "User-Agent": "Gantry"},
        )
        self._jwt_lock = threading.Lock()
        self._jwt: tuple[tuple[int, str], str, float] | None = None  # ((app id, key digest), jwt, expires)

    # --- authentication ------------------------------------------------------------------

    def app_jwt(self) -> str:
        """A JWT signed with the App's private key (reused for a few minutes)."""
        settings = _app_settings()
        if settings is None or not settings.app_id or not settings.private_key:
            raise GitHubNotConfigured()
        ident = (int(settings.app_id), hashlib.sha256(settings.private_key.encode()).hexdigest())
        now = time.time()
        with self._jwt_lock:
            if self._jwt and self._jwt[0] == ident and self._jwt[2] - now > 60:
                return self._jwt[1]
            try:
                key = RSAKey.import_key(settings.private_key)
            except Exception as exc:  # a malformed PEM is a configuration problem, said clearly
                raise GitHubNotConfigured(f"The GitHub App private key cannot be read: {exc}") from exc
            token = jwt.encode({"alg": "RS256"}, {"iat": int(now) - 60, "exp": int(now) + JWT_LIFETIME,
                                                  "iss": str(settings.app_id)}, key)
            self._jwt = (ident, token, now + JWT_LIFETIME)
            return token

    def _token_key(self, installation_id: int) -> str:
        settings = _app_settings()
        app_id = settings.app_id if settings else "none"
        return f"gantry:github:installation-token:{app_id}:{int(installation_id)}"

    def installation_token(self, installation_id: int, repositories: list[str] | list[int] | None = None,
                           permissions: dict[str, str] | None = None) -> dict[str, Any]:
        """An installation access token (`token`, `expires_at`, ...).

        Without `repositories`/`permissions` the shared cached token is returned (minted when
        missing or about to expire); a scoped-down token is always minted fresh and never cached.
        """
        scoped = bool(repositories) or bool(permissions)
        if not scoped:
            cached = self._cached_token(installation_id)
            if cached is not None:
                return cached
        body: dict[str, Any] = {}
        if repositories:
            key = "repository_ids" if all(isinstance(r, int) for r in repositories) else "repositories"
            body[key] = list(repositories)
        if permissions:
            body["permissions"] = dict(permissions)
        minted = self.app_request("POST", f"/app/installations/{int(installation_id)}/access_tokens",
                                  json=body or None)
        if not isinstance(minted, dict) or "token" not in minted:
            raise GitHubError(None, "GitHub returned no installation token", minted)
        if not scoped:
            self._store_token(installation_id, minted)
        return minted

    def _cached_token(self, installation_id: int) -> dict[str, Any] | None:
        try:
            raw = redis_connection(self.app).get(self._token_key(installation_id))
        except Exception:  # Redis away: mint a token per call rather than fail
            log.warning("installation token cache unavailable", exc_info=True)
            return None
        if not raw:
            return None
        try:
            data: dict[str, Any] = json.loads(crypto().decrypt(cast(bytes, raw).decode()))
        except ValueError:
            return None
        if answers.epoch_seconds(data.get("expires_at")) - time.time() <= TOKEN_REFRESH_MARGIN:
            return None
        return data

    def _store_token(self, installation_id: int, minted: dict[str, Any]) -> None:
        ttl = int(answers.epoch_seconds(minted.get("expires_at")) - time.time() - TOKEN_REFRESH_MARGIN)
        if ttl <= 0:
            return
        try:
            redis_connection(self.app).set(self._token_key(installation_id),
                                           crypto().encrypt(json.dumps(minted)), ex=ttl)
        except Exception:
            log.warning("installation token cache unavailable", exc_info=True)

    def forget_installation_token(self, installation_id: int) -> None:
        try:
            redis_connection(self.app).delete(self._token_key(installation_id))
        except Exception:
            log.warning("installation token cache unavailable", exc_info=True)

    # --- requests ------------------------------------------------------------------------

    def app_request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        """Call GitHub as the App (JWT): /app, /app/installations, access tokens, hook deliveries."""
        return self._send(method, path, auth=f"Bearer {self.app_jwt()}", identity="app", json_body=json,
                          params=params, headers=headers)

    def installation_request(self, installation_id: int, method: str, path: str, *, json: Any = None,
                             params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        """Call GitHub as one installation of the App (cached installation token)."""
        identity = f"installation:{int(installation_id)}"
        for attempt in range(2):
            token = self.installation_token(installation_id)["token"]
            try:
                return self._send(method, path, auth=f"token {token}", identity=identity, json_body=json,
                                  params=params, headers=headers)
            except GitHubError as exc:
                if exc.status == 401 and attempt == 0:  # expired or revoked: mint a new one, once
                    self.forget_installation_token(installation_id)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def user_request(self, token: str, method: str, path: str, *, json: Any = None,
                     params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        """Call GitHub as a signed-in user (their OAuth token)."""
        return self._send(method, path, auth=f"token {token}", identity="user", json_body=json, params=params,
                          headers=headers, etag_scope=hashlib.sha256(token.encode()).hexdigest()[:16])

    def public_request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Call an endpoint that needs no authentication (e.g. the App-manifest conversion)."""
        return self._send(method, path, auth=None, identity="anonymous", json_body=json, params=params)

    def app_request_page(self, path: str, *, params: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        """GET one page of a cursor-paginated App list (hook deliveries): the body and the next page's URL."""
        links: dict[str, str] = {}
        body = self._send("GET", path, auth=f"Bearer {self.app_jwt()}", identity="app", params=params, links=links)
        return body, links.get("next")

    def paginate_app(self, path: str, *, item_key: str | None = None,
                     params: dict[str, Any] | None = None) -> list[Any]:
        return answers.paginate(lambda p: self.app_request("GET", path, params=p), item_key, params)

    def paginate_installation(self, installation_id: int, path: str, *, item_key: str | None = None,
                              params: dict[str, Any] | None = None) -> list[Any]:
        return answers.paginate(lambda p: self.installation_request(installation_id, "GET", path, params=p),
                                item_key, params)

    def paginate_user(self, token: str, path: str, *, item_key: str | None = None,
                      params: dict[str, Any] | None = None) -> list[Any]:
        return answers.paginate(lambda p: self.user_request(token, "GET", path, params=p), item_key, params)

    def exchange_oauth_code(self, code: str, redirect_uri: str | None) -> dict[str, Any]:
        """Trade an OAuth authorization code for a user token (`access_token`, `scope`, ...).

        GitHub answers 200 with `{"error": ...}` for a bad, used or expired code: raised as a
        GitHubError with status 400 and GitHub's description."""
        settings = _app_settings()
        if settings is None or not settings.client_id or not settings.client_secret:
            raise GitHubNotConfigured("No GitHub OAuth client is configured.")
        body = {"client_id": settings.client_id, "client_secret": settings.client_secret, "code": code}
        if redirect_uri:
            body["redirect_uri"] = redirect_uri
        answer = self._send("POST", f"{self.web_url}/login/oauth/access_token", auth=None, identity="anonymous",
                            json_body=body, headers={"Accept": "application/json"})
        if not isinstance(answer, dict) or answer.get("error") or not answer.get("access_token"):
            found = answer if isinstance(answer, dict) else {}
            raise GitHubError(400, str(found.get("error_description") or found.get("error") or "no access token"),
                              found)
        return answer

    def revoke_user_grant(self, token: str) -> None:
        """Revoke a user's OAuth grant for the App (DELETE /applications/{client_id}/grant)."""
        settings = _app_settings()
        if settings is None or not settings.client_id or not settings.client_secret:
            raise GitHubNotConfigured("No GitHub OAuth client is configured.")
        self._send("DELETE", f"/applications/{settings.client_id}/grant", auth=None, identity="app",
                   json_body={"access_token": token},
                   basic_auth=(settings.client_id, settings.client_secret))

    def _send(self, method: str, path: str, *, auth: str | None, identity: str, json_body: Any = None,
              params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
              etag_scope: str | None = None, basic_auth: tuple[str, str] | None = None,
              links: dict[str, str] | None = None) -> Any:
        method = method.upper()
        request_headers = dict(headers or {})
        if auth:
            request_headers["Authorization"] = auth
        etag_key = None
        cached: dict[str, Any] | None = None
        if method == "GET" and links is None:  # a page read for its Link header is never served from cache
            etag_key = answers.etag_cache_key(etag_scope or identity, path, params)
            cached = self._etag_lookup(etag_key)
            if cached is not None:
                request_headers["If-None-Match"] = cached["etag"]
        for attempt in range(3):
            try:
                response = self._http.request(method, path, json=json_body, params=params, headers=request_headers,
                                              auth=basic_auth)
            except httpx.HTTPError as exc:
                if method in IDEMPOTENT and attempt < 2:
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise GitHubError(None, f"GitHub did not answer {method} {path}: {exc}") from exc
            self._record_quota(identity, response)
            if response.status_code == 304 and cached is not None:
                return cached["body"]
            if response.status_code < 400:
                body = answers.decode_body(response)
                if links is not None:
                    links.update({str(rel): str(link.get("url", "")) for rel, link in response.links.items()})
                if etag_key and response.headers.get("ETag"):
                    self._etag_store(etag_key, response.headers["ETag"], body, len(response.content))
                return body
            body = answers.decode_body(response, strict=False)
            retry_after = answers.rate_limit_wait(response, body)
            if retry_after is not None:
                if retry_after <= self.max_inline_wait and attempt == 0:
                    time.sleep(max(retry_after, 0))
                    continue
                raise GitHubRateLimited(response.status_code, answers.error_message(body, response), body, retry_after)
            if response.status_code >= 500 and method in IDEMPOTENT and attempt < 2:
                time.sleep(0.2 * 2**attempt)
                continue
            raise GitHubError(response.status_code, answers.error_message(body, response), body,
                              answers.retry_after_header(response))
        raise GitHubError(None, f"GitHub kept failing {method} {path}")  # pragma: no cover - loop always returns

    # --- caches --------------------------------------------------------------------------

    def _etag_lookup(self, key: str) -> dict[str, Any] | None:
        try:
            raw = cast(bytes | None, redis_connection(self.app).get(key))
            return json.loads(raw) if raw else None
        except Exception:
            return None

    def _etag_store(self, key: str, etag: str, body: Any, size: int) -> None:
        if size > ETAG_MAX_BODY:
            return
        try:
            redis_connection(self.app).set(key, json.dumps({"etag": etag, "body": body}), ex=ETAG_TTL)
        except Exception:
            log.debug("etag cache unavailable", exc_info=True)

    def _record_quota(self, identity: str, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is None or identity == "anonymous":
            return
        try:
            value = json.dumps({"remaining": int(remaining),
                                "limit": int(response.headers.get("x-ratelimit-limit", 0)),
                                "reset": int(response.headers.get("x-ratelimit-reset", 0))})
            redis_connection(self.app).hset(QUOTA_KEY, identity, value)
        except (ValueError, Exception):
            log.debug("quota not recorded", exc_info=True)

    def quotas(self) -> list[Quota]:
        """The last remaining quota GitHub reported for each identity (app, installation:<id>, user)."""
        try:
            raw = cast(dict[bytes, bytes], redis_connection(self.app).hgetall(QUOTA_KEY))
        except Exception:
            return []
        result = []
        for identity, value in raw.items():
            data = json.loads(value)
            result.append(Quota(identity.decode(), data["remaining"], data["limit"], data["reset"]))
        return sorted(result, key=lambda q: q.identity)


def github(app: Flask | None = None) -> GitHubService:
    """The app's GitHub client (built on first use from settings)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    service = app.extensions.get(EXTENSION_KEY)
    if service is None:
        service = app.extensions[EXTENSION_KEY] = GitHubService(app)
    return service
