"""The GitHub client against the fake: App JWT, cached installation tokens, retries, rate limits, ETags."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.found import found
from webapp.integrations.github import GitHubError, GitHubNotConfigured, GitHubRateLimited, github


def test_app_request_authenticates_with_a_jwt(app: Any, fake_github: Any) -> None:
    body = github().app_request("GET", "/app")
    assert body["id"] == 1 and body["slug"] == "gantry-test"
    assert fake_github.requests[-1].auth == "app"


def test_installation_token_is_cached_in_redis_and_shared(app: Any, fake_github: Any) -> None:
    first = github().installation_request(101, "GET", "/installation/repositories")
    assert {r["full_name"] for r in first["repositories"]} == {"acme/infrajet", "acme/widgets"}
    github().installation_request(101, "GET", "/repos/acme/infrajet")
    assert len(fake_github.calls("POST", r"^/app/installations/101/access_tokens$")) == 1
    from webapp.core.jobs import redis_connection

    keys = [k.decode() for k in cast(list[bytes], redis_connection().keys("gantry:github:installation-token:*"))]
    assert keys == ["gantry:github:installation-token:1:101"]
    stored = cast(bytes, redis_connection().get(keys[0])).decode()
    token = fake_github.calls("GET", r"^/repos/acme/infrajet$")[0].headers["Authorization"].split()[1]
    assert token not in stored  # encrypted in Redis


def test_expired_installation_token_is_replaced_once(app: Any, fake_github: Any) -> None:
    github().installation_request(101, "GET", "/installation/repositories")
    fake_github.state.expire_installation_tokens()
    github().installation_request(101, "GET", "/repos/acme/widgets")
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2


def test_token_about_to_expire_is_refreshed_before_use(app: Any, fake_github: Any, monkeypatch: Any) -> None:
    import time

    github().installation_request(101, "GET", "/installation/repositories")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600 - 200)  # within the refresh margin
    github().installation_token(101)
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2


def test_scoped_token_is_minted_fresh_and_limited(app: Any, fake_github: Any) -> None:
    scoped = github().installation_token(101, repositories=["widgets"], permissions={"contents": "read"})
    body = fake_github.calls("POST", r"/access_tokens$")[-1].json
    assert body == {"repositories": ["widgets"], "permissions": {"contents": "read"}}
    assert [r["name"] for r in scoped["repositories"]] == ["widgets"]
    assert not app.extensions["gantry.redis"].keys("gantry:github:installation-token:*")


def test_server_errors_on_gets_are_retried(app: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/app$", 502, times=2)
    assert github().app_request("GET", "/app")["id"] == 1
    assert len(fake_github.calls("GET", r"^/app$")) == 3


def test_server_error_on_post_is_not_retried(app: Any, fake_github: Any) -> None:
    fake_github.fail("POST", r"^/orgs/acme/repos$", 500)
    with pytest.raises(GitHubError) as caught:
        github().installation_request(101, "POST", "/orgs/acme/repos", json={"name": "x"})
    assert caught.value.status == 500
    assert len(fake_github.calls("POST", r"^/orgs/acme/repos$")) == 1


def test_secondary_rate_limit_with_long_retry_after_is_raised(app: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/app$", 403, headers={"Retry-After": "120"})
    with pytest.raises(GitHubRateLimited) as caught:
        github().app_request("GET", "/app")
    assert caught.value.retry_after == 120 and caught.value.status == 403
    assert len(fake_github.calls("GET", r"^/app$")) == 1


def test_short_retry_after_is_waited_once(app: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/app$", 429, headers={"Retry-After": "0"})
    assert github().app_request("GET", "/app")["id"] == 1


def test_primary_rate_limit_uses_reset_time(app: Any, fake_github: Any) -> None:
    import time

    reset = int(time.time()) + 900
    fake_github.fail("GET", r"^/app$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                     body={"message": "API rate limit exceeded"})
    with pytest.raises(GitHubRateLimited) as caught:
        github().app_request("GET", "/app")
    assert 880 <= found(caught.value.retry_after) <= 900


def test_plain_403_is_an_error_not_a_rate_limit(app: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/app$", 403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError) as caught:
        github().app_request("GET", "/app")
    assert not isinstance(caught.value, GitHubRateLimited)
    assert caught.value.message == "Resource not accessible by integration"


def test_conditional_get_reuses_the_cached_body(app: Any, fake_github: Any) -> None:
    first = github().app_request("GET", "/app/installations")
    second = github().app_request("GET", "/app/installations")
    assert first == second
    calls = fake_github.calls("GET", r"^/app/installations$")
    assert "If-None-Match" not in calls[0].headers and calls[1].headers["If-None-Match"]


def test_quota_is_recorded_per_identity(app: Any, fake_github: Any) -> None:
    github().installation_request(101, "GET", "/installation/repositories")
    quotas = {q.identity: q for q in github().quotas()}
    assert quotas["installation:101"].remaining == 4999 and quotas["installation:101"].limit == 5000
    assert "app" in quotas


def test_not_configured_without_app(app: Any, fake_github: Any, monkeypatch: Any) -> None:
    for name in ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"):
        monkeypatch.setitem(app.config, name, None)
    with pytest.raises(GitHubNotConfigured):
        github().app_request("GET", "/app")


def test_unreachable_github_is_an_error_with_no_status(app: Any, fake_github: Any, monkeypatch: Any) -> None:
    from webapp.integrations.github import GitHubService

    monkeypatch.setitem(app.config, "GITHUB_API_URL", "http://127.0.0.1:9")
    service = GitHubService(app)
    with pytest.raises(GitHubError) as caught:
        service.app_request("GET", "/app")
    assert caught.value.status is None
