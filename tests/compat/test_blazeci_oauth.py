"""BlazeCI's sign-in, as its document shows it (seed 000), at /compat/blazeci:

    curl -X GET "http://localhost:8000/auth/github/authorize"
    curl -X POST "http://localhost:8000/auth/github/callback" \\
      -H "Content-Type: application/json" -d '{"code": "github_oauth_code"}'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.github.helpers import approve_at_github

BASE = "/compat/blazeci"
FRONTEND = "https://blazeci.example.test"


@pytest.fixture
def frontend(app: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(app.config, "FRONTEND_URL", FRONTEND)
    return FRONTEND


def test_documented_requests_give_a_jwt(client: Any, fake_github: Any, frontend: str) -> None:
    authorize = client.get(f"{BASE}/auth/github/authorize")
    assert authorize.status_code == 200, authorize.get_json()
    started = authorize.get_json()
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert query["redirect_uri"] == [FRONTEND] and query["state"] == [started["state"]]
    approved = approve_at_github(fake_github, started["authorization_url"], "octocat")
    callback = client.post(f"{BASE}/auth/github/callback", headers={"Content-Type": "application/json"},
                           data=f'{{"code": "{approved["code"]}"}}')
    assert callback.status_code == 200, callback.get_json()
    answer = callback.get_json()
    assert answer["token_type"] == "bearer" and answer["access_token"].count(".") == 2  # a JWT
    assert answer["user"]["github_login"] == "octocat"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {answer['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == "octocat"
    # GitHub's code works once
    again = client.post(f"{BASE}/auth/github/callback", json={"code": approved["code"]})
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_code" and again.get_json()["detail"]


def test_post_auth_github_is_the_same_exchange(client: Any, fake_github: Any, frontend: str) -> None:
    """The endpoint list's `POST /auth/github` ("GitHub OAuth authentication") trades the code too."""
    started = client.get(f"{BASE}/auth/github/authorize").get_json()
    approved = approve_at_github(fake_github, started["authorization_url"], "octocat")
    answer = client.post(f"{BASE}/auth/github", json={"code": approved["code"], "state": approved["state"]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["token_type"] == "bearer" and answer.get_json()["user"]["github_login"] == "octocat"
    repos = client.get(f"{BASE}/repos", headers={"Authorization": f"Bearer {answer.get_json()['access_token']}"})
    assert repos.status_code == 200
    spent = client.post(f"{BASE}/auth/github/callback", json={"code": approved["code"], "state": approved["state"]})
    assert spent.status_code == 400 and spent.get_json()["code"] == "invalid_state"


def test_a_state_sent_back_is_checked_and_spent(client: Any, fake_github: Any, frontend: str) -> None:
    started = client.get(f"{BASE}/auth/github/authorize").get_json()
    approved = approve_at_github(fake_github, started["authorization_url"], "octocat")
    body = {"code": approved["code"], "state": approved["state"]}
    assert client.post(f"{BASE}/auth/github/callback", json=body).status_code == 200
    replayed = client.post(f"{BASE}/auth/github/callback", json=body)
    assert replayed.status_code == 400 and replayed.get_json()["code"] == "invalid_state"
    forged = client.post(f"{BASE}/auth/github/callback", json={"code": "x", "state": "not-a-state-we-gave"})
    assert forged.status_code == 400 and forged.get_json()["code"] == "invalid_state"


def test_bad_bodies_are_fastapi_422(client: Any, fake_github: Any) -> None:
    response = client.post(f"{BASE}/auth/github/callback", json={})
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["loc"] == ["body", "code"]


def test_without_a_front_end_the_client_names_its_redirect(client: Any, fake_github: Any) -> None:
    assert client.get(f"{BASE}/auth/github/authorize").status_code == 422
    named = client.get(f"{BASE}/auth/github/authorize?redirect_uri=http://gantry.test/done")
    assert named.status_code == 200
