"""Security headers on every answer, HSTS only in production, CORS only for the API and listed origins."""

from __future__ import annotations

import re

import pytest

from tests.found import found

ALLOWED = "https://ci.example"


@pytest.fixture
def cors_app(build_app):
    return build_app(CORS_ORIGINS=[ALLOWED])


@pytest.mark.parametrize("path", ["/", "/login", "/status", "/health", "/api/v1/me", "/api/docs", "/nope"])
def test_security_headers_everywhere(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in csp
    if not path.startswith("/api/docs"):
        assert directives["style-src"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # development


def test_hsts_in_production(build_app):
    production = build_app(ENVIRONMENT="production")
    response = production.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(found(re.search(r"max-age=(\d+)", response.headers["Strict-Transport-Security"])).group(1)) >= 15552000


@pytest.mark.parametrize("path", ["/", "/status", "/admin/users", "/admin/audit", "/account/api-keys"])
def test_pages_have_no_inline_script_or_style(client, login_as, path):
    """The CSP forbids them, so a browser would silently drop them."""
    login_as("admin")
    page = client.get(path).get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert " style=" not in page and "<style" not in page
    assert re.findall(r"\son[a-z]+=", page) == []  # no onclick= and friends


def test_cors_answers_listed_origins_on_the_api(cors_app, make_user, make_key):
    client = cors_app.test_client()
    headers = make_key(make_user("viewer"), "read")
    response = client.get("/api/v1/me", headers={**headers, "Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]

    preflight = client.options("/api/v1/me", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-API-Key",
    })
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_cors_ignores_other_origins_and_pages(cors_app, client):
    other = cors_app.test_client().get("/api/v1/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    page = cors_app.test_client().get("/status", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in page.headers
    # with CORS_ORIGINS unset (the default) no origin is answered
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/me", headers={"Origin": ALLOWED}).headers


# --- fragments -----------------------------------------------------------------------------


def test_htmx_gets_the_block_history_restore_gets_the_page(client, login_as):
    login_as("admin")
    page = client.get("/admin/audit")
    fragment = client.get("/admin/audit", headers={"HX-Request": "true"})
    restore = client.get("/admin/audit", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in page.get_data(as_text=True) and "<html" in restore.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "<tr>" in body
    for response in (page, fragment, restore):
        assert "HX-Request" in response.headers["Vary"]


def test_fragment_can_use_macros_imported_by_its_template(app):
    from webapp.core.htmx import render

    with app.test_request_context("/login", headers={"HX-Request": "true"}):
        body = render("auth/login.html", "login_form", error="Nope.", next="").get_data(as_text=True)
    assert 'name="csrf_token"' in body and 'role="alert"' in body and "<html" not in body


# --- behind a reverse proxy ----------------------------------------------------------------


def sign_in_from(app, forwarded_for):
    from tests.conftest import PASSWORD, csrf_token

    client = app.test_client()
    token = csrf_token(client)
    return client.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token},
                       headers={"X-Forwarded-For": forwarded_for})


def last_login_ip(db):
    from webapp.core.audit import AuditEvent

    db.session.expire_all()
    return db.session.query(AuditEvent).filter_by(action="user.login").order_by(AuditEvent.id.desc()).first().ip


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(app, make_user, db):
    make_user("viewer", username="sam")
    assert sign_in_from(app, "203.0.113.9").status_code == 302
    assert last_login_ip(db) == "127.0.0.1"  # anyone can send the header: not believed by default


def test_trusted_proxy_gives_the_client_address(build_app, make_user, db, monkeypatch):
    behind_proxy = build_app(TRUSTED_PROXIES=1)
    make_user("viewer", username="sam")
    assert sign_in_from(behind_proxy, "198.51.100.1, 203.0.113.9").status_code == 302
    assert last_login_ip(db) == "203.0.113.9"  # the address the one trusted proxy saw

    # the per-IP login limit applies to each client, not to the proxy everyone comes through
    monkeypatch.setitem(behind_proxy.config, "RATELIMIT_LOGIN", "2 per minute")
    from tests.conftest import csrf_token

    client = behind_proxy.test_client()

    def attempt(ip, user):
        data = {"username": user, "password": "wrong-password", "csrf_token": csrf_token(client)}
        return client.post("/login", data=data, headers={"X-Forwarded-For": ip}).status_code

    assert [attempt("192.0.2.1", f"u{i}") for i in range(3)] == [401, 401, 429]
    assert attempt("192.0.2.2", "u9") == 401
