"""The GitHub Webhook Manager's users, moved to Gantry: every documented request, in the document's order,
at /compat/webhook-manager (seed 004).

Its front end sends people to `/auth/login`, GitHub brings them back to `/auth/callback`, and from
then on it calls the API with the bearer token it was handed. The sign-in client here is a classic
OAuth App, as the document's `CLIENT_ID`/`CLIENT_SECRET` are: its token reaches a repository the
GitHub App is not installed on (acme/webhook-manager), so commits and webhook set-up work there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import sqlalchemy as sa

from sandbox.github import classic_oauth_settings
from tests.github.helpers import approve_at_github
from tests.shared_data import webhook_payload
from webapp.auth.models import User

BASE = "/compat/webhook-manager"
FRONTEND = "https://deploy.example.test"
WEBHOOK_MANAGER = 1004


@pytest.fixture
def configured(app: Any, fake_github: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The document's environment: CLIENT_ID/CLIENT_SECRET (a classic OAuth App) and FRONTEND_URL."""
    from webapp.repos.mirror import reconcile_installations

    for name, value in {**classic_oauth_settings(), "FRONTEND_URL": FRONTEND}.items():
        monkeypatch.setitem(app.config, name, value)
    reconcile_installations()
    return fake_github


def _sign_in(client: Any, fake: Any, db: Any, login: str = "octocat", role: str = "maintainer") -> dict[str, str]:
    """GET /auth/login, approve at GitHub, GET /auth/callback, trade the handed-over code: bearer headers."""
    login_redirect = client.get(f"{BASE}/auth/login")
    assert login_redirect.status_code == 302
    authorize = urlsplit(login_redirect.headers["Location"])
    assert authorize.path == "/login/oauth/authorize"
    assert parse_qs(authorize.query)["redirect_uri"] == [f"http://gantry.test{BASE}/auth/callback"]
    approved = approve_at_github(fake, login_redirect.headers["Location"], login)
    callback = client.get(f"{BASE}/auth/callback?code={approved['code']}&state={approved['state']}")
    assert callback.status_code == 302
    landing = urlsplit(callback.headers["Location"])
    assert f"{landing.scheme}://{landing.netloc}" == FRONTEND and not landing.query
    handed = dict(parse_qsl(landing.fragment))
    pair = client.post("/api/v1/auth/github/handoff", json={"code": handed["code"]}).get_json()
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.username == login))
    user.role = role  # an admin gives the person the role their work needs
    db.session.commit()
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_every_documented_request_in_order(client: Any, db: Any, configured: Any) -> None:
    # Authentication: /auth/login, /auth/callback
    headers = _sign_in(client, configured, db)

    # User Management: /user/profile, /user/repos
    profile = client.get(f"{BASE}/user/profile", headers=headers)
    assert profile.status_code == 200
    assert profile.get_json()["login"] == "octocat" and profile.get_json()["id"] == 583231
    repos = client.get(f"{BASE}/user/repos", headers=headers)
    assert repos.status_code == 200
    names = [r["full_name"] for r in repos.get_json()]
    assert names == ["acme/infrajet", "acme/webhook-manager", "acme/widgets"]  # with the one without the App

    # Webhook Management: commits, setup-webhook, webhook
    commits = client.get(f"{BASE}/api/repos/acme/webhook-manager/commits", headers=headers)
    assert commits.status_code == 200
    assert [c["message"] for c in commits.get_json()] == [f"Change {i} of acme/webhook-manager" for i in range(3)]
    assert configured.calls("GET", r"^/repos/acme/webhook-manager/commits$")[-1].auth == "user:octocat"

    hook = client.post(f"{BASE}/api/repos/acme/webhook-manager/setup-webhook", headers=headers)
    assert hook.status_code == 200, hook.get_json()
    assert hook.get_json()["repository"] == "acme/webhook-manager"
    on_github = configured.state.hooks[WEBHOOK_MANAGER][0]
    assert on_github["config"]["url"] == "http://gantry.test/webhooks/github"

    payload = webhook_payload("push", "default")
    payload["repository"].update(id=WEBHOOK_MANAGER, full_name="acme/webhook-manager")  # the hook's own
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(on_github["_secret"].encode(), body, hashlib.sha256).hexdigest()
    delivered = client.post(f"{BASE}/api/webhook", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(on_github["id"]), "X-Hub-Signature-256": signature})
    assert delivered.status_code == 202, delivered.get_json()
    assert delivered.get_json()["status"] == "accepted"


def test_app_only_sign_in_is_refused_with_the_reason(client: Any, db: Any, fake_github: Any, app: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With the GitHub App's own client, its token cannot reach acme/webhook-manager: said, in FastAPI's style."""
    from webapp.repos.mirror import reconcile_installations, upsert_repository
    from webapp.repos.models import RepositoryAccess

    monkeypatch.setitem(app.config, "FRONTEND_URL", FRONTEND)
    reconcile_installations()
    headers = _sign_in(client, fake_github, db)
    user = db.session.scalar(sa.select(User).where(User.username == "octocat"))
    upsert_repository(fake_github.state.repositories[WEBHOOK_MANAGER], None)
    db.session.merge(RepositoryAccess(user_id=user.id, repository_id=WEBHOOK_MANAGER, permission="admin"))
    db.session.commit()
    for method, path in (("GET", "commits"), ("POST", "setup-webhook")):
        response = client.open(f"{BASE}/api/repos/acme/webhook-manager/{path}", method=method, headers=headers)
        assert response.status_code == 409, path
        assert response.get_json()["code"] == "app_not_installed"
        assert "GITHUB_OAUTH_CLIENT_KIND=oauth_app" in response.get_json()["detail"]
    assert not fake_github.calls("POST", r"/hooks$") and not fake_github.calls("GET", r"/commits$")


def test_requests_without_a_token_are_401_detail(client: Any, configured: Any) -> None:
    for method, path in (("GET", "/user/profile"), ("GET", "/user/repos"),
                         ("GET", "/api/repos/acme/infrajet/commits"),
                         ("POST", "/api/repos/acme/infrajet/setup-webhook")):
        response = client.open(BASE + path, method=method)
        assert response.status_code == 401 and "detail" in response.get_json(), path


def test_unsigned_delivery_is_refused(client: Any, configured: Any) -> None:
    response = client.post(f"{BASE}/api/webhook", json={"zen": "hi"}, headers={
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": str(uuid.uuid4())})
    assert response.status_code == 401 and response.get_json()["code"] == "signature_missing"


def test_callback_with_a_foreign_state_lands_on_the_front_end_with_the_reason(client: Any, configured: Any) -> None:
    response = client.get(f"{BASE}/auth/callback?code=abc&state=forged-state-value")
    assert response.status_code == 302
    assert "error" in dict(parse_qsl(urlsplit(response.headers["Location"]).fragment))


@pytest.mark.parametrize("path", [f"{BASE}/api/webhook", "/compat/infrajet/api/v1/github/webhook"])
def test_form_encoded_deliveries_reach_the_intake_through_a_front_door(client: Any, fake_github: Any,
                                                                       path: str) -> None:
    """A hook set up with content type "form" still delivers to the front door's alias of the intake."""
    from sandbox.github import DEFAULT_WEBHOOK_SECRET
    from tests.webhooks.helpers import webhook_request

    body, headers = webhook_request("push", webhook_payload("push", "default"), DEFAULT_WEBHOOK_SECRET, form=True)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "accepted"
