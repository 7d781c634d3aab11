"""GitHub sign-in for API clients and front ends: JSON code exchange and the FRONTEND_URL redirect flow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import sqlalchemy as sa

from tests.github.helpers import approve_at_github
from webapp.auth.models import User

FRONTEND = "https://app.example.test"


@pytest.fixture
def frontend(app: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(app.config, "FRONTEND_URL", FRONTEND)
    return FRONTEND


def _authorize(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/auth/github/authorize{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_json_flow_exchanges_the_code_for_gantry_tokens(client: Any, db: Any, fake_github: Any,
                                                        frontend: str) -> None:
    started = _authorize(client)
    url = urlsplit(started["authorization_url"])
    query = parse_qs(url.query)
    assert url.path == "/login/oauth/authorize" and query["state"] == [started["state"]]
    assert query["redirect_uri"] == [FRONTEND] and "scope" not in query  # an App's client has no scopes
    approved = approve_at_github(fake_github, started["authorization_url"])
    assert approved["redirect"] == FRONTEND and approved["state"] == started["state"]
    answer = client.post("/api/v1/auth/github/token", json={"code": approved["code"], "state": approved["state"]})
    assert answer.status_code == 200, answer.get_json()
    pair = answer.get_json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == "octocat"
    # the state is spent: the same answer again is refused, as is a state never issued
    again = client.post("/api/v1/auth/github/token", json={"code": approved["code"], "state": approved["state"]})
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_state"
    forged = client.post("/api/v1/auth/github/token", json={"code": "x", "state": "never-issued-state"})
    assert forged.status_code == 400 and forged.get_json()["code"] == "invalid_state"


def test_client_state_and_redirect_uri_are_honoured_and_checked(client: Any, fake_github: Any,
                                                                frontend: str) -> None:
    started = _authorize(client, f"?state=my-own-state-123&redirect_uri={FRONTEND}/github/done")
    assert started["state"] == "my-own-state-123"
    assert parse_qs(urlsplit(started["authorization_url"]).query)["redirect_uri"] == [f"{FRONTEND}/github/done"]
    reused = client.get("/api/v1/auth/github/authorize?state=my-own-state-123")
    assert reused.status_code == 422
    elsewhere = client.get("/api/v1/auth/github/authorize?redirect_uri=https://evil.example/steal")
    assert elsewhere.status_code == 422 and "redirect_uri" in elsewhere.get_json()["errors"]


def test_json_flow_needs_a_redirect_target(client: Any, fake_github: Any) -> None:
    response = client.get("/api/v1/auth/github/authorize")
    assert response.status_code == 422 and "FRONTEND_URL" in response.get_json()["message"]


def test_a_code_github_refuses_is_a_clear_400(client: Any, fake_github: Any, frontend: str) -> None:
    started = _authorize(client)
    response = client.post("/api/v1/auth/github/token", json={"code": "not-a-code", "state": started["state"]})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_code"
    assert "incorrect or expired" in response.get_json()["message"]


def test_missing_fields_are_422(client: Any, fake_github: Any) -> None:
    response = client.post("/api/v1/auth/github/token", json={"code": "abc"})
    assert response.status_code == 422


def test_redirect_flow_hands_the_front_end_a_one_time_code_in_the_fragment(client: Any, db: Any, fake_github: Any,
                                                                           frontend: str) -> None:
    start = client.get("/auth/github/frontend")
    assert start.status_code == 302
    approved = approve_at_github(fake_github, start.headers["Location"], "octocat")
    assert approved["redirect"] == "http://gantry.test/auth/github/frontend/callback"
    back = client.get(f"/auth/github/frontend/callback?code={approved['code']}&state={approved['state']}")
    assert back.status_code == 302
    landing = urlsplit(back.headers["Location"])
    assert f"{landing.scheme}://{landing.netloc}" == FRONTEND and landing.query == ""  # nothing in the query
    fragment = dict(parse_qsl(landing.fragment))
    assert fragment["token_type"] == "handoff" and "access_token" not in fragment
    pair = client.post("/api/v1/auth/github/handoff", json={"code": fragment["code"]})
    assert pair.status_code == 200 and pair.get_json()["access_token"]
    again = client.post("/api/v1/auth/github/handoff", json={"code": fragment["code"]})
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_code"
    db.session.expire_all()
    assert db.session.scalar(sa.select(User).where(User.username == "octocat")) is not None


def test_redirect_flow_failure_lands_on_the_front_end_with_the_reason(client: Any, fake_github: Any,
                                                                      frontend: str) -> None:
    back = client.get("/auth/github/frontend/callback?code=x&state=never-issued")
    assert back.status_code == 302
    landing = urlsplit(back.headers["Location"])
    assert landing.netloc == "app.example.test"
    assert "expired or already used" in dict(parse_qsl(landing.fragment))["error"]


def test_a_json_state_cannot_finish_a_front_end_sign_in(client: Any, fake_github: Any, frontend: str) -> None:
    started = _authorize(client)
    approved = approve_at_github(fake_github, started["authorization_url"])
    back = client.get(f"/auth/github/frontend/callback?code={approved['code']}&state={approved['state']}")
    assert "another sign-in" in dict(parse_qsl(urlsplit(back.headers["Location"]).fragment))["error"]


class RedisSwitch:
    """Makes the app's Redis unreachable (a port nothing listens on), and reachable again."""

    def __init__(self, app: Any) -> None:
        from webapp.core.jobs import EXTENSION_KEY

        self.app, self.key = app, EXTENSION_KEY
        self.real = app.extensions[EXTENSION_KEY]

    def down(self) -> None:
        from redis import Redis

        self.app.extensions[self.key] = Redis.from_url("redis://127.0.0.1:1/0")

    def up(self) -> None:
        self.app.extensions[self.key] = self.real


