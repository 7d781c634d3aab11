"""The App-manifest flow end to end against the fake, and App settings from the environment vs the database."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import Browser
from tests.found import found
from webapp.repos.app_config import get_app_settings
from webapp.repos.models import GitHubAppConfig

ENV_APP = ("GITHUB_APP_ID", "GITHUB_APP_SLUG", "GITHUB_APP_PRIVATE_KEY", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
           "GITHUB_WEBHOOK_SECRET")


@pytest.fixture
def no_env_app(app: Any, monkeypatch: Any) -> None:
    for name in ENV_APP:
        monkeypatch.setitem(app.config, name, None)


def _start(browser: Browser, organization: str = "") -> tuple[str, dict[str, Any]]:
    page = browser.post("/github/app", data={"name": "Gantry Prod", "organization": organization})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    import html as htmllib
    import re

    form = found(re.search(r'<form method="post" action="([^"]+)" id="manifest-form">', html))
    action = htmllib.unescape(form.group(1))
    manifest = json.loads(htmllib.unescape(found(re.search(r'name="manifest" value="([^"]+)"', html)).group(1)))
    return action, manifest


def test_manifest_flow_registers_the_app_and_stores_it_encrypted(app: Any, client: Any, db: Any, fake_github: Any,
                                                                 login_as: Any, no_env_app: None) -> None:
    login_as("admin")
    browser = Browser(client)
    assert get_app_settings() is None
    page = client.get("/github").get_data(as_text=True)
    assert "Register GitHub App" in page
    action, manifest = _start(browser, organization="acme")
    assert action.startswith(f"{fake_github.url}/organizations/acme/settings/apps/new?state=")
    assert manifest["hook_attributes"]["url"] == "http://gantry.test/webhooks/github"
    assert manifest["redirect_url"] == "http://gantry.test/github/app/manifest/callback"
    assert "workflow_job" in manifest["default_events"]
    # the browser posts the manifest to GitHub, which sends it back with a code
    github_answer = requests.post(action, data={"manifest": json.dumps(manifest)}, allow_redirects=False, timeout=5)
    back = urlsplit(github_answer.headers["Location"])
    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 302 and response.headers["Location"] == "/github"
    assert fake_github.calls("POST", r"^/app-manifests/[0-9a-f]+/conversions$")

    db.session.expire_all()
    stored = db.session.scalars(sa.select(GitHubAppConfig)).one()
    registered = fake_github.state.apps[stored.app_id]
    assert stored.slug == "gantry-prod" and stored.owner_login == "acme"
    with db.engine.connect() as conn:
        raw = " ".join(str(r) for r in conn.execute(sa.text("SELECT * FROM github_app_config")))
    for secret in (registered["client_secret"], registered["webhook_secret"], "BEGIN PRIVATE KEY"):
        assert secret not in raw
    settings = found(get_app_settings())
    assert settings.app_id == stored.app_id and settings.source == "database"
    assert settings.webhook_secret == registered["webhook_secret"]
    # the stored key works: an app JWT for the new App is accepted by GitHub
    from webapp.integrations.github import github

    assert github().app_request("GET", "/app")["id"] == stored.app_id
    assert client.get("/api/v1/github/install", headers=_admin_key(app, db)).get_json()["url"] == \
        "https://github.com/apps/gantry-prod/installations/new"
    assert parse_qs(back.query)["code"]


def _admin_key(app: Any, db: Any) -> dict[str, str]:
    from webapp.auth import service

    user = db.session.scalar(sa.select(service.User).where(service.User.role == "admin"))
    _, secret = service.create_api_key(user, name="t", scopes=["read"], expires_at=None, actor="test")
    return {"X-API-Key": secret}


def test_manifest_for_the_users_own_account(app: Any, client: Any, fake_github: Any, login_as: Any,
                                            no_env_app: None) -> None:
    login_as("admin")
    action, _ = _start(Browser(client))
    assert action.startswith(f"{fake_github.url}/settings/apps/new?state=")


def test_manifest_callback_with_a_foreign_state_is_refused(app: Any, client: Any, db: Any, fake_github: Any,
                                                           login_as: Any, no_env_app: None) -> None:
    login_as("admin")
    action, manifest = _start(Browser(client))
    github_answer = requests.post(action, data={"manifest": json.dumps(manifest)}, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(github_answer.headers["Location"]).query)["code"][0]
    response = client.get(f"/github/app/manifest/callback?code={code}&state=someone-else")
    assert response.status_code == 400
    assert not fake_github.calls("POST", r"/conversions$")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GitHubAppConfig)) == 0


def test_used_manifest_code_is_a_clear_error(app: Any, client: Any, db: Any, fake_github: Any, login_as: Any,
                                             no_env_app: None) -> None:
    login_as("admin")
    browser = Browser(client)
    _start(browser)
    with client.session_transaction() as session:
        state = session["github_manifest_state"]
    response = client.get(f"/github/app/manifest/callback?code=unknowncode&state={state}")
    assert response.status_code == 422
    assert "expired or was already used" in response.get_data(as_text=True)


def test_bad_organisation_name_is_an_inline_error(app: Any, client: Any, login_as: Any, no_env_app: None) -> None:
    login_as("admin")
    response = Browser(client).post("/github/app", data={"organization": "not an org!"})
    assert response.status_code == 422
    assert "not a GitHub organisation name" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "maintainer"])
def test_app_setup_is_admin_only(app: Any, client: Any, login_as: Any, role: str) -> None:
    login_as(role)
    assert client.get("/github/app").status_code == 403
    assert client.get("/github/app/manifest/callback?code=x&state=y").status_code == 403


def test_environment_overrides_stored_settings_field_by_field(app: Any, db: Any, monkeypatch: Any) -> None:
    db.session.add(GitHubAppConfig(app_id=77, slug="stored", client_id="stored-id", client_secret="stored-secret",
                                   private_key="stored-key", webhook_secret="stored-hook"))
    db.session.commit()
    monkeypatch.setitem(app.config, "GITHUB_WEBHOOK_SECRET", None)
    monkeypatch.setitem(app.config, "GITHUB_APP_SLUG", None)
    settings = found(get_app_settings())
    assert settings.app_id == 1  # environment
    assert settings.webhook_secret == "stored-hook" and settings.slug == "stored"  # database
    assert settings.source == "environment+database"


def test_private_key_setting_accepts_a_path(tmp_path: Any) -> None:
    from webapp.config import ConfigError, load_settings

    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n")
    from cryptography.fernet import Fernet

    env = {"GITHUB_APP_PRIVATE_KEY": str(key), "DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 40,
           "ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    assert load_settings(env)["GITHUB_APP_PRIVATE_KEY"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    inline = load_settings({**env, "GITHUB_APP_PRIVATE_KEY": "-----BEGIN KEY-----\\nabc\\n-----END KEY-----"})
    assert inline["GITHUB_APP_PRIVATE_KEY"] == "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    with pytest.raises(ConfigError):
        load_settings({**env, "GITHUB_APP_PRIVATE_KEY": str(tmp_path / "missing.pem")})
