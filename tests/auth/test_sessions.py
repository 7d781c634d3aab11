"""Ending a person's sign-ins: logout, a new password, deactivation and a new role end every session
cookie, remember cookie and token family they hold, including copies taken before."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, csrf_token

REMEMBER = "remember_token"


def sign_in(app: Any, username: str) -> Any:
    """A browser signed in with "remember me"."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD, "remember": "on",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get_cookie(REMEMBER) is not None
    return client


def copy_of(app: Any, client: Any, *names: str) -> Any:
    """Another browser holding copies of some of `client`'s cookies, as a thief would."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        thief.set_cookie(name, cookie.value)
    return thief


def signed_in(client: Any) -> bool:
    response = client.get("/account/api-keys")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def held(app: Any, client: Any, make_user: Any) -> dict[str, Any]:
    """Everything a signed-in person holds: a browser, copies of its cookies, and an API login."""
    make_user("admin", username="boss")
    user = make_user("maintainer", username="sam")
    browser = sign_in(app, "sam")
    session_name = app.config["SESSION_COOKIE_NAME"]
    tokens = client.post("/api/v1/auth/token", json={"username": "sam", "password": PASSWORD}).json
    held = {
        "user": user,
        "browser": browser,
        "session_copy": copy_of(app, browser, session_name),
        "remember_copy": copy_of(app, browser, REMEMBER),
        "tokens": tokens,
    }
    assert signed_in(held["session_copy"]) and signed_in(held["remember_copy"])
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
    return held


def admin_changes(client: Any, make_key: Any, user_id: int, changes: dict[str, Any]) -> None:
    from webapp.auth import service

    headers = make_key(service.find_user("boss"), "admin")
    response = client.patch(f"/api/v1/users/{user_id}", json=changes, headers=headers)
    assert response.status_code == 200, response.json


def assert_everything_ended(client: Any, held: dict[str, Any]) -> None:
    assert not signed_in(held["session_copy"])
    assert not signed_in(held["remember_copy"])
    assert not signed_in(held["browser"])
    tokens = held["tokens"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


def test_logout_ends_every_session(client, held):
    browser = held["browser"]
    response = browser.post("/logout", data={"csrf_token": csrf_token(browser)})
    assert response.status_code == 302
    assert_everything_ended(client, held)


def test_api_logout_ends_every_session(client, held):
    response = client.post("/api/v1/auth/logout", json={"token": held["tokens"]["refresh_token"]})
    assert response.status_code == 204
    assert_everything_ended(client, held)


def test_password_change_ends_every_session(client, held, make_key):
    admin_changes(client, make_key, held["user"].id, {"password": "a-new-long-passphrase"})
    assert_everything_ended(client, held)


def test_deactivation_ends_every_session_for_good(client, held, make_key):
    admin_changes(client, make_key, held["user"].id, {"active": False})
    admin_changes(client, make_key, held["user"].id, {"active": True})
    assert_everything_ended(client, held)  # switched back on: the old cookies and tokens stay dead


def test_role_change_ends_every_session(client, held, make_key):
    admin_changes(client, make_key, held["user"].id, {"role": "viewer"})
    assert_everything_ended(client, held)


def test_page_role_change_ends_every_session(app, client, held):
    admin = sign_in(app, "boss")
    response = admin.post(f"/admin/users/{held['user'].id}", data={"role": "viewer"},
                          headers={"X-CSRFToken": csrf_token(admin)})
    assert response.status_code == 200
    assert_everything_ended(client, held)
    assert signed_in(admin)  # the admin's own sign-in is untouched


def test_other_changes_end_nothing(client, held, make_key):
    admin_changes(client, make_key, held["user"].id, {"display_name": "Sam S.", "role": "maintainer"})
    assert signed_in(held["session_copy"]) and signed_in(held["remember_copy"])
    tokens = held["tokens"]
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 200


def test_signing_in_again_works_and_gets_a_new_remember_cookie(app, held):
    old = held["browser"].get_cookie(REMEMBER).value
    held["browser"].post("/logout", data={"csrf_token": csrf_token(held["browser"])})
    again = sign_in(app, "sam")
    assert signed_in(again)
    assert again.get_cookie(REMEMBER).value != old


def test_ending_sessions_is_audited(client, held, make_key, db):
    from webapp.core.audit import AuditEvent

    admin_changes(client, make_key, held["user"].id, {"password": "a-new-long-passphrase"})
    event = db.session.query(AuditEvent).filter_by(action="user.sessions_ended").one()
    assert event.target_id == str(held["user"].id) and event.details == {"reason": "password changed"}


def test_remember_me_outlives_the_session(app, held):
    """A browser that kept only the remember cookie stays signed in, not for one request only."""
    browser = held["remember_copy"]
    assert signed_in(browser) and signed_in(browser) and signed_in(browser)


# --- CSRF tokens -----------------------------------------------------------------------------


def test_csrf_token_is_new_after_sign_in(client, make_user):
    make_user("admin", username="root")
    before = csrf_token(client)
    response = client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": before})
    assert response.status_code == 302
    after = csrf_token(client)
    assert after != before
    stale = client.post("/admin/users", data={"username": "x1", "password": "long-enough-pw", "csrf_token": before})
    assert stale.status_code == 400
    assert client.post("/admin/users", data={"username": "x1", "password": "a-long-passphrase-9",
                                             "csrf_token": after}).status_code == 201


def test_csrf_token_is_new_after_sign_out(client, make_user):
    make_user("admin", username="root")
    client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": csrf_token(client)})
    signed_in_token = csrf_token(client)
    client.post("/logout", data={"csrf_token": signed_in_token})
    assert csrf_token(client) != signed_in_token
    response = client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": signed_in_token})
    assert response.status_code == 400
