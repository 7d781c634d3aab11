"""Password clients: access and refresh tokens, rotation, reuse detection, logout, expiry."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from webapp.auth.models import RefreshToken
from webapp.core.audit import AuditEvent


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user(make_user):
    return make_user("maintainer", username="tess")


def test_password_gives_a_token_pair_that_works(client, user, api_token, db):
    pair = api_token("tess")
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 15 * 60
    me = client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json["username"] == "tess"
    db.session.expire_all()
    assert user.last_login_at is not None
    assert db.session.query(AuditEvent).filter_by(action="auth.token", actor="tess").count() == 1


def test_access_token_carries_the_role_not_more(client, user, api_token):
    pair = api_token("tess")
    response = client.get("/api/v1/users", headers=bearer(pair["access_token"]))
    assert response.status_code == 403  # a maintainer's token is not an admin's


@pytest.mark.parametrize("body", [{"username": "tess", "password": "wrong-password"},
                                  {"username": "nobody", "password": PASSWORD}])
def test_wrong_credentials_get_one_generic_answer(client, user, body):
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 401
    assert response.json == {"code": "invalid_credentials", "message": "Wrong username or password."}


def test_inactive_user_gets_no_token(client, make_user):
    make_user("viewer", username="gone", active=False)
    response = client.post("/api/v1/auth/token", json={"username": "gone", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json["message"] == "Wrong username or password."


def test_token_request_validation(client):
    response = client.post("/api/v1/auth/token", json={"username": "tess"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]


def test_refresh_rotates(client, user, api_token, db):
    first = api_token("tess")
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get("/api/v1/me", headers=bearer(second["access_token"])).status_code == 200
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    rows = db.session.query(RefreshToken).order_by(RefreshToken.id).all()
    assert len(rows) == 3 and len({r.family_id for r in rows}) == 1
    assert [r.used_at is not None for r in rows] == [True, True, False]


def test_reused_refresh_token_revokes_the_whole_login(client, user, api_token, db):
    first = api_token("tess")
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    other_login = api_token("tess")

    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json["code"] == "token_reused"

    # the thief's and the owner's newer tokens of that login stop working too
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 401
    assert client.get("/api/v1/me", headers=bearer(rotated["access_token"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(first["access_token"])).status_code == 401
    # another login of the same person is untouched
    assert client.get("/api/v1/me", headers=bearer(other_login["access_token"])).status_code == 200
    db.session.expire_all()
    assert db.session.query(AuditEvent).filter_by(action="auth.refresh_reuse").count() == 1


@pytest.mark.parametrize("where", ["body", "header"])
def test_logout_revokes_the_login(client, user, api_token, where):
    pair = api_token("tess")
    if where == "body":
        response = client.post("/api/v1/auth/logout", json={"token": pair["refresh_token"]})
    else:
        response = client.post("/api/v1/auth/logout", json={}, headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


def test_logout_needs_a_token(client):
    response = client.post("/api/v1/auth/logout", json={})
    assert response.status_code == 401
    response = client.post("/api/v1/auth/logout", json={"token": "nonsense"})
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_expired_access_token_is_refused(client, user, clock):
    from webapp.auth import tokens

    clock.advance(hours=-1)
    pair = tokens.issue_tokens(user)
    clock.advance(hours=1)
    response = client.get("/api/v1/me", headers=bearer(pair.access_token))
    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    # the refresh token (7 days) still renews the login
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair.refresh_token}).status_code == 200


def test_expired_refresh_token_is_refused(client, user, clock):
    from webapp.auth import tokens

    clock.advance(days=-8)
    pair = tokens.issue_tokens(user)
    clock.advance(days=8)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair.refresh_token})
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_token_kinds_are_not_interchangeable(client, user, api_token):
    pair = api_token("tess")
    assert client.get("/api/v1/me", headers=bearer(pair["refresh_token"])).status_code == 401
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert response.status_code == 401


def test_token_signed_with_another_key_is_refused(app, client, user, api_token):
    from tests.conftest import make_test_app
    from webapp.auth import tokens

    other = make_test_app(SECRET_KEY="another-secret-key-that-is-long-enough-9876543210")
    with other.app_context():
        forged = tokens.issue_tokens(user).access_token
    assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401


def test_deactivated_user_cannot_refresh(client, make_user, api_token, db):
    make_user("admin")
    person = make_user("admin", username="ada")
    pair = api_token("ada")
    person.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401
