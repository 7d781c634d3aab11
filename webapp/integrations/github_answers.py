"""Reading GitHub's answers: its errors, pages of results, ETag cache keys, JSON bodies, quotas and rate-limit waits."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

MAX_PAGES = 100


@dataclass(frozen=True)
class Quota:
    identity: str
    remaining: int
    limit: int
    reset: int  # epoch seconds


class GitHubError(Exception):
    """GitHub answered with an error (or did not answer: `status` is None)."""

    def __init__(self, status: int | None, message: str, body: Any = None, retry_after: float | None = None) -> None:
        super().__init__(f"GitHub {status or 'unreachable'}: {message}")
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after


class GitHubRateLimited(GitHubError):
    """A primary or secondary rate limit: try again after `retry_after` seconds."""


class GitHubNotConfigured(GitHubError):
    """No GitHub App (or OAuth client) is configured yet."""

    def __init__(self, message: str = "No GitHub App is configured.") -> None:
        super().__init__(None, message)


def paginate(call: Callable[[dict[str, Any]], Any], item_key: str | None,
              params: dict[str, Any] | None) -> list[Any]:
    items: list[Any] = []
    per_page = 100
    for page in range(1, MAX_PAGES + 1):
        body = call({**(params or {}), "per_page": per_page, "page": page})
        chunk = (body or {}).get(item_key, []) if item_key else (body or [])
        items.extend(chunk)
        if len(chunk) < per_page:
            break
    return items


def etag_cache_key(scope: str, path: str, params: dict[str, Any] | None) -> str:
    digest = hashlib.sha256(json.dumps([path, sorted((params or {}).items())], default=str).encode()).hexdigest()
    return f"gantry:github:etag:{scope}:{digest}"


def decode_body(response: httpx.Response, strict: bool = True) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        if strict:
            raise GitHubError(response.status_code, "GitHub answered with something that is not JSON",
                              response.text[:500]) from exc
        return response.text[:500]


def error_message(body: Any, response: httpx.Response) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase or f"HTTP {response.status_code}"


def retry_after_header(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        try:
            return max((parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def rate_limit_wait(response: httpx.Response, body: Any) -> float | None:
    """Seconds to wait when the answer is a rate limit, None when it is another error."""
    if response.status_code not in (403, 429):
        return None
    header = retry_after_header(response)
    if header is not None:
        return header
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = int(response.headers.get("x-ratelimit-reset", "0") or 0)
        return max(reset - time.time(), 1.0)
    text = json.dumps(body).lower() if body else ""
    if response.status_code == 429 or "rate limit" in text:
        return 60.0  # GitHub: without a header, wait at least a minute before retrying
    return None


def epoch_seconds(value: Any) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
