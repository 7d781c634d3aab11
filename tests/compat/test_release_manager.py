"""The DevOps Release Manager's users, moved to Gantry: every endpoint its document lists, at
/compat/release-manager (seed 001), and the /api/v1 additions it needed (login alias, PUT on users).

Its document lists paths without bodies; the requests below send what its names promise (a
username and password to log in, a refresh token to refresh, a user's fields to create or change).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.compat.seed_document import document

BASE = "/compat/release-manager"
PASSWORD = "correct-horse-battery"


def documented_endpoints() -> list[tuple[str, str]]:
    """`METHOD /path` lines of the document's API Endpoints section, in order."""
    section = document("001_release_manager.md").split("## API Endpoints", 1)[1].split("## Configuration", 1)[0]
    return re.findall(r"^(GET|POST|PUT|DELETE) (/\S*)$", section, re.M)


def test_the_document_lists_these_endpoints() -> None:
    assert documented_endpoints() == [
        ("GET", "/health"), ("GET", "/"), ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/{user_id}"), ("PUT", "/api/v1/users/{user_id}"), ("DELETE", "/api/v1/users/{user_id}"),
    ]


def test_every_documented_endpoint_answers(client: Any, make_user: Any) -> None:
    make_user("admin", username="admin", password=PASSWORD)
    answers = {}
    user_id = None
    tokens: dict[str, str] = {}
    for method, path in documented_endpoints():
        url = BASE + path.replace("{user_id}", str(user_id))
        headers = {"Authorization": f"Bearer {tokens['access_token']}"} if tokens else {}
        body: dict[str, Any] | None = None
        if path == "/api/v1/auth/login":
            body = {"username": "admin", "password": PASSWORD}
        elif path == "/api/v1/auth/refresh":
            body = {"refresh_token": tokens["refresh_token"]}
        elif path == "/api/v1/auth/logout":
            body = {"token": tokens["refresh_token"]}
        elif (method, path) == ("POST", "/api/v1/users"):
            body = {"username": "release-bot", "email": "bot@example.test", "password": "a-long-password-1"}
        elif method == "PUT":
            body = {"role": "maintainer", "display_name": "Release bot"}
        response = client.open(url, method=method, headers=headers, json=body)
        answers[f"{method} {path}"] = response
        assert response.status_code < 400, (method, path, response.status_code, response.get_data(as_text=True))
        if path in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
            assert response.json["token_type"] == "Bearer"
            tokens = {"access_token": response.json["access_token"], "refresh_token": response.json["refresh_token"]}
        if path == "/api/v1/auth/logout":
            login = client.post(f"{BASE}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            tokens = {"access_token": login.json["access_token"], "refresh_token": login.json["refresh_token"]}
        if (method, path) == ("POST", "/api/v1/users"):
            user_id = response.json["id"]
    assert answers["GET /health"].json == {"status": "healthy", "service": "release-manager",
                                           "environment": "development"}
    assert answers["GET /"].json == answers["GET /health"].json
    assert answers["POST /api/v1/users"].status_code == 201
    assert answers["PUT /api/v1/users/{user_id}"].json["role"] == "maintainer"
    assert answers["DELETE /api/v1/users/{user_id}"].status_code == 204
    assert client.get(f"{BASE}/api/v1/users/{user_id}", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).status_code == 404
    assert "release-bot" not in {u["username"] for u in answers["GET /api/v1/users"].json["items"]}


def test_the_base_path_alone_is_the_health_answer(client: Any) -> None:
    assert client.get(BASE).json["status"] == "healthy"


@pytest.mark.parametrize("base", ["", BASE])
def test_login_is_the_token_endpoint_in_api_v1_too(client: Any, make_user: Any, base: str) -> None:
    make_user("viewer", username="dev", password=PASSWORD)
    response = client.post(f"{base}/api/v1/auth/login", json={"username": "dev", "password": PASSWORD})
    assert response.status_code == 200 and response.json["access_token"] and response.json["refresh_token"]
    wrong = client.post(f"{base}/api/v1/auth/login", json={"username": "dev", "password": "not-the-password"})
    assert wrong.status_code == 401


def test_put_on_a_user_in_api_v1_changes_the_fields_sent(client: Any, make_user: Any, make_key: Any) -> None:
    admin = make_key(make_user("admin"), "admin")
    user = make_user("viewer", username="someone")
    response = client.put(f"/api/v1/users/{user.id}", json={"role": "maintainer"}, headers=admin)
    assert response.status_code == 200 and response.json["role"] == "maintainer"
    assert response.json["username"] == "someone"
    viewer = make_key(make_user("viewer"), "read")
    assert client.put(f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=viewer).status_code == 403


def test_errors_are_fastapi_style(client: Any) -> None:
    response = client.get(f"{BASE}/api/v1/users")
    assert response.status_code == 401 and isinstance(response.json["detail"], str)
    missing = client.post(f"{BASE}/api/v1/auth/login", json={"username": "x"})
    assert missing.status_code == 422 and missing.json["detail"][0]["loc"] == ["body", "password"]
