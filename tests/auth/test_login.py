"""Signing in and out with the form: generic errors, safe redirects, CSRF, rate limits."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import PASSWORD, csrf_token
from webapp.core.audit import AuditEvent


def login(client, username, password=PASSWORD, next_url=None, headers=None, **kwargs):
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data, headers=headers or {}, **kwargs)


def test_sign_in_and_out(client, make_user, db):
    user = make_user("viewer", username="sam")
    response = login(client, "sam")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    db.session.expire_all()
    assert user.last_login_at is not None
    assert db.session.query(AuditEvent).filter_by(action="user.login", actor="sam").count() == 1

    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert db.session.query(AuditEvent).filter_by(action="user.logout", actor="sam").count() == 1


def test_logout_refuses_get(client, make_user):
    response = client.get("/logout")
    assert response.status_code == 405
    assert response.headers["Allow"]


def test_session_cookie_is_http_only_and_same_site(client, make_user):
    make_user("viewer", username="sam")
    response = login(client, "sam")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure():
    from webapp.config import load_settings

    settings = load_settings({"ENVIRONMENT": "production", "SECRET_KEY": "Zq8-vLr2_Yp0TnWm4KcX7sHd1JfGa9Bu",
                              "ENCRYPTION_KEYS": "9zlJdpYpZ3f2GZ0pKk6Z2o6QbqSWgGmNDSRrbT3QJqg="})
    assert settings["SESSION_COOKIE_SECURE"] and settings["REMEMBER_COOKIE_SECURE"]


@pytest.mark.parametrize(("username", "password"), [("sam", "wrong-password"), ("nobody", PASSWORD),
                                                    ("retired", PASSWORD)])
def test_failed_sign_in_says_the_same_thing(client, make_user, username, password):
    make_user("viewer", username="sam")
    make_user("viewer", username="retired", active=False)
    response = login(client, username, password)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Wrong username or password." in page
    assert "not active" not in page and "no such" not in page.lower()
    assert client.get("/").status_code == 302


def test_htmx_sign_in_redirects_by_header(client, make_user):
    make_user("viewer", username="sam")
    response = login(client, "sam", next_url="/account/api-keys", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/account/api-keys"
    failed = login(client, "sam", "wrong-password", headers={"HX-Request": "true"})
    assert failed.status_code == 401
    assert "<html" not in failed.get_data(as_text=True)
    assert "Wrong username or password." in failed.get_data(as_text=True)


def test_next_keeps_you_on_site(client, make_user):
    make_user("viewer", username="sam")
    assert login(client, "sam", next_url="/admin/audit?action=x").headers["Location"] == "/admin/audit?action=x"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/\t/evil.example",
    "javascript:alert(1)", "evil.example", "https:/evil.example", "/%0a/evil.example",
])
def test_next_never_leaves_the_site(client, make_user, target):
    make_user("viewer", username="sam")
    response = login(client, "sam", next_url=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    # what a browser would do with the Location: it must stay on this host
    assert "\\" not in location and not any(ord(c) < 0x20 for c in location)
    assert location.startswith("/") and not location.startswith("//")
    assert urlsplit(urljoin("http://gantry.test/login", location)).netloc == "gantry.test"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/\t/evil.example",
    "javascript:alert(1)", "evil.example", "https:/evil.example", "/%0a/evil.example", "/%5Cevil.example",
    "/%5C%5Cevil.example", "%2F%2Fevil.example", "/%2F/evil.example", "/%252F%252Fevil.example",
    "/%09/evil.example",
])
def test_htmx_sign_in_never_leaves_the_site(client, make_user, target):
    """HX-Redirect is followed by htmx as it stands: a hostile or encoded target becomes the home page."""
    make_user("viewer", username="sam")
    response = login(client, "sam", next_url=target, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"


def test_htmx_sign_in_keeps_a_local_path_with_its_query(client, make_user):
    make_user("viewer", username="sam")
    response = login(client, "sam", next_url="/builds?q=a b&platform=é", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/builds?q=a%20b&platform=%C3%A9"


def test_signed_in_visit_to_login_follows_safe_next(client, make_user):
    make_user("viewer", username="sam")
    login(client, "sam")
    assert client.get("/login?next=//evil.example").headers["Location"] == "/"
    assert client.get("/login?next=/status").headers["Location"] == "/status"


# --- CSRF ----------------------------------------------------------------------------------


def test_page_post_without_token_is_refused(client, make_user):
    make_user("viewer", username="sam")
    response = client.post("/login", data={"username": "sam", "password": PASSWORD})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "reload the page" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in


def test_state_changes_need_the_token(browser, client, make_user, db):
    from webapp.auth import service

    make_user("admin", username="root")
    browser.login("root")
    data = {"username": "mallory", "password": "long-enough-pw", "role": "admin"}
    response = client.post("/admin/users", data=data)
    assert response.status_code == 400
    response = client.post("/admin/users", data={**data, "csrf_token": "forged"})
    assert response.status_code == 400
    response = client.post("/admin/users", data=data, headers={"HX-Request": "true", "X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert "<html" not in response.get_data(as_text=True)  # an inline message for the swap
    assert "reload the page" in response.get_data(as_text=True)
    assert service.find_user("mallory") is None

    # the form field and the HTMX header both carry it
    assert client.post("/admin/users", data={**data, "csrf_token": csrf_token(client)}).status_code == 201
    data["username"] = "mallory2"
    response = client.post("/admin/users", data=data, headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)})
    assert response.status_code == 201


def test_token_from_another_session_is_refused(app, make_user):
    make_user("admin", username="root")
    attacker = app.test_client()
    stolen = csrf_token(attacker)
    victim = app.test_client()
    victim.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": csrf_token(victim)})
    response = victim.post("/admin/users", data={"username": "x1", "password": "long-enough-pw", "csrf_token": stolen})
    assert response.status_code == 400


def test_api_and_webhooks_are_not_csrf_checked(client, make_user, make_key):
    headers = make_key(make_user("viewer"), "read")
    response = client.post("/api/v1/api-keys", headers=headers, json={"name": "n", "scopes": ["read"]})
    assert response.status_code == 201
    response = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
    assert response.status_code == 401
    response = client.post("/webhooks/not-a-hook", json={})
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def three_per_minute(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "3 per minute")


def form_attempt(client, username, ip):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": "wrong-password", "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def test_form_login_is_limited_per_ip(client, three_per_minute, make_user):
    make_user("viewer", username="sam")
    statuses = [form_attempt(client, f"user{i}", "10.0.0.1").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    blocked = form_attempt(client, "sam", "10.0.0.1")
    assert blocked.status_code == 429
    assert blocked.mimetype == "text/html"
    assert "Too many requests" in blocked.get_data(as_text=True)
    assert form_attempt(client, "someone", "10.0.0.2").status_code == 401  # another address is not blocked


def test_form_login_is_limited_per_username(client, three_per_minute, make_user):
    make_user("viewer", username="sam")
    statuses = [form_attempt(client, "Sam" if i % 2 else "sam", f"10.0.1.{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert form_attempt(client, "other", "10.0.1.9").status_code == 401


def test_token_endpoint_is_limited_with_a_json_429(client, three_per_minute, make_user):
    make_user("viewer", username="sam")

    def attempt(username, ip):
        return client.post("/api/v1/auth/token", json={"username": username, "password": "wrong-password"},
                           environ_base={"REMOTE_ADDR": ip})

    assert [attempt(f"u{i}", "10.0.2.1").status_code for i in range(3)] == [401, 401, 401]
    response = attempt("sam", "10.0.2.1")
    assert response.status_code == 429
    assert response.json["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    assert [attempt("sam", f"10.0.3.{i}").status_code for i in range(4)] == [401, 401, 401, 429]
