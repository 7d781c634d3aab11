"""Passwords follow NIST SP 800-63B: at least 10 characters, not a common or breached one, not the
username or the service's name, not a run of one character; the same rule wherever a password is set."""

from __future__ import annotations

import pytest

from webapp.auth import service
from webapp.auth.passwords import password_problems

COMMON = ["password12", "Password12", "1234567890", "qwertyuiop", "iloveyou12", "password123"]


@pytest.mark.parametrize("password", COMMON)
def test_common_passwords_are_refused(password):
    assert password_problems(password) == ["a commonly used or breached password: choose another"]


@pytest.mark.parametrize(("password", "username", "problem"), [
    ("short-pw", None, "at least 10 characters"),
    ("zzzzzzzzzzzz", None, "not one or two characters repeated"),
    ("abababababab", None, "not one or two characters repeated"),
    ("dorothea-rocks-99", "Dorothea", "not containing your username"),
    ("my-gantry-login-1", None, "not containing the name of this service"),
])
def test_guessable_passwords_are_refused(password, username, problem):
    assert problem in password_problems(password, username=username)


@pytest.mark.parametrize("password", ["correct-horse-battery", "Tr0ub4dor&3-long", "a-long-passphrase-9",
                                      "pässwört-über-alles", "x" * 5 + "y" * 5 + "z"])
def test_good_passwords_pass(password):
    assert password_problems(password, username="sam") == []


def test_the_api_refuses_a_common_password_on_create_and_change(client, make_user, make_key):
    headers = make_key(make_user("admin", username="root"), "admin")
    created = client.post("/api/v1/users", headers=headers, json={"username": "dora", "password": "password12"})
    assert created.status_code == 422
    assert created.json["errors"] == {"password": ["a commonly used or breached password: choose another"]}
    assert service.find_user("dora") is None
    user = make_user("viewer", username="ed")
    changed = client.patch(f"/api/v1/users/{user.id}", headers=headers, json={"password": "Password12"})
    assert changed.status_code == 422 and "password" in changed.json["errors"]
    assert service.authenticate("ed", "Password12") is None


def test_the_users_page_refuses_a_common_password(browser, make_user):
    make_user("admin", username="root")
    browser.login("root")
    response = browser.post("/admin/users", {"username": "dora", "password": "iloveyou12"}, htmx=True)
    assert response.status_code == 422
    assert "commonly used or breached password" in response.get_data(as_text=True)
    assert service.find_user("dora") is None


def test_create_admin_refuses_a_common_password(app, db):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "boss", "--password", "qwertyuiop"])
    assert result.exit_code != 0 and "commonly used or breached password" in result.output
    assert service.find_user("boss") is None


# --- answers that carry a secret ------------------------------------------------------------


def test_new_api_key_answers_are_never_stored(client, browser, make_user, make_key):
    user = make_user("viewer", username="sam")
    answer = client.post("/api/v1/api-keys", headers=make_key(user, "read"), json={"name": "ci", "scopes": ["read"]})
    assert answer.status_code == 201 and answer.json["key"].startswith("gty_")
    assert answer.headers["Cache-Control"] == "no-store"
    browser.login("sam")
    page = browser.post("/account/api-keys", {"name": "laptop", "scopes": "read"}, htmx=True)
    assert page.status_code == 201 and "gty_" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_static_files_keep_their_caching(client):
    with client.get("/static/js/app.js") as response:
        assert response.status_code == 200
        assert response.headers.get("Cache-Control") != "no-store"
