"""Test helpers: walk through the GitHub OAuth web flow against the fake, as a browser would."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests


def start_github_login(client: Any, query: str = "") -> str:
    """GET /auth/github/login and follow GitHub's authorize redirect; returns Gantry's callback path+query."""
    response = client.get(f"/auth/github/login{query}")
    assert response.status_code == 302, response.get_data(as_text=True)
    authorize = requests.get(response.headers["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302, authorize.text
    callback = urlsplit(authorize.headers["Location"])
    assert callback.path == "/auth/github/callback"
    return f"{callback.path}?{callback.query}"


def github_login(client: Any, fake: Any, login: str = "octocat", query: str = "") -> Any:
    """Sign `client` in with GitHub as `login`; returns the callback response."""
    fake.sign_in_as(login)
    return client.get(start_github_login(client, query))


def approve_at_github(fake: Any, authorization_url: str, login: str = "octocat") -> dict[str, str]:
    """`login` approves an authorization URL at the fake GitHub; returns the `code` and `state` it redirects
    back with (and `redirect`, where it sent the browser)."""
    fake.sign_in_as(login)
    answer = requests.get(authorization_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    target = answer.headers["Location"]
    query = dict(parse_qsl(urlsplit(target).query))
    return {"code": query["code"], "state": query.get("state", ""), "redirect": target.split("?", 1)[0]}
