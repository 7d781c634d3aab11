"""Every error under /api/ and /webhooks/ is JSON {code, message, errors} with the right status; pages get HTML."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin(make_user, make_key):
    return make_key(make_user("admin", username="root"), "admin")


def assert_json_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "errors"}
    return body


def test_400_malformed_json(client, admin):
    response = client.post("/api/v1/users", headers=admin, data="{not json", content_type="application/json")
    body = assert_json_error(response, 400, "bad_request")
    assert "json" in body["errors"]
    assert body["message"] == "The request body is not valid JSON."


def test_401_and_403(client, make_user, make_key):
    assert_json_error(client.get("/api/v1/users"), 401, "unauthorized")
    assert_json_error(client.get("/api/v1/users", headers=make_key(make_user("viewer"))), 403, "role_required")


def test_404_unknown_route_and_unknown_item(client, admin):
    assert_json_error(client.get("/api/v1/nope"), 404, "not_found")
    assert_json_error(client.get("/api/nope"), 404, "not_found")
    assert_json_error(client.post("/webhooks/nope", json={}), 404, "not_found")
    assert_json_error(client.get("/api/v1/users/424242", headers=admin), 404, "not_found")


def test_405_names_the_allowed_methods(client, admin):
    response = client.delete("/api/v1/me", headers=admin)
    assert_json_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
    response = client.put("/api/v1/users", headers=admin, json={})
    assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_409_conflict(client, admin):
    response = client.post("/api/v1/users", headers=admin, json={"username": "root", "password": "long-enough-pw"})
    body = assert_json_error(response, 409, "conflict")
    assert body["errors"] == {"username": ["already taken"]}


def test_413_too_large(app, client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/api/v1/users", headers=admin, json={"username": "x" * 2000, "password": "p" * 20})
    assert_json_error(response, 413, "payload_too_large")
    response = client.post("/webhooks/github", data=b"{}" + b" " * 2000, content_type="application/json")
    assert_json_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(("data", "content_type"), [
    ("username=x&password=long-enough-pw", "application/x-www-form-urlencoded"),
    ("username: x", "text/plain"),
    ("<user/>", "application/xml"),
])
def test_415_for_bodies_that_are_not_json(client, admin, data, content_type):
    response = client.post("/api/v1/users", headers=admin, data=data, content_type=content_type)
    body = assert_json_error(response, 415, "unsupported_media_type")
    assert "application/json" in body["message"]


def test_json_with_a_charset_is_json(client, admin):
    response = client.post("/api/v1/users", headers=admin, data='{"username": "x1", "password": "long-enough-pw"}',
                           content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_422_validation_lists_fields(client, admin):
    response = client.post("/api/v1/users", headers=admin, json={"username": ""})
    body = assert_json_error(response, 422, "validation_error")
    assert set(body["errors"]["json"]) == {"username", "password"}
    response = client.post("/api/v1/users", headers=admin, json=["not", "an", "object"])
    assert_json_error(response, 422, "validation_error")
    response = client.get("/api/v1/audit?limit=abc", headers=admin)
    assert "limit" in assert_json_error(response, 422, "validation_error")["errors"]["query"]


def test_429_rate_limited(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "1 per minute")
    client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
    assert_json_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"]


def test_500_is_json_without_internals(app, client, admin, monkeypatch, caplog):
    from webapp.auth import service

    def broken(user_id):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(service, "get_user", broken)
    response = client.get("/api/v1/users/1", headers=admin)
    body = assert_json_error(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "logged" in body["message"]
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records)


def test_domain_errors_map_to_statuses(app):
    from webapp.core import errors

    expected = {errors.ValidationFailed: 422, errors.Unauthorized: 401, errors.Forbidden: 403, errors.NotFound: 404,
                errors.Conflict: 409, errors.PayloadTooLarge: 413, errors.UnsupportedMediaType: 415,
                errors.RateLimited: 429, errors.Unavailable: 503}
    with app.test_request_context("/api/v1/anything"):
        for cls, status in expected.items():
            response = errors.handle_gantry_error(cls("went wrong", errors={"f": ["bad"]}, headers={"X-A": "1"}))
            assert response.status_code == status
            assert response.json == {"code": cls.code, "message": "went wrong", "errors": {"f": ["bad"]}}
            assert response.headers["X-A"] == "1"


# --- pages ---------------------------------------------------------------------------------


def test_pages_get_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html" and "<html" in response.get_data(as_text=True)
    response = client.get("/logout")
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"]


def test_htmx_errors_are_inline_fragments(client, login_as):
    login_as("viewer")
    response = client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "<html" not in page and 'role="alert"' in page and "admin role" in page


def test_page_500_is_html_without_internals(app, client, login_as, monkeypatch):
    from webapp.auth import service

    def broken():
        raise RuntimeError("secret detail")

    login_as("admin")
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(service, "list_users", broken)
    response = client.get("/admin/users")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "secret detail" not in response.get_data(as_text=True)


def test_a_value_the_database_refuses_is_422_not_500(app, client, admin, login_as, monkeypatch):
    """The net under every column a schema does not bound: class 22 data errors are the caller's input."""
    from sqlalchemy import text

    from webapp.auth import service
    from webapp.extensions import db

    def refused(*args, **kwargs):
        db.session.execute(text("SELECT CAST(:n AS smallint)"), {"n": 10**6})

    monkeypatch.setattr(service, "get_user", refused)
    body = assert_json_error(client.get("/api/v1/users/1", headers=admin), 422, "validation_error")
    assert "too long or out of range" in body["message"]
    monkeypatch.setattr(service, "list_users", refused)
    login_as("admin")
    page = client.get("/admin/users", headers={"HX-Request": "true"})
    assert page.status_code == 422 and "too long or out of range" in page.get_data(as_text=True)


def test_a_unique_constraint_lost_to_a_race_is_409(app, client, admin, monkeypatch):
    from sqlalchemy import text

    from webapp.auth import service
    from webapp.extensions import db

    insert = text("INSERT INTO build_platforms (slug, name, cloud, created_at, updated_at) "
                  "VALUES ('raced', 'r', 'r', now(), now())")

    def raced(*args, **kwargs):
        db.session.execute(insert)
        db.session.execute(insert)

    monkeypatch.setattr(service, "get_user", raced)
    assert_json_error(client.get("/api/v1/users/1", headers=admin), 409, "conflict")