@pytest.fixture
def redis_switch(app: Any) -> Iterator[RedisSwitch]:
    switch = RedisSwitch(app)
    yield switch
    switch.up()


def test_redis_down_when_a_sign_in_starts_is_a_clear_503(client: Any, fake_github: Any, frontend: str,
                                                         redis_switch: RedisSwitch) -> None:
    redis_switch.down()
    api = client.get("/api/v1/auth/github/authorize")
    page = client.get("/auth/github/frontend", headers={"Accept": "text/html"})

    assert api.status_code == 503 and api.get_json()["code"] == "sign_in_unavailable"
    assert "try again shortly" in api.get_json()["message"]
    assert page.status_code == 503 and "Location" not in page.headers
    assert "try again shortly" in page.get_data(as_text=True)


def test_redis_down_when_a_sign_in_finishes_spends_nothing(client: Any, app: Any, db: Any, fake_github: Any,
                                                          frontend: str, redis_switch: RedisSwitch) -> None:
    started = _authorize(client)
    approved = approve_at_github(fake_github, started["authorization_url"])
    answer = {"code": approved["code"], "state": approved["state"]}
    redis_switch.down()
    refused = client.post("/api/v1/auth/github/token", json=answer)
    redis_switch.up()  # Redis is back: the same state and code still work

    assert refused.status_code == 503 and refused.get_json()["code"] == "sign_in_unavailable"
    assert fake_github.calls("POST", r"^/login/oauth/access_token$") == []  # GitHub's code not spent
    assert client.post("/api/v1/auth/github/token", json=answer).status_code == 200


def test_redis_down_when_a_front_end_redeems_its_code_keeps_the_code(client: Any, db: Any, fake_github: Any,
                                                                    frontend: str, redis_switch: RedisSwitch) -> None:
    start = client.get("/auth/github/frontend")
    approved = approve_at_github(fake_github, start.headers["Location"], "octocat")
    back = client.get(f"/auth/github/frontend/callback?code={approved['code']}&state={approved['state']}")
    handoff = dict(parse_qsl(urlsplit(back.headers["Location"]).fragment))["code"]
    redis_switch.down()
    refused = client.post("/api/v1/auth/github/handoff", json={"code": handoff})
    redis_switch.up()

    assert refused.status_code == 503 and refused.get_json()["code"] == "sign_in_unavailable"
    assert client.post("/api/v1/auth/github/handoff", json={"code": handoff}).status_code == 200
